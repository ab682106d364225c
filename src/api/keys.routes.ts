import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ApiKeyRecord, AuthService } from '../auth/auth-service.js';
import { ROLES } from '../auth/principal.js';
import { tenantOf } from './tenant.js';
import { errorBody } from './schemas.js';

/** A tenant's API keys, managed by its admins. The plaintext key appears once, in the create response. */

/** An API key as answered (never the key itself); the operator routes answer the same shape. */
export const apiKey = z.object({
  id: z.string(),
  prefix: z.string().describe('visible start of the key, to recognise it'),
  name: z.string(),
  role: z.enum(ROLES),
  requests_per_minute: z.number().int().optional(),
  tokens_per_minute: z.number().int().optional(),
  created_at: z.string(),
  expires_at: z.string().optional(),
  revoked_at: z.string().optional(),
});

/** POST /v1/keys (and the operator's key creation for any tenant). */
export const createKeyBody = z
  .object({
    role: z.enum(ROLES),
    name: z.string().max(200).optional(),
    expires_at: z.iso.datetime({ offset: true }).optional().describe('ISO 8601 time after which the key stops working'),
    requests_per_minute: z.number().int().positive().max(1_000_000).optional(),
    tokens_per_minute: z.number().int().positive().max(1_000_000_000).optional(),
  })
  .strict();

export function presentKey(record: ApiKeyRecord): z.infer<typeof apiKey> {
  return {
    id: record.id,
    prefix: record.prefix,
    name: record.name,
    role: record.role,
    requests_per_minute: record.requestsPerMinute,
    tokens_per_minute: record.tokensPerMinute,
    created_at: record.createdAt.toISOString(),
    expires_at: record.expiresAt?.toISOString(),
    revoked_at: record.revokedAt?.toISOString(),
  };
}

export function keyRoutes(deps: { auth: Pick<AuthService, 'createKey' | 'listKeys' | 'revokeKey'> }): FastifyPluginAsyncZod {
  return async (server) => {
    server.get(
      '/keys',
      {
        config: { role: 'admin' },
        schema: { tags: ['keys'], summary: "The tenant's API keys (never the keys themselves)", response: { 200: z.object({ keys: z.array(apiKey) }) } },
      },
      async (request) => ({ keys: (await deps.auth.listKeys(tenantOf(request))).map(presentKey) }),
    );

    server.post(
      '/keys',
      {
        config: { role: 'admin' },
        schema: {
          tags: ['keys'],
          summary: 'Create an API key',
          description: 'The response holds the key itself, shown this once; only its hash is stored.',
          body: createKeyBody,
          response: { 201: z.object({ key: z.string(), api_key: apiKey }), 400: errorBody },
        },
      },
      async (request, reply) => {
        const { key, record } = await deps.auth.createKey(tenantOf(request), {
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
      '/keys/:id',
      {
        config: { role: 'admin' },
        schema: {
          tags: ['keys'],
          summary: 'Revoke an API key',
          params: z.object({ id: z.string().max(100) }).strict(),
          response: { 200: apiKey, 404: errorBody },
        },
      },
      async (request) => presentKey(await deps.auth.revokeKey(tenantOf(request), request.params.id)),
    );
  };
}
