import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GroundworkError } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import { DEFAULT_TENANT, type Database } from '../store/ports.js';
import { bearerToken, generateKey, hashKey, keyPrefix, sameHash } from './keys.js';
import { ROLES, type Principal, type Role } from './principal.js';
import { purgeTenantRows, type RemovedRows, type TenantPurge } from './tenant-purge.js';

export type { RemovedRows, TenantPurge } from './tenant-purge.js';

/**
 * Tenants and API keys: creation, listing, revocation, the tenant lifecycle (disable, enable,
 * delete) and the per-request lookup. Every failure to authenticate — malformed, unknown,
 * revoked or expired key, or a key of a disabled or deleted tenant — is the same
 * AUTH_INVALID_KEY, after the same work (a hash and a constant-time compare), so a caller
 * learns nothing about which part was wrong.
 */

export const TENANT_ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** The embedded default's admin key is written here (inside the data folder, mode 0600). */
export const ADMIN_KEY_FILE = 'admin-key';

/** active: its keys work; disabled: its data is kept but no key authenticates; deleted: its data is gone and its id burnt. */
export type TenantState = 'active' | 'disabled' | 'deleted';

export interface TenantRecord {
  id: string;
  name: string;
  state: TenantState;
  createdAt: Date;
  /** Set while the tenant is disabled. */
  disabledAt?: Date;
  /** Set once the tenant is deleted. */
  deletedAt?: Date;
}

/** An operator's view of a tenant: its webhook signing secret too, while the tenant exists. */
export interface TenantDetails {
  tenant: TenantRecord;
  webhookSecret?: string;
}

/** What deleting a tenant removed: rows by table, and the job queue's entries. */
export interface TenantDeletion {
  tenant: TenantRecord;
  removed: RemovedRows;
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
  /** TENANT_EXISTS for a live id, TENANT_DELETED for the id of a deleted tenant (never reused). */
  createTenant(params: { id: string; name?: string }): Promise<{ tenant: TenantRecord; webhookSecret: string }>;
  /** Live tenants (active and disabled), by id. */
  listTenants(): Promise<TenantRecord[]>;
  /** For operators only: the tenant with its state and webhook secret (a deleted one: its tombstone). */
  getTenant(tenantId: string): Promise<TenantDetails>;
  /**
   * Its keys stop authenticating: at once in this process, within `cacheMs` in others (like a
   * revocation). Its data, jobs and webhooks are left as they are. Idempotent.
   */
  disableTenant(tenantId: string): Promise<TenantRecord>;
  /** Its keys (those not revoked or expired) authenticate again. Idempotent. */
  enableTenant(tenantId: string): Promise<TenantRecord>;
  /**
   * Removes every row of the tenant from every tenant-scoped table in one transaction and
   * leaves a tombstone: the id never authenticates and can never be created again. On a
   * deleted tenant it sweeps again (rows that work in flight at the deletion wrote later).
   * The default tenant cannot be deleted (REQUEST_INVALID_BODY).
   */
  deleteTenant(tenantId: string): Promise<TenantDeletion>;
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
  /** Runs inside a tenant deletion's transaction, for state outside the tenant-scoped tables (the job queue). */
  purgeTenant?: TenantPurge;
}

interface TenantRow {
  id: string;
  name: string;
  created_at: Date;
  disabled_at: Date | null;
}

interface TombstoneRow {
  id: string;
  name: string;
  created_at: Date;
  deleted_at: Date;
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
const TENANT_COLUMNS = 'id, name, created_at, disabled_at';
const TOMBSTONE_COLUMNS = 'id, name, created_at, deleted_at';
// The lookup reads the key with its tenant's state: one indexed join, no second round trip.
const LOOKUP_SQL = `SELECT ${KEY_COLUMNS.split(', ')
  .map((c) => `k.${c}`)
  .join(', ')}, t.disabled_at AS tenant_disabled_at
  FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.prefix = $1`;
// Compared against when the prefix matches no row, so unknown keys cost the same as wrong ones.
const DUMMY_HASH = hashKey('gwk_aaaaaaaa_not-a-key');
const MAX_CACHE = 10_000;

export function createAuthService(options: AuthServiceOptions): AuthService {
  const { db } = options;
  const now = options.now ?? Date.now;
  // Keyed by the key's hash; holds the principal and its expiry, so a revocation in this
  // process is immediate and elsewhere takes at most cacheMs.
  const cache = new Map<string, { principal: Principal; until: number; expiresAt: number }>();
  // Bumped by every revocation, disable and delete: a lookup that overlapped one is answered
  // but not cached, so it cannot put back an entry the revocation just removed.
  let revocations = 0;

  const invalid = () => new GroundworkError('AUTH_INVALID_KEY', 'the API key is not valid');

  /** The key's principal whatever its tenant's state (`tenantDisabled` says it), or undefined for a bad key. */
  async function lookup(key: string, hash: string): Promise<{ principal: Principal; expiresAt: number; tenantDisabled: boolean } | undefined> {
    const prefix = keyPrefix(key);
    const rows = prefix ? await db.query<KeyRow & { tenant_disabled_at: Date | null }>(LOOKUP_SQL, [prefix]) : [];
    const row = rows[0];
    const matches = sameHash(row?.hash ?? DUMMY_HASH, hash) && row !== undefined;
    if (!matches || row.revoked_at !== null) return undefined;
    const expiresAt = row.expires_at ? row.expires_at.getTime() : Number.POSITIVE_INFINITY;
    if (expiresAt <= now()) return undefined;
    const { tenantId, id: keyId, role, requestsPerMinute, tokensPerMinute } = toRecord(row);
    const principal: Principal = { tenantId, keyId, role };
    if (requestsPerMinute !== undefined) principal.requestsPerMinute = requestsPerMinute;
    if (tokensPerMinute !== undefined) principal.tokensPerMinute = tokensPerMinute;
    return { principal, expiresAt, tenantDisabled: row.tenant_disabled_at !== null };
  }

  function forget(matches: (principal: Principal) => boolean): void {
    revocations++;
    for (const [hash, entry] of cache) if (matches(entry.principal)) cache.delete(hash);
  }

  async function tombstone(tenantId: string): Promise<TenantRecord | undefined> {
    const rows = await db.query<TombstoneRow>(`SELECT ${TOMBSTONE_COLUMNS} FROM deleted_tenants WHERE id = $1`, [tenantId]);
    return rows[0] && toTombstone(rows[0]);
  }

  /** TENANT_DELETED for a deleted tenant's id, else TENANT_NOT_FOUND. */
  async function missing(tenantId: string): Promise<GroundworkError> {
    return (await tombstone(tenantId))
      ? deletedError(tenantId)
      : new GroundworkError('TENANT_NOT_FOUND', `no tenant "${tenantId}"`, { details: { tenant: tenantId } });
  }

  async function setDisabled(tenantId: string, disabled: boolean): Promise<TenantRecord> {
    const rows = await db.query<TenantRow>(
      `UPDATE tenants SET disabled_at = ${disabled ? 'coalesce(disabled_at, clock_timestamp())' : 'NULL'} WHERE id = $1 RETURNING ${TENANT_COLUMNS}`,
      [tenantId],
    );
    if (rows.length === 0) throw await missing(tenantId);
    if (disabled) forget((principal) => principal.tenantId === tenantId);
    return toTenant(rows[0]);
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
      const seen = revocations;
      const found = await lookup(key, hash);
      if (!found || found.tenantDisabled) {
        cache.delete(hash);
        throw invalid();
      }
      if (options.cacheMs > 0 && seen === revocations) {
        if (cache.size >= MAX_CACHE) cache.delete(cache.keys().next().value as string);
        cache.set(hash, { principal: found.principal, until: at + options.cacheMs, expiresAt: found.expiresAt });
      }
      return found.principal;
    },

    async createTenant({ id, name = '' }) {
      if (!TENANT_ID_PATTERN.test(id)) {
        throw new GroundworkError(
          'REQUEST_INVALID_BODY',
          `tenant ids are lowercase letters, digits and dashes (1–63, starting with a letter or digit): "${id}"`,
          {
            details: { issues: [{ path: 'id', message: 'invalid tenant id' }] },
          },
        );
      }
      const webhookSecret = `whsec_${randomBytes(32).toString('base64url')}`;
      const row = await db.transaction(async (tx) => {
        const rows = await tx.query<TenantRow>(
          `INSERT INTO tenants (id, name, webhook_secret) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING RETURNING ${TENANT_COLUMNS}`,
          [id, name, webhookSecret],
        );
        // Read after the insert, in a statement of its own: a deletion of this id that committed
        // while the insert waited on its row is seen here, and the insert rolled back.
        if ((await tx.query('SELECT 1 FROM deleted_tenants WHERE id = $1', [id])).length > 0) throw deletedError(id);
        if (rows.length === 0) throw new GroundworkError('TENANT_EXISTS', `tenant "${id}" already exists`, { details: { tenant: id } });
        return rows[0];
      });
      return { tenant: toTenant(row), webhookSecret };
    },

    async listTenants() {
      const rows = await db.query<TenantRow>(`SELECT ${TENANT_COLUMNS} FROM tenants ORDER BY id`);
      return rows.map(toTenant);
    },

    async getTenant(tenantId) {
      const rows = await db.query<TenantRow & { webhook_secret: string }>(`SELECT ${TENANT_COLUMNS}, webhook_secret FROM tenants WHERE id = $1`, [tenantId]);
      if (rows[0]) return { tenant: toTenant(rows[0]), webhookSecret: rows[0].webhook_secret };
      const deleted = await tombstone(tenantId);
      if (!deleted) throw new GroundworkError('TENANT_NOT_FOUND', `no tenant "${tenantId}"`, { details: { tenant: tenantId } });
      return { tenant: deleted };
    },

    disableTenant: (tenantId) => setDisabled(tenantId, true),
    enableTenant: (tenantId) => setDisabled(tenantId, false),

    async deleteTenant(tenantId) {
      if (tenantId === DEFAULT_TENANT) {
        throw new GroundworkError(
          'REQUEST_INVALID_BODY',
          `the "${DEFAULT_TENANT}" tenant cannot be deleted: the server writes to it at every start (task files, the embedded admin key), so its id cannot be retired; disable it instead`,
          { details: { issues: [{ path: 'id', message: 'the default tenant cannot be deleted' }] } },
        );
      }
      const deletion = await db.transaction(async (tx): Promise<TenantDeletion> => {
        // Locks the row: keys or quotas being added meanwhile wait for this and then fail.
        const live = await tx.query<TenantRow>(`SELECT ${TENANT_COLUMNS} FROM tenants WHERE id = $1 FOR UPDATE`, [tenantId]);
        let stone = live.length === 0 ? await tx.query<TombstoneRow>(`SELECT ${TOMBSTONE_COLUMNS} FROM deleted_tenants WHERE id = $1`, [tenantId]) : [];
        if (live.length === 0 && stone.length === 0)
          throw new GroundworkError('TENANT_NOT_FOUND', `no tenant "${tenantId}"`, { details: { tenant: tenantId } });
        const removed = await purgeTenantRows(tx, tenantId);
        if (options.purgeTenant) Object.assign(removed, await options.purgeTenant(tx, tenantId));
        if (live.length > 0) {
          await tx.query('DELETE FROM tenants WHERE id = $1', [tenantId]);
          stone = await tx.query<TombstoneRow>(`INSERT INTO deleted_tenants (id, name, created_at) VALUES ($1, $2, $3) RETURNING ${TOMBSTONE_COLUMNS}`, [
            tenantId,
            live[0].name,
            live[0].created_at,
          ]);
        }
        return { tenant: toTombstone(stone[0]), removed };
      });
      forget((principal) => principal.tenantId === tenantId);
      return deletion;
    },

    async createKey(tenantId, params) {
      if (!(ROLES as readonly string[]).includes(params.role)) {
        throw new GroundworkError('REQUEST_INVALID_BODY', `role must be one of ${ROLES.join(', ')}`, {
          details: { issues: [{ path: 'role', message: 'unknown role' }] },
        });
      }
      if (params.expiresAt !== undefined && (Number.isNaN(params.expiresAt.getTime()) || params.expiresAt.getTime() <= now())) {
        throw new GroundworkError('REQUEST_INVALID_BODY', 'expires_at must be a time in the future', {
          details: { issues: [{ path: 'expires_at', message: 'not in the future' }] },
        });
      }
      if ((await db.query('SELECT 1 FROM tenants WHERE id = $1', [tenantId])).length === 0) throw await missing(tenantId);
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
      forget((principal) => principal.keyId === keyId);
      return toRecord(rows[0]);
    },

    async webhookSecret(tenantId) {
      const rows = await db.query<{ webhook_secret: string }>('SELECT webhook_secret FROM tenants WHERE id = $1', [tenantId]);
      if (rows.length === 0) throw await missing(tenantId);
      return rows[0].webhook_secret;
    },

    async ensureLocalAdmin(dataDir, tenantId = DEFAULT_TENANT) {
      await service.createTenant({ id: tenantId, name: 'local' }).catch(ignoreExists);
      const keyFile = dataDir ? join(dataDir, ADMIN_KEY_FILE) : undefined;
      if (keyFile && existsSync(keyFile)) {
        const existing = readFileSync(keyFile, 'utf8').trim();
        // Kept while the tenant is disabled too: it works again once enabled, and a restart
        // of a disabled installation does not pile up admin keys.
        const principal = (await lookup(existing, hashKey(existing)))?.principal;
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

function deletedError(tenantId: string): GroundworkError {
  return new GroundworkError('TENANT_DELETED', `tenant "${tenantId}" was deleted; a deleted tenant's id is never used again`, {
    details: { tenant: tenantId },
  });
}

function toTombstone(row: TombstoneRow): TenantRecord {
  return { id: row.id, name: row.name, state: 'deleted', createdAt: row.created_at, deletedAt: row.deleted_at };
}

function toTenant(row: TenantRow): TenantRecord {
  return {
    id: row.id,
    name: row.name,
    state: row.disabled_at === null ? 'active' : 'disabled',
    createdAt: row.created_at,
    ...(row.disabled_at === null ? {} : { disabledAt: row.disabled_at }),
  };
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
