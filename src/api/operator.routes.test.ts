import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { hashKey } from '../auth/keys.js';
import { loadConfig } from '../config/config.js';
import { buildServer } from './server.js';

/**
 * The /operator routes in-process: what the CLI's `tenants`, `keys` and `quotas` use while a
 * server owns the embedded data folder. (The store behaviour behind them runs on both stores
 * in auth/tenant-lifecycle.contract.ts; serve writing the key file is in cli/commands/keys.test.ts.)
 */

const OPERATOR_KEY = 'gwo_test-operator-key-0123456789abcdefghijklmnopq';
let app: App;
let server: FastifyInstance;
let withoutOperator: FastifyInstance;

beforeAll(async () => {
  const config = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-operator-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
  app = await createApp({ ...config, bodyLimitBytes: 16 * 1024 }, { lock: false, logger: { error: () => undefined } });
  await app.auth.ensureLocalAdmin(undefined);
  server = await buildServer(app, { logger: false, operatorKeyHash: hashKey(OPERATOR_KEY) });
  withoutOperator = await buildServer(app, { logger: false });
});
afterAll(async () => {
  await server?.close();
  await withoutOperator?.close();
  await app?.close();
});

const operator = { authorization: `Bearer ${OPERATOR_KEY}` };
const as = (key: string) => ({ authorization: `Bearer ${key}` });
const call = (method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, payload?: object) =>
  server.inject({ method, url, headers: operator, ...(payload ? { payload } : {}) });

describe('/operator routes', () => {
  it('do not exist where no operator key was written (server mode, memory://)', async () => {
    const response = await withoutOperator.inject({ method: 'GET', url: '/operator/tenants', headers: operator });
    expect(response.statusCode).toBe(404);
    expect(response.json().error.code).toBe('REQUEST_NOT_FOUND');
  });

  it('need the operator key, checked before the body is read; API keys are not operator keys', async () => {
    expect((await server.inject({ method: 'GET', url: '/operator/tenants' })).json().error.code).toBe('AUTH_REQUIRED');
    const wrong = await server.inject({ method: 'GET', url: '/operator/tenants', headers: as(`${OPERATOR_KEY}x`) });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json().error.code).toBe('AUTH_INVALID_KEY');
    const { key: adminKey } = await app.auth.ensureLocalAdmin(undefined);
    expect((await server.inject({ method: 'GET', url: '/operator/tenants', headers: as(adminKey) })).json().error.code).toBe('AUTH_INVALID_KEY');
    // The operator key is no API key either.
    expect((await server.inject({ method: 'GET', url: '/v1/tasks', headers: operator })).json().error.code).toBe('AUTH_INVALID_KEY');

    // A body over the size limit from a caller without the key: 401, not 413 (it was never read).
    const big = await server.inject({
      method: 'POST',
      url: '/operator/tenants',
      headers: { ...as('nope'), 'content-type': 'application/json' },
      payload: JSON.stringify({ id: 'x', name: 'n'.repeat(32 * 1024) }),
    });
    expect(big.statusCode).toBe(401);

    // Unknown paths need the key too, so the routes cannot be mapped anonymously.
    expect((await server.inject({ method: 'GET', url: '/operator/nope' })).statusCode).toBe(401);
    expect((await call('GET', '/operator/nope')).json().error.code).toBe('REQUEST_NOT_FOUND');
  });

  it('create, show (with the webhook secret), list, disable, enable and delete tenants', async () => {
    const created = await call('POST', '/operator/tenants', { id: 'acme', name: 'Acme' });
    expect(created.statusCode).toBe(201);
    const { admin_key: adminKey, webhook_secret: secret, tenant } = created.json();
    expect(tenant).toMatchObject({ id: 'acme', name: 'Acme', state: 'active' });
    expect(created.headers['cache-control']).toBe('no-store');
    expect((await server.inject({ method: 'GET', url: '/v1/keys', headers: as(adminKey) })).statusCode).toBe(200);

    expect((await call('GET', '/operator/tenants/acme')).json()).toMatchObject({ tenant: { id: 'acme' }, webhook_secret: secret });
    // The embedded default tenant's secret is shown the same way.
    expect((await call('GET', '/operator/tenants/default')).json().webhook_secret).toMatch(/^whsec_/);
    expect((await call('GET', '/operator/tenants/nobody')).json().error.code).toBe('TENANT_NOT_FOUND');

    expect((await call('POST', '/operator/tenants/acme/disable')).json().tenant.state).toBe('disabled');
    expect((await server.inject({ method: 'GET', url: '/v1/keys', headers: as(adminKey) })).json().error.code).toBe('AUTH_INVALID_KEY');
    expect((await call('GET', '/operator/tenants')).json().tenants).toContainEqual(expect.objectContaining({ id: 'acme', state: 'disabled' }));
    expect((await call('POST', '/operator/tenants/acme/enable')).json().tenant.state).toBe('active');
    expect((await server.inject({ method: 'GET', url: '/v1/keys', headers: as(adminKey) })).statusCode).toBe(200);

    const deleted = await call('DELETE', '/operator/tenants/acme');
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toMatchObject({ tenant: { id: 'acme', state: 'deleted' }, removed: { api_keys: 1 } });
    expect((await server.inject({ method: 'GET', url: '/v1/keys', headers: as(adminKey) })).json().error.code).toBe('AUTH_INVALID_KEY');
    const again = await call('POST', '/operator/tenants', { id: 'acme' });
    expect(again.statusCode).toBe(409);
    expect(again.json().error.code).toBe('TENANT_DELETED');
    expect((await call('DELETE', '/operator/tenants/default')).json().error.code).toBe('REQUEST_INVALID_BODY');
  });

  it("manage any tenant's keys and quotas", async () => {
    await call('POST', '/operator/tenants', { id: 'globex' });
    const created = await call('POST', '/operator/tenants/globex/keys', { role: 'runner', name: 'ci', requests_per_minute: 60 });
    expect(created.statusCode).toBe(201);
    const { key, api_key: record } = created.json();
    expect(await app.auth.authenticate(`Bearer ${key}`)).toMatchObject({ tenantId: 'globex', role: 'runner', requestsPerMinute: 60 });
    expect((await call('GET', '/operator/tenants/globex/keys')).json().keys.map((k: { id: string }) => k.id)).toContain(record.id);
    expect((await call('DELETE', `/operator/tenants/globex/keys/${record.id}`)).json().revoked_at).toEqual(expect.any(String));
    expect((await server.inject({ method: 'GET', url: '/v1/tasks', headers: as(key) })).statusCode).toBe(401);
    expect((await call('POST', '/operator/tenants/nobody/keys', { role: 'admin' })).json().error.code).toBe('TENANT_NOT_FOUND');

    const set = await call('PUT', '/operator/tenants/globex/quotas/tokens/day', { limit: 1000, enforcement: 'soft' });
    expect(set.statusCode).toBe(200);
    expect(set.json().quotas).toEqual([expect.objectContaining({ metric: 'tokens', period: 'day', limit: 1000, enforcement: 'soft', used: 0 })]);
    expect((await call('GET', '/operator/tenants/globex/quotas')).json().quotas).toHaveLength(1);
    expect((await call('DELETE', '/operator/tenants/globex/quotas/tokens/day')).json()).toEqual({ removed: true, quotas: [] });
    expect((await call('PUT', '/operator/tenants/globex/quotas/tokens/week', { limit: 1 })).statusCode).toBe(400);
  });

  it('are left out of the OpenAPI document (it describes the tenant-facing API)', async () => {
    const paths = Object.keys((await server.inject({ method: 'GET', url: '/openapi.json' })).json().paths);
    expect(paths.some((p) => p.startsWith('/v1/'))).toBe(true);
    expect(paths.filter((p) => p.startsWith('/operator'))).toEqual([]);
  });
});
