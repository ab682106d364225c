import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp, type App } from '../app/app.js';
import { OPERATOR_KEY_FILE } from '../app/operator-key.js';
import type { ApiKeyRecord, CreateKeyParams, TenantRecord } from '../auth/auth-service.js';
import type { Role } from '../auth/principal.js';
import { GroundworkApiError } from '../client/client.js';
import type { Config } from '../config/config.js';
import { GroundworkError } from '../kernel/errors.js';
import { presentQuota, type QuotaJson, type QuotaMetric, type QuotaPeriod, type QuotaSetting } from '../limits/index.js';
import { readDataDirLock } from '../store/index.js';

/**
 * What the operator commands (`tenants`, `keys`, `quotas`) do, in one place with two ways to
 * do it: on the database directly (the data folder is free, or DATABASE_URL), or through the
 * running server's /operator routes when a `serve` process owns the embedded folder (two
 * processes must never open it), with the operator key that server wrote into the folder.
 */

/** One operator's operations, the same whichever way they are carried out. */
export interface OperatorOps {
  createTenant(id: string, name?: string): Promise<{ tenant: TenantRecord; webhookSecret: string; key: string; keyId: string }>;
  listTenants(): Promise<TenantRecord[]>;
  getTenant(id: string): Promise<{ tenant: TenantRecord; webhookSecret?: string }>;
  disableTenant(id: string): Promise<TenantRecord>;
  enableTenant(id: string): Promise<TenantRecord>;
  deleteTenant(id: string): Promise<{ tenant: TenantRecord; removed: Record<string, number> }>;
  createKey(tenantId: string, params: CreateKeyParams): Promise<{ key: string; record: ApiKeyRecord }>;
  listKeys(tenantId: string): Promise<ApiKeyRecord[]>;
  revokeKey(tenantId: string, keyId: string): Promise<ApiKeyRecord>;
  setQuota(tenantId: string, quota: QuotaSetting): Promise<void>;
  removeQuota(tenantId: string, metric: QuotaMetric, period: QuotaPeriod): Promise<void>;
  getQuotas(tenantId: string): Promise<QuotaJson[]>;
}

/** Runs `fn` through the server that owns the embedded folder, else on the database (locking the folder meanwhile). */
export async function withOperator<T>(config: Config, fn: (ops: OperatorOps) => Promise<T>): Promise<T> {
  const server = owningServer(config);
  if (server) return fn(remoteOps(server));
  const app = await createApp(config, { lock: { role: 'cli' }, logger: { error: (details, message) => console.error(message, details) } });
  try {
    return await fn(directOps(app));
  } finally {
    await app.close();
  }
}

interface OperatorServer {
  url: string;
  key: string;
}

/** The `serve` process that owns the embedded folder and its operator key; undefined when none does. */
function owningServer(config: Config): OperatorServer | undefined {
  if (config.databaseUrl) return undefined;
  const owner = readDataDirLock(config.dataDir);
  // Another kind of owner (a worker, another CLI command): opening the store reports STORE_LOCKED.
  if (owner?.role !== 'serve' || !owner.url) return undefined;
  const file = join(config.dataDir, OPERATOR_KEY_FILE);
  try {
    return { url: owner.url.replace(/\/+$/, ''), key: readFileSync(file, 'utf8').trim() };
  } catch (error) {
    throw new GroundworkError(
      'STORE_LOCKED',
      `the data folder ${config.dataDir} is owned by the server pid ${owner.pid} at ${owner.url}, and its operator key ${file} cannot be read ` +
        `(${(error as NodeJS.ErrnoException).code ?? 'unreadable'}): run this as the user that owns the data folder, or stop the server first`,
      { details: { owner: { ...owner } } },
    );
  }
}

function directOps(app: App): OperatorOps {
  const { auth } = app;
  const quotas = app.limits.quotas;
  return {
    async createTenant(id, name) {
      const { tenant, webhookSecret } = await auth.createTenant({ id, name });
      const { key, record } = await auth.createKey(tenant.id, { role: 'admin', name: 'first admin' });
      return { tenant, webhookSecret, key, keyId: record.id };
    },
    listTenants: () => auth.listTenants(),
    getTenant: (id) => auth.getTenant(id),
    disableTenant: (id) => auth.disableTenant(id),
    enableTenant: (id) => auth.enableTenant(id),
    deleteTenant: (id) => auth.deleteTenant(id),
    createKey: (tenantId, params) => auth.createKey(tenantId, params),
    listKeys: (tenantId) => auth.listKeys(tenantId),
    revokeKey: (tenantId, keyId) => auth.revokeKey(tenantId, keyId),
    setQuota: (tenantId, quota) => quotas.setQuota(tenantId, quota),
    removeQuota: async (tenantId, metric, period) => void (await quotas.removeQuota(tenantId, metric, period)),
    getQuotas: async (tenantId) => (await quotas.getQuotas(tenantId)).map(presentQuota),
  };
}

interface TenantJson {
  id: string;
  name: string;
  state: TenantRecord['state'];
  created_at: string;
  disabled_at?: string;
  deleted_at?: string;
}

interface KeyJson {
  id: string;
  prefix: string;
  name: string;
  role: Role;
  requests_per_minute?: number;
  tokens_per_minute?: number;
  created_at: string;
  expires_at?: string;
  revoked_at?: string;
}

function remoteOps(server: OperatorServer): OperatorOps {
  const call = <T>(method: string, path: string, body?: unknown) => operatorRequest<T>(server, method, path, body);
  const tenantPath = (id: string) => `/tenants/${encodeURIComponent(id)}`;
  const quotaPath = (id: string, metric: QuotaMetric, period: QuotaPeriod) => `${tenantPath(id)}/quotas/${metric}/${period}`;
  return {
    async createTenant(id, name) {
      const created = await call<{ tenant: TenantJson; admin_key: string; admin_key_id: string; webhook_secret: string }>('POST', '/tenants', {
        id,
        ...(name === undefined ? {} : { name }),
      });
      return { tenant: toTenant(created.tenant), webhookSecret: created.webhook_secret, key: created.admin_key, keyId: created.admin_key_id };
    },
    listTenants: async () => (await call<{ tenants: TenantJson[] }>('GET', '/tenants')).tenants.map(toTenant),
    async getTenant(id) {
      const found = await call<{ tenant: TenantJson; webhook_secret?: string }>('GET', tenantPath(id));
      return { tenant: toTenant(found.tenant), ...(found.webhook_secret === undefined ? {} : { webhookSecret: found.webhook_secret }) };
    },
    disableTenant: async (id) => toTenant((await call<{ tenant: TenantJson }>('POST', `${tenantPath(id)}/disable`)).tenant),
    enableTenant: async (id) => toTenant((await call<{ tenant: TenantJson }>('POST', `${tenantPath(id)}/enable`)).tenant),
    async deleteTenant(id) {
      const deleted = await call<{ tenant: TenantJson; removed: Record<string, number> }>('DELETE', tenantPath(id));
      return { tenant: toTenant(deleted.tenant), removed: deleted.removed };
    },
    async createKey(tenantId, params) {
      const created = await call<{ key: string; api_key: KeyJson }>('POST', `${tenantPath(tenantId)}/keys`, {
        role: params.role,
        name: params.name,
        expires_at: params.expiresAt?.toISOString(),
        requests_per_minute: params.requestsPerMinute,
        tokens_per_minute: params.tokensPerMinute,
      });
      return { key: created.key, record: toKey(tenantId, created.api_key) };
    },
    listKeys: async (tenantId) => (await call<{ keys: KeyJson[] }>('GET', `${tenantPath(tenantId)}/keys`)).keys.map((key) => toKey(tenantId, key)),
    revokeKey: async (tenantId, keyId) => toKey(tenantId, await call<KeyJson>('DELETE', `${tenantPath(tenantId)}/keys/${encodeURIComponent(keyId)}`)),
    setQuota: async (tenantId, quota) =>
      void (await call('PUT', quotaPath(tenantId, quota.metric, quota.period), { limit: quota.limit, enforcement: quota.enforcement })),
    removeQuota: async (tenantId, metric, period) => void (await call('DELETE', quotaPath(tenantId, metric, period))),
    getQuotas: async (tenantId) => (await call<{ quotas: QuotaJson[] }>('GET', `${tenantPath(tenantId)}/quotas`)).quotas,
  };
}

async function operatorRequest<T>(server: OperatorServer, method: string, path: string, body?: unknown): Promise<T> {
  const response = await fetch(`${server.url}/operator${path}`, {
    method,
    headers: { accept: 'application/json', authorization: `Bearer ${server.key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const parsed = (await response.json().catch(() => undefined)) as { error?: { code: string; message: string; details?: Record<string, unknown> } } | undefined;
  if (!response.ok) {
    throw new GroundworkApiError(
      response.status,
      parsed?.error?.code ?? 'CLIENT_HTTP_ERROR',
      parsed?.error?.message ?? `HTTP ${response.status} from ${server.url}`,
      parsed?.error?.details,
    );
  }
  return parsed as T;
}

function toTenant(json: TenantJson): TenantRecord {
  return {
    id: json.id,
    name: json.name,
    state: json.state,
    createdAt: new Date(json.created_at),
    ...(json.disabled_at === undefined ? {} : { disabledAt: new Date(json.disabled_at) }),
    ...(json.deleted_at === undefined ? {} : { deletedAt: new Date(json.deleted_at) }),
  };
}

function toKey(tenantId: string, json: KeyJson): ApiKeyRecord {
  return {
    id: json.id,
    tenantId,
    prefix: json.prefix,
    name: json.name,
    role: json.role,
    ...(json.requests_per_minute === undefined ? {} : { requestsPerMinute: json.requests_per_minute }),
    ...(json.tokens_per_minute === undefined ? {} : { tokensPerMinute: json.tokens_per_minute }),
    createdAt: new Date(json.created_at),
    ...(json.expires_at === undefined ? {} : { expiresAt: new Date(json.expires_at) }),
    ...(json.revoked_at === undefined ? {} : { revokedAt: new Date(json.revoked_at) }),
  };
}
