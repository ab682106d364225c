import type { FastifyInstance, InjectOptions } from 'fastify';
import type { App } from '../app/app.js';
import type { Role } from '../auth/principal.js';

/** Test helpers: keys for tests and an inject that sends one unless the test sets its own header. */

/** A fresh tenant (random id unless given) with a key of `role`. */
export async function tenantWithKey(
  app: App,
  role: Role = 'admin',
  tenantId = `t-${Math.random().toString(36).slice(2, 10)}`,
): Promise<{ tenantId: string; key: string; keyId: string }> {
  const existing = (await app.auth.listTenants()).some((t) => t.id === tenantId);
  if (!existing) await app.auth.createTenant({ id: tenantId });
  const { key, record } = await app.auth.createKey(tenantId, { role });
  return { tenantId, key, keyId: record.id };
}

/** Makes `server.inject({...})` send `Authorization: Bearer <key>` unless the call sets authorization itself. */
export function authorize<T extends FastifyInstance>(server: T, key: string): T {
  const inject = server.inject.bind(server) as (options: InjectOptions | string) => ReturnType<FastifyInstance['inject']>;
  const withKey = (options: InjectOptions | string) => {
    const opts: InjectOptions = typeof options === 'string' ? { url: options } : options;
    const headers = { ...(opts.headers as Record<string, string> | undefined) };
    if (!Object.keys(headers).some((h) => h.toLowerCase() === 'authorization')) headers.authorization = `Bearer ${key}`;
    return inject({ ...opts, headers });
  };
  (server as unknown as { inject: typeof withKey }).inject = withKey;
  return server;
}

/** The default tenant's admin key (what the embedded default creates on first start). */
export async function authorizeAsLocalAdmin<T extends FastifyInstance>(app: App, server: T): Promise<T> {
  const { key } = await app.auth.ensureLocalAdmin(undefined);
  return authorize(server, key);
}
