import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GroundworkError } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import { DEFAULT_TENANT, type Database } from '../store/ports.js';
import { bearerToken, generateKey, hashKey, keyPrefix, sameHash } from './keys.js';
import { ROLES, type Principal, type Role } from './principal.js';

/**
 * Tenants and API keys: creation, listing, revocation and the per-request lookup.
 * Every failure to authenticate — malformed, unknown, revoked or expired key — is the same
 * AUTH_INVALID_KEY, after the same work (a hash and a constant-time compare), so a caller
 * learns nothing about which part was wrong.
 */

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** The embedded default's admin key is written here (inside the data folder, mode 0600). */
export const ADMIN_KEY_FILE = 'admin-key';

export interface TenantRecord {
  id: string;
  name: string;
  createdAt: Date;
}

export interface ApiKeyRecord {
  id: string;
  tenantId: string;
  prefix: string;
  name: string;
  role: Role;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
  createdAt: Date;
  expiresAt?: Date;
  revokedAt?: Date;
}

export interface CreateKeyParams {
  role: Role;
  name?: string;
  expiresAt?: Date;
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}

export interface AuthService {
  /** The principal of an `Authorization` header value; throws AUTH_REQUIRED / AUTH_INVALID_KEY. */
  authenticate(authorizationHeader: string | undefined): Promise<Principal>;
  createTenant(params: { id: string; name?: string }): Promise<{ tenant: TenantRecord; webhookSecret: string }>;
  listTenants(): Promise<TenantRecord[]>;
  /** Creates a key; the plaintext is returned once and never stored. */
  createKey(tenantId: string, params: CreateKeyParams): Promise<{ key: string; record: ApiKeyRecord }>;
  listKeys(tenantId: string): Promise<ApiKeyRecord[]>;
  /** Revokes a key of this tenant (KEY_NOT_FOUND for another tenant's or an unknown id). */
  revokeKey(tenantId: string, keyId: string): Promise<ApiKeyRecord>;
  webhookSecret(tenantId: string): Promise<string>;
  /**
   * Embedded first start: makes sure the default tenant has an admin key and that the key
   * is in `<dataDir>/admin-key`; reuses a key already there while it still works.
   */
  ensureLocalAdmin(dataDir: string | undefined, tenantId?: string): Promise<{ key: string; keyFile: string | undefined; created: boolean }>;
}

export interface AuthServiceOptions {
  db: Database;
  /** How long a looked-up key is trusted before the database is asked again (ms). */
  cacheMs: number;
  now?: () => number;
}

interface KeyRow {
  tenant_id: string;
  id: string;
  prefix: string;
  hash: string;
  name: string;
  role: Role;
  requests_per_minute: number | null;
  tokens_per_minute: number | null;
  created_at: Date;
  expires_at: Date | null;
  revoked_at: Date | null;
}

const KEY_COLUMNS = 'tenant_id, id, prefix, hash, name, role, requests_per_minute, tokens_per_minute, created_at, expires_at, revoked_at';
// Compared against when the prefix matches no row, so unknown keys cost the same as wrong ones.
const DUMMY_HASH = hashKey('gwk_aaaaaaaa_not-a-key');
const MAX_CACHE = 10_000;

export function createAuthService(options: AuthServiceOptions): AuthService {
  const { db } = options;
  const now = options.now ?? Date.now;
  // Keyed by the key's hash; holds the principal and its expiry, so a revocation in this
  // process is immediate and elsewhere takes at most cacheMs.
  const cache = new Map<string, { principal: Principal; until: number; expiresAt: number }>();

  const invalid = () => new GroundworkError('AUTH_INVALID_KEY', 'the API key is not valid');

  async function lookup(key: string, hash: string): Promise<{ principal: Principal; expiresAt: number } | undefined> {
    const prefix = keyPrefix(key);
    const rows = prefix ? await db.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE prefix = $1`, [prefix]) : [];
    const row = rows[0];
    const matches = sameHash(row?.hash ?? DUMMY_HASH, hash) && row !== undefined;
    if (!matches || row.revoked_at !== null) return undefined;
    const expiresAt = row.expires_at ? row.expires_at.getTime() : Number.POSITIVE_INFINITY;
    if (expiresAt <= now()) return undefined;
    const { tenantId, id: keyId, role, requestsPerMinute, tokensPerMinute } = toRecord(row);
    const principal: Principal = { tenantId, keyId, role };
    if (requestsPerMinute !== undefined) principal.requestsPerMinute = requestsPerMinute;
    if (tokensPerMinute !== undefined) principal.tokensPerMinute = tokensPerMinute;
    return { principal, expiresAt };
  }

  async function tenantExists(tenantId: string): Promise<boolean> {
    return (await db.query('SELECT 1 FROM tenants WHERE id = $1', [tenantId])).length > 0;
  }

  const service: AuthService = {
    async authenticate(header) {
      const key = bearerToken(header);
      if (key === undefined) throw new GroundworkError('AUTH_REQUIRED', 'this endpoint needs an API key: send Authorization: Bearer <key>');
      const hash = hashKey(key);
      const cached = cache.get(hash);
      const at = now();
      if (cached && cached.until > at) {
        if (cached.expiresAt <= at) throw invalid();
        return cached.principal;
      }
      const found = await lookup(key, hash);
      if (!found) {
        cache.delete(hash);
        throw invalid();
      }
      if (options.cacheMs > 0) {
        if (cache.size >= MAX_CACHE) cache.delete(cache.keys().next().value as string);
        cache.set(hash, { principal: found.principal, until: at + options.cacheMs, expiresAt: found.expiresAt });
      }
      return found.principal;
    },

    async createTenant({ id, name = '' }) {
      if (!TENANT_ID_PATTERN.test(id)) {
        throw new GroundworkError('REQUEST_INVALID_BODY', `tenant ids are lowercase letters, digits and dashes (1–63, starting with a letter or digit): "${id}"`, {
          details: { issues: [{ path: 'id', message: 'invalid tenant id' }] },
        });
      }
      const webhookSecret = `whsec_${randomBytes(32).toString('base64url')}`;
      const rows = await db.query<{ id: string; name: string; created_at: Date }>(
        `INSERT INTO tenants (id, name, webhook_secret) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING id, name, created_at`,
        [id, name, webhookSecret],
      );
      if (rows.length === 0) throw new GroundworkError('TENANT_EXISTS', `tenant "${id}" already exists`, { details: { tenant: id } });
      return { tenant: { id: rows[0].id, name: rows[0].name, createdAt: rows[0].created_at }, webhookSecret };
    },

    async listTenants() {
      const rows = await db.query<{ id: string; name: string; created_at: Date }>('SELECT id, name, created_at FROM tenants ORDER BY id');
      return rows.map((row) => ({ id: row.id, name: row.name, createdAt: row.created_at }));
    },

    async createKey(tenantId, params) {
      if (!(ROLES as readonly string[]).includes(params.role)) {
        throw new GroundworkError('REQUEST_INVALID_BODY', `role must be one of ${ROLES.join(', ')}`, { details: { issues: [{ path: 'role', message: 'unknown role' }] } });
      }
      if (params.expiresAt !== undefined && (Number.isNaN(params.expiresAt.getTime()) || params.expiresAt.getTime() <= now())) {
        throw new GroundworkError('REQUEST_INVALID_BODY', 'expires_at must be a time in the future', { details: { issues: [{ path: 'expires_at', message: 'not in the future' }] } });
      }
      if (!(await tenantExists(tenantId))) throw new GroundworkError('TENANT_NOT_FOUND', `no tenant "${tenantId}"`, { details: { tenant: tenantId } });
      const generated = generateKey();
      const rows = await db.query<KeyRow>(
        `INSERT INTO api_keys (tenant_id, id, prefix, hash, name, role, requests_per_minute, tokens_per_minute, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${KEY_COLUMNS}`,
        [
          tenantId,
          newId('key'),
          generated.prefix,
          generated.hash,
          params.name ?? '',
          params.role,
          params.requestsPerMinute ?? null,
          params.tokensPerMinute ?? null,
          params.expiresAt ?? null,
        ],
      );
      return { key: generated.key, record: toRecord(rows[0]) };
    },

    async listKeys(tenantId) {
      const rows = await db.query<KeyRow>(`SELECT ${KEY_COLUMNS} FROM api_keys WHERE tenant_id = $1 ORDER BY created_at, id`, [tenantId]);
      return rows.map(toRecord);
    },

    async revokeKey(tenantId, keyId) {
      const rows = await db.query<KeyRow>(
        `UPDATE api_keys SET revoked_at = coalesce(revoked_at, clock_timestamp()) WHERE tenant_id = $1 AND id = $2 RETURNING ${KEY_COLUMNS}`,
        [tenantId, keyId],
      );
      if (rows.length === 0) throw new GroundworkError('KEY_NOT_FOUND', `no API key with id "${keyId}"`, { details: { key_id: keyId } });
      for (const [hash, entry] of cache) if (entry.principal.keyId === keyId) cache.delete(hash);
      return toRecord(rows[0]);
    },

    async webhookSecret(tenantId) {
      const rows = await db.query<{ webhook_secret: string }>('SELECT webhook_secret FROM tenants WHERE id = $1', [tenantId]);
      if (rows.length === 0) throw new GroundworkError('TENANT_NOT_FOUND', `no tenant "${tenantId}"`, { details: { tenant: tenantId } });
      return rows[0].webhook_secret;
    },

    async ensureLocalAdmin(dataDir, tenantId = DEFAULT_TENANT) {
      await service.createTenant({ id: tenantId, name: 'local' }).catch(ignoreExists);
      const keyFile = dataDir ? join(dataDir, ADMIN_KEY_FILE) : undefined;
      if (keyFile && existsSync(keyFile)) {
        const existing = readFileSync(keyFile, 'utf8').trim();
        const principal = await service.authenticate(`Bearer ${existing}`).catch(() => undefined);
        if (principal?.tenantId === tenantId && principal.role === 'admin') return { key: existing, keyFile, created: false };
      }
      const { key } = await service.createKey(tenantId, { role: 'admin', name: 'local admin' });
      if (keyFile && dataDir) {
        mkdirSync(dataDir, { recursive: true });
        writeFileSync(keyFile, `${key}\n`, { mode: 0o600 });
        chmodSync(keyFile, 0o600);
      }
      return { key, keyFile, created: true };
    },
  };
  return service;
}

function ignoreExists(error: unknown): void {
  if (!(error instanceof GroundworkError && error.code === 'TENANT_EXISTS')) throw error;
}

function toRecord(row: KeyRow): ApiKeyRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    prefix: row.prefix,
    name: row.name,
    role: row.role,
    ...(row.requests_per_minute === null ? {} : { requestsPerMinute: row.requests_per_minute }),
    ...(row.tokens_per_minute === null ? {} : { tokensPerMinute: row.tokens_per_minute }),
    createdAt: row.created_at,
    ...(row.expires_at === null ? {} : { expiresAt: row.expires_at }),
    ...(row.revoked_at === null ? {} : { revokedAt: row.revoked_at }),
  };
}
