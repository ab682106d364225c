import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore, type Store } from '../store/index.js';
import { createAuthService, type AuthService } from './auth-service.js';
import { generateKey, hashKey, keyPrefix } from './keys.js';

let store: Store;
let auth: AuthService;
let clock = Date.now();

beforeAll(async () => {
  store = await openStore({ dataDir: 'memory://', lock: false });
  auth = createAuthService({ db: store.db, cacheMs: 60_000, now: () => clock });
  await auth.createTenant({ id: 'acme', name: 'Acme' });
  await auth.createTenant({ id: 'globex' });
});
afterAll(() => store.close());

const bearer = (key: string) => `Bearer ${key}`;

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return (error as { code?: string }).code ?? 'unknown';
  }
}

describe('API keys', () => {
  it('are random, prefixed, and stored only as a hash', async () => {
    const a = generateKey();
    const b = generateKey();
    expect(a.key).not.toBe(b.key);
    expect(a.key).toMatch(/^gwk_[a-z2-7]{8}_[A-Za-z0-9_-]{43}$/);
    expect(keyPrefix(a.key)).toBe(a.prefix);

    const { key, record } = await auth.createKey('acme', { role: 'runner', name: 'ci' });
    expect(record.prefix).toBe(keyPrefix(key));
    const rows = await store.db.query<Record<string, unknown>>('SELECT * FROM api_keys WHERE id = $1', [record.id]);
    // The whole 43-char secret: it is base64url, so it may itself contain "_" (splitting on "_"
    // could leave "" or a few characters that any row contains).
    expect(JSON.stringify(rows)).not.toContain(key.slice(record.prefix.length + 1));
    expect(rows[0].hash).toBe(hashKey(key));
  });

  it('authenticate to their tenant and role', async () => {
    const { key, record } = await auth.createKey('acme', { role: 'developer', requestsPerMinute: 30 });
    expect(await auth.authenticate(bearer(key))).toEqual({ tenantId: 'acme', keyId: record.id, role: 'developer', requestsPerMinute: 30 });
    expect((await auth.authenticate(`bearer   ${key}`)).tenantId).toBe('acme');
  });

  it('reject a missing header as AUTH_REQUIRED and every bad key alike as AUTH_INVALID_KEY', async () => {
    const { key } = await auth.createKey('acme', { role: 'viewer' });
    expect(await codeOf(auth.authenticate(undefined))).toBe('AUTH_REQUIRED');
    expect(await codeOf(auth.authenticate(''))).toBe('AUTH_REQUIRED');
    // Same prefix (the row is found), wrong secret: the last character changed, whatever it was.
    const corrupted = `${key.slice(0, -1)}${key.endsWith('A') ? 'B' : 'A'}`;
    const neverIssued = `gwk_aaaaaaaa_${'A'.repeat(43)}`;
    for (const header of ['Bearer', `Basic ${key}`, 'Bearer nope', `Bearer ${key}x`, `Bearer ${corrupted}`, `Bearer ${neverIssued}`, `Token ${key}`]) {
      expect(await codeOf(auth.authenticate(header)), header).toBe('AUTH_INVALID_KEY');
    }
  });

  it('stop working when revoked (at once in this process) or expired', async () => {
    const { key, record } = await auth.createKey('acme', { role: 'runner' });
    await auth.authenticate(bearer(key)); // cached now
    await auth.revokeKey('acme', record.id);
    expect(await codeOf(auth.authenticate(bearer(key)))).toBe('AUTH_INVALID_KEY');

    const expiring = await auth.createKey('acme', { role: 'runner', expiresAt: new Date(clock + 60_000) });
    expect((await auth.authenticate(bearer(expiring.key))).role).toBe('runner');
    clock += 61_000; // past expiry, still inside the cache window
    expect(await codeOf(auth.authenticate(bearer(expiring.key)))).toBe('AUTH_INVALID_KEY');
  });

  it('are scoped to their tenant: another tenant cannot list or revoke them', async () => {
    const { record } = await auth.createKey('acme', { role: 'viewer' });
    expect((await auth.listKeys('globex')).map((k) => k.id)).not.toContain(record.id);
    expect(await codeOf(auth.revokeKey('globex', record.id))).toBe('KEY_NOT_FOUND');
    expect((await auth.listKeys('acme')).find((k) => k.id === record.id)?.revokedAt).toBeUndefined();
  });

  it('validate tenants, roles and expiry', async () => {
    expect(await codeOf(auth.createTenant({ id: 'acme' }))).toBe('TENANT_EXISTS');
    expect(await codeOf(auth.createTenant({ id: 'Bad Id' }))).toBe('REQUEST_INVALID_BODY');
    expect(await codeOf(auth.createKey('nobody', { role: 'admin' }))).toBe('TENANT_NOT_FOUND');
    expect(await codeOf(auth.createKey('acme', { role: 'root' as never }))).toBe('REQUEST_INVALID_BODY');
    expect(await codeOf(auth.createKey('acme', { role: 'admin', expiresAt: new Date(clock - 1) }))).toBe('REQUEST_INVALID_BODY');
  });
});

describe('the embedded local admin key', () => {
  it('is created once, kept in the data folder with mode 0600, and reused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-admin-'));
    const first = await auth.ensureLocalAdmin(dir);
    expect(first.created).toBe(true);
    expect(first.keyFile).toBe(join(dir, 'admin-key'));
    expect(readFileSync(first.keyFile!, 'utf8').trim()).toBe(first.key);
    expect(statSync(first.keyFile!).mode & 0o777).toBe(0o600);
    expect(await auth.authenticate(bearer(first.key))).toMatchObject({ tenantId: 'default', role: 'admin' });

    const again = await auth.ensureLocalAdmin(dir);
    expect(again).toEqual({ key: first.key, keyFile: first.keyFile, created: false });

    // A revoked key in the file is replaced by a new one.
    const principal = await auth.authenticate(bearer(first.key));
    await auth.revokeKey('default', principal.keyId);
    const replaced = await auth.ensureLocalAdmin(dir);
    expect(replaced.created).toBe(true);
    expect(replaced.key).not.toBe(first.key);
  });

  it('is kept while the default tenant is disabled (a restart does not pile up keys) and works again once enabled', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-admin-'));
    const first = await auth.ensureLocalAdmin(dir);
    await auth.disableTenant('default');
    try {
      expect(await codeOf(auth.authenticate(bearer(first.key)))).toBe('AUTH_INVALID_KEY');
      expect(await auth.ensureLocalAdmin(dir)).toEqual({ key: first.key, keyFile: first.keyFile, created: false });
    } finally {
      await auth.enableTenant('default');
    }
    expect((await auth.authenticate(bearer(first.key))).role).toBe('admin');
  });
});
