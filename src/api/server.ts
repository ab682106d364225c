import swagger from '@fastify/swagger';
import multipart from '@fastify/multipart';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { App } from '../app/app.js';
import { newId } from '../kernel/ids.js';
import { roleAllows, type Role } from '../auth/principal.js';
import { GroundworkError } from '../kernel/errors.js';
import { rateLimitHeaders } from '../limits/http.js';
import { registerErrorHandling } from './error-handler.js';
import { registerIdempotency } from './idempotency.js';
import { keyRoutes } from './keys.routes.js';
import { healthRoutes } from './health.routes.js';
import { jobRoutes } from './jobs.routes.js';
import { askRoutes } from './ask.routes.js';
import { gatewayRoutes } from './gateway.routes.js';
import { collectionRoutes } from './collections.routes.js';
import { runRoutes } from './runs.routes.js';
import { taskRoutes } from './tasks.routes.js';
import { usageRoutes } from './usage.routes.js';

/** Builds the HTTP server (not listening). Routes live in *.routes.ts, one file per resource. */

export interface ServerOptions {
  logger: FastifyServerOptions['logger'];
  /** Flipped by graceful shutdown so /readyz reports not ready while draining. */
  state?: { shuttingDown: boolean };
  /** Filled with every /v1 route and its least role (the authorization matrix test walks it). */
  routeTable?: Array<{ method: string; url: string; role: Role }>;
}

export async function buildServer(app: App, options: ServerOptions): Promise<FastifyInstance> {
  const state = options.state ?? { shuttingDown: false };
  const server = Fastify({
    logger: options.logger,
    bodyLimit: app.config.bodyLimitBytes,
    requestIdHeader: 'x-request-id',
    genReqId: () => newId('req'),
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    ajv: { customOptions: { removeAdditional: false } },
  }).withTypeProvider<ZodTypeProvider>();

  // JSON only: a text/plain body is a client mistake worth a precise 415, not a schema error.
  server.removeContentTypeParser(['text/plain']);
  server.setValidatorCompiler(validatorCompiler);
  server.setSerializerCompiler(serializerCompiler);
  // Callback-style hooks: no promise per request on the hot path.
  server.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });
  // While draining, answers close their keep-alive connection so shutdown need not wait
  // for idle clients (Node closes only connections that are idle when close() starts).
  server.addHook('onSend', (_request, reply, payload, done) => {
    if (state.shuttingDown) reply.header('connection', 'close');
    done(null, payload);
  });
  registerErrorHandling(server);
  registerAuthentication(server, app, options.routeTable);
  registerIdempotency(server, app.store.db);
  // Files over the limit are cut, not thrown, so each fails alone with a typed error.
  await server.register(multipart, { limits: { fileSize: app.config.uploadLimitBytes, files: 100 }, throwFileSizeLimit: false });

  await server.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Groundwork API', version: '0.1.0', description: 'Typed AI tasks served as HTTP endpoints.' },
      components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'Authorization: Bearer gwk_…' } } },
      security: [{ apiKey: [] }],
      tags: [
        { name: 'tasks', description: 'task definitions, versions and runs' },
        { name: 'runs', description: 'recorded runs and their attempts' },
        { name: 'collections', description: 'documents for grounding: ingestion and hybrid search' },
        { name: 'keys', description: "the tenant's API keys (admin)" },
        { name: 'health', description: 'liveness and readiness' },
        { name: 'jobs', description: 'background task runs and ingestion: status, progress, cancel, events, webhooks' },
        { name: 'usage', description: 'usage (tokens, cost, runs) and quotas of the tenant' },
        { name: 'gateway', description: 'OpenAI-compatible chat completions and embeddings (point the openai client at <server>/v1)' },
      ],
    },
    transform: jsonSchemaTransform,
  });
  await server.register(swaggerUi, { routePrefix: '/docs' });
  server.get('/openapi.json', { schema: { hide: true } }, async () => server.swagger());

  await server.register(healthRoutes(app, state));
  await server.register(taskRoutes(app), { prefix: '/v1' });
  await server.register(runRoutes(app), { prefix: '/v1' });
  await server.register(collectionRoutes(app), { prefix: '/v1' });
  await server.register(askRoutes(app), { prefix: '/v1' });
  await server.register(keyRoutes(app), { prefix: '/v1' });
  await server.register(jobRoutes(app), { prefix: '/v1' });
  await server.register(usageRoutes(app), { prefix: '/v1' });
  await server.register(gatewayRoutes(app), { prefix: '/v1' });
  return server;
}

/**
 * Every `/v1` request: key → principal (AUTH_REQUIRED / AUTH_INVALID_KEY, 401), the route's
 * least role (AUTH_FORBIDDEN, 403), then the key's rate limit (RATE_LIMITED, 429) with
 * X-RateLimit-* headers. Reads default to viewer; a /v1 route that writes and declares no
 * role fails at start-up.
 */
function registerAuthentication(server: FastifyInstance, app: App, routeTable?: ServerOptions['routeTable']): void {
  server.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/v1/')) return;
    // Reads default to viewer; anything that changes state must say who may do it.
    const reads = [route.method].flat().every((m) => m === 'GET' || m === 'HEAD');
    if (!route.config?.role && reads) route.config = { ...route.config, role: 'viewer' };
    const role = route.config?.role;
    if (!role) throw new Error(`route ${String(route.method)} ${route.url} declares no role (config.role)`);
    for (const method of [route.method].flat()) if (method !== 'HEAD') routeTable?.push({ method, url: route.url, role });
  });
  server.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/v1/')) return;
    const principal = await app.auth.authenticate(request.headers.authorization);
    request.auth = principal;
    const required = request.routeOptions.config.role;
    // Unknown /v1 paths fall through to the 404 handler once the caller is known.
    if (required === undefined) return;
    if (!roleAllows(principal.role, required)) {
      throw new GroundworkError('AUTH_FORBIDDEN', `this API key's role (${principal.role}) cannot do this; it needs ${required} or above`, {
        details: { role: principal.role, required },
      });
    }
    reply.headers(rateLimitHeaders(await app.limits.admit(principal)));
  });
}
