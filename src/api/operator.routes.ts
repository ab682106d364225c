import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { AuthService, TenantRecord } from '../auth/auth-service.js';
import { bearerToken, hashKey, sameHash } from '../auth/keys.js';
import { GroundworkError } from '../kernel/errors.js';
import { presentQuota, type QuotaAdmin } from '../limits/index.js';
import { apiKey, createKeyBody, presentKey } from './keys.routes.js';
import { errorBody } from './schemas.js';

/**
 * Installation operators' routes under /operator (not /v1: they act for any tenant, not for a
 * key's tenant): tenants (create, list, show with the webhook secret, disable, enable, delete),
 * any tenant's keys and quotas. They exist only where `serve` owns an embedded data folder and
 * wrote an operator key into it (`<dataDir>/operator-key`, mode 0600): the CLI's `tenants`,
 * `keys` and `quotas` go through them while the server holds the folder. Elsewhere (a database
 * server, memory://) they answer 404, as if absent: operators work on the database directly.
 *
 * The operator key is checked in onRequest, before the body is read, against the SHA-256 the
 * server keeps (constant-time); a missing key is AUTH_REQUIRED, any other AUTH_INVALID_KEY.
 * Hidden from the OpenAPI document, which describes the tenant-facing API.
 */

const tenantId = z.string().min(1).max(63);
const tenantParams = z.object({ id: tenantId }).strict();
const keyParams = z.object({ id: tenantId, keyId: z.string().min(1).max(100) }).strict();
const quotaParams = z.object({ id: tenantId, metric: z.enum(['tokens', 'usd']), period: z.enum(['day', 'month']) }).strict();

const tenant = z.object({
  id: z.string(),
  name: z.string(),
  state: z.enum(['active', 'disabled', 'deleted']),
  created_at: z.string(),
  disabled_at: z.string().optional(),
  deleted_at: z.string().optional(),
});

const quota = z.object({
  metric: z.enum(['tokens', 'usd']),
  period: z.enum(['day', 'month']),
  limit: z.number(),
  enforcement: z.enum(['hard', 'soft']),
  used: z.number(),
  reserved: z.number(),
  period_start: z.string(),
  resets_at: z.string(),
});
const quotas = z.object({ quotas: z.array(quota) });

export function presentTenant(record: TenantRecord): z.infer<typeof tenant> {
  return {
    id: record.id,
    name: record.name,
    state: record.state,
    created_at: record.createdAt.toISOString(),
    disabled_at: record.disabledAt?.toISOString(),
    deleted_at: record.deletedAt?.toISOString(),
  };
}

/** The operator routes; none (every /operator path a 404) when `keyHash` is undefined. */
/** What the operator routes use: tenants and keys of any tenant, and quota definitions. */
export interface OperatorRoutesDeps {
  auth: AuthService;
  quotas: QuotaAdmin;
}

export function operatorRoutes(deps: OperatorRoutesDeps, keyHash: string | undefined): FastifyPluginAsyncZod {
  return async (server) => {
    if (keyHash === undefined) return;
    server.addHook('onRequest', (request, reply, done) => {
      // Answers carry keys and secrets: never stored by a cache on the way.
      reply.header('cache-control', 'no-store');
      done(operatorKeyError(request.headers.authorization, keyHash));
    });
    // Unknown /operator paths need the key too (this handler runs the hook above), so the
    // routes cannot be mapped anonymously.
    server.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) => {
      const error = new GroundworkError('REQUEST_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
      return reply.status(404).send(error.toBody());
    });
    const schema = <T extends object>(summary: string, rest: T) => ({ hide: true, tags: ['operator'], summary, ...rest });
    const quotaList = async (id: string) => ({ quotas: (await deps.quotas.getQuotas(id)).map(presentQuota) });

    server.get(
      '/tenants',
      { schema: schema('Live tenants (active and disabled)', { response: { 200: z.object({ tenants: z.array(tenant) }) } }) },
      async () => ({
        tenants: (await deps.auth.listTenants()).map(presentTenant),
      }),
    );

    server.post(
      '/tenants',
      {
        schema: schema('Create a tenant and its first admin key (shown once)', {
          body: z.object({ id: tenantId, name: z.string().max(200).optional() }).strict(),
          response: { 201: z.object({ tenant, admin_key: z.string(), admin_key_id: z.string(), webhook_secret: z.string() }), 400: errorBody, 409: errorBody },
        }),
      },
      async (request, reply) => {
        const { tenant: created, webhookSecret } = await deps.auth.createTenant({ id: request.body.id, name: request.body.name });
        const { key, record } = await deps.auth.createKey(created.id, { role: 'admin', name: 'first admin' });
        return reply.status(201).send({ tenant: presentTenant(created), admin_key: key, admin_key_id: record.id, webhook_secret: webhookSecret });
      },
    );

    server.get(
      '/tenants/:id',
      {
        schema: schema('A tenant with its webhook signing secret', {
          params: tenantParams,
          response: { 200: z.object({ tenant, webhook_secret: z.string().optional() }), 404: errorBody },
        }),
      },
      async (request) => {
        const { tenant: found, webhookSecret } = await deps.auth.getTenant(request.params.id);
        return { tenant: presentTenant(found), webhook_secret: webhookSecret };
      },
    );

    server.post(
      '/tenants/:id/disable',
      {
        schema: schema('Disable a tenant: its keys stop authenticating, its data is kept', {
          params: tenantParams,
          response: { 200: z.object({ tenant }), 404: errorBody, 409: errorBody },
        }),
      },
      async (request) => ({ tenant: presentTenant(await deps.auth.disableTenant(request.params.id)) }),
    );

    server.post(
      '/tenants/:id/enable',
      { schema: schema('Enable a disabled tenant', { params: tenantParams, response: { 200: z.object({ tenant }), 404: errorBody, 409: errorBody } }) },
      async (request) => ({ tenant: presentTenant(await deps.auth.enableTenant(request.params.id)) }),
    );

    server.delete(
      '/tenants/:id',
      {
        schema: schema('Delete a tenant and all its data, for ever; its id is never used again', {
          params: tenantParams,
          response: { 200: z.object({ tenant, removed: z.record(z.string(), z.number().int()) }), 400: errorBody, 404: errorBody },
        }),
      },
      async (request) => {
        const { tenant: deleted, removed } = await deps.auth.deleteTenant(request.params.id);
        return { tenant: presentTenant(deleted), removed };
      },
    );

    server.get(
      '/tenants/:id/keys',
      { schema: schema("A tenant's API keys (never the keys themselves)", { params: tenantParams, response: { 200: z.object({ keys: z.array(apiKey) }) } }) },
      async (request) => ({
        keys: (await deps.auth.listKeys(request.params.id)).map(presentKey),
      }),
    );

    server.post(
      '/tenants/:id/keys',
      {
        schema: schema('Create an API key for a tenant (shown once)', {
          params: tenantParams,
          body: createKeyBody,
          response: { 201: z.object({ key: z.string(), api_key: apiKey }), 400: errorBody, 404: errorBody, 409: errorBody },
        }),
      },
      async (request, reply) => {
        const { key, record } = await deps.auth.createKey(request.params.id, {
          role: request.body.role,
          name: request.body.name,
          expiresAt: request.body.expires_at === undefined ? undefined : new Date(request.body.expires_at),
          requestsPerMinute: request.body.requests_per_minute,
          tokensPerMinute: request.body.tokens_per_minute,
        });
        return reply.status(201).send({ key, api_key: presentKey(record) });
      },
    );

    server.delete(
      '/tenants/:id/keys/:keyId',
      { schema: schema("Revoke a tenant's API key", { params: keyParams, response: { 200: apiKey, 404: errorBody } }) },
      async (request) => presentKey(await deps.auth.revokeKey(request.params.id, request.params.keyId)),
    );

    server.get(
      '/tenants/:id/quotas',
      { schema: schema("A tenant's quotas and its usage in their current periods", { params: tenantParams, response: { 200: quotas, 404: errorBody } }) },
      async (request) => quotaList(request.params.id),
    );

    server.put(
      '/tenants/:id/quotas/:metric/:period',
      {
        schema: schema("Set a tenant's quota for a metric and period", {
          params: quotaParams,
          body: z.object({ limit: z.number().nonnegative(), enforcement: z.enum(['hard', 'soft']).default('hard') }).strict(),
          response: { 200: quotas, 400: errorBody, 404: errorBody },
        }),
      },
      async (request) => {
        const { id, metric, period } = request.params;
        await deps.quotas.setQuota(id, { metric, period, limit: request.body.limit, enforcement: request.body.enforcement });
        return quotaList(id);
      },
    );

    server.delete(
      '/tenants/:id/quotas/:metric/:period',
      {
        schema: schema("Remove a tenant's quota for a metric and period", {
          params: quotaParams,
          response: { 200: quotas.extend({ removed: z.boolean() }), 404: errorBody },
        }),
      },
      async (request) => {
        const { id, metric, period } = request.params;
        const removed = await deps.quotas.removeQuota(id, metric, period);
        return { removed, ...(await quotaList(id)) };
      },
    );
  };
}

/** Undefined when the header carries the operator key; else the 401 to answer. */
function operatorKeyError(header: string | undefined, keyHash: string): GroundworkError | undefined {
  const token = bearerToken(header);
  if (token === undefined)
    return new GroundworkError(
      'AUTH_REQUIRED',
      'operator routes need the operator key: send Authorization: Bearer <the contents of <data folder>/operator-key>',
    );
  // hashKey first, whatever the token: every wrong key costs the same hash and compare.
  return sameHash(hashKey(token), keyHash) ? undefined : new GroundworkError('AUTH_INVALID_KEY', 'the operator key is not valid');
}
