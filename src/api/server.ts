import swagger from '@fastify/swagger';
import multipart from '@fastify/multipart';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest, type FastifyServerOptions } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { App } from '../app/app.js';
import { newId } from '../kernel/ids.js';
import { jsonTextTooDeep, MAX_JSON_DEPTH } from '../kernel/json.js';
import { packageVersion } from '../kernel/package-info.js';
import { roleAllows, type Role } from '../auth/principal.js';
import { GroundworkError } from '../kernel/errors.js';
import { rateLimitHeaders } from '../limits/http.js';
import { registerErrorHandling } from './error-handler.js';
import { registerIdempotency, type IdempotencyOptions } from './idempotency.js';
import { keyRoutes } from './keys.routes.js';
import { healthRoutes } from './health.routes.js';
import { jobRoutes } from './jobs.routes.js';
import { operatorRoutes } from './operator.routes.js';
import { askRoutes } from './ask.routes.js';
import { gatewayRoutes } from './gateway.routes.js';
import { collectionRoutes } from './collections.routes.js';
import { runRoutes } from './runs.routes.js';
import { taskRoutes } from './tasks.routes.js';
import { evalRoutes } from './evals.routes.js';
import { metricsRoute } from './metrics.routes.js';
import { usageRoutes } from './usage.routes.js';

/** Builds the HTTP server (not listening). Routes live in *.routes.ts, one file per resource. */

export interface ServerOptions {
  logger: FastifyServerOptions['logger'];
  /** Flipped by graceful shutdown so /readyz reports not ready while draining. */
  state?: { shuttingDown: boolean };
  /** Filled with every /v1 route and its least role (the authorization matrix test walks it). */
  routeTable?: Array<{ method: string; url: string; role: Role }>;
  /** Idempotency-Key claim leases and this process's instance id (tests shorten the lease). */
  idempotency?: Omit<IdempotencyOptions, 'db'>;
  /** SHA-256 (hex) of the operator key `serve` wrote into the embedded data folder; without it there are no /operator routes. */
  operatorKeyHash?: string;
}

export async function buildServer(app: App, options: ServerOptions): Promise<FastifyInstance> {
  const state = options.state ?? { shuttingDown: false };
  const http = app.config.http;
  const server = Fastify({
    logger: options.logger,
    bodyLimit: app.config.bodyLimitBytes,
    // A client-chosen x-request-id is kept only when it is short and plain (it ends up in logs).
    requestIdHeader: false,
    genReqId: requestId,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // Slow clients: the head must arrive within headers_timeout_ms and the whole request within
    // request_timeout_ms (checked every second, not Node's default 30 s); idle keep-alive
    // connections close after keep_alive_timeout_ms.
    requestTimeout: http.request_timeout_ms,
    keepAliveTimeout: http.keep_alive_timeout_ms,
    http: { headersTimeout: Math.min(http.headers_timeout_ms, http.request_timeout_ms), connectionsCheckingInterval: 1_000 },
    // The router's own refusals (malformed percent-encoding, an over-long path segment) get the
    // same typed body and request id as every other error.
    frameworkErrors: routerRefusal,
    ajv: { customOptions: { removeAdditional: false } },
  }).withTypeProvider<ZodTypeProvider>();

  // JSON only: a text/plain body is a client mistake worth a precise 415, not a schema error.
  server.removeContentTypeParser(['text/plain']);
  registerJsonParser(server);
  server.setValidatorCompiler(validatorCompiler);
  server.setSerializerCompiler(serializerCompiler);
  // Callback-style hooks: no promise per request on the hot path.
  server.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done(nulInUrl(request.url));
  });
  // While draining, answers close their keep-alive connection so shutdown need not wait
  // for idle clients (Node closes only connections that are idle when close() starts).
  // It also times each answer by its route's template (bounded labels: never the path with its
  // ids) as it is sent: one hook less per request than an onResponse hook.
  server.addHook('onSend', (request, reply, payload, done) => {
    if (state.shuttingDown) reply.header('connection', 'close');
    app.metrics.request(request.method, request.routeOptions.url ?? 'unmatched', reply.statusCode, reply.elapsedTime / 1000);
    done(null, payload);
  });
  registerErrorHandling(server, (code) => app.metrics.refusal(code));
  registerAuthentication(server, app, options.routeTable);
  registerIdempotency(server, { ...options.idempotency, db: app.store.db });
  // Files over the limit are cut, not thrown, so each fails alone with a typed error.
  // preservePath: a file name keeps its folder (busboy strips it by default), so `a/README.md`
  // and `b/README.md` are two documents; the ingest route sanitises it (src/ingest/source-path.ts).
  await server.register(multipart, {
    limits: { fileSize: app.config.uploadLimitBytes, files: app.config.uploadMaxFiles },
    throwFileSizeLimit: false,
    preservePath: true,
  });

  await server.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Groundwork API', version: packageVersion(), description: 'Typed AI tasks served as HTTP endpoints.' },
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
        { name: 'evals', description: 'golden datasets and eval results' },
        { name: 'releases', description: 'which version of a task serves: promotion through the gate, override, rollback, the record' },
        { name: 'gateway', description: 'OpenAI-compatible chat completions and embeddings (point the openai client at <server>/v1)' },
      ],
    },
    transform: jsonSchemaTransform,
  });
  await server.register(swaggerUi, { routePrefix: '/docs' });
  server.get('/openapi.json', { schema: { hide: true } }, async () => server.swagger());

  await server.register(healthRoutes({ db: app.store.db }, state));
  if (app.config.metrics.enabled) await server.register(metricsRoute({ metrics: app.metrics, token: app.config.metrics.token }));
  await server.register(taskRoutes({ tasks: app.tasks, runs: app }), { prefix: '/v1' });
  await server.register(evalRoutes({ evals: app.evals, releases: app.releases }), { prefix: '/v1' });
  await server.register(runRoutes({ runs: app.runs }), { prefix: '/v1' });
  await server.register(
    collectionRoutes({
      retrieval: app.retrieval,
      ingest: app.ingest,
      uploads: { limitBytes: app.config.uploadLimitBytes, maxFiles: app.config.uploadMaxFiles },
    }),
    { prefix: '/v1' },
  );
  await server.register(askRoutes({ runs: app }), { prefix: '/v1' });
  await server.register(keyRoutes({ auth: app.auth }), { prefix: '/v1' });
  await server.register(
    jobRoutes({ jobs: app.jobs, uploadLimitBytes: app.config.uploadLimitBytes, planEval: (tenantId, request) => app.planEval(tenantId, request) }),
    {
      prefix: '/v1',
    },
  );
  await server.register(usageRoutes({ limits: app.limits }), { prefix: '/v1' });
  await server.register(gatewayRoutes({ gateway: app.gateway }), { prefix: '/v1' });
  await server.register(operatorRoutes({ auth: app.auth, quotas: app.limits.quotas }, options.operatorKeyHash), { prefix: '/operator' });
  return server;
}

/**
 * Every `/v1` request: key → principal (AUTH_REQUIRED / AUTH_INVALID_KEY, 401), the route's
 * least role (AUTH_FORBIDDEN, 403), then the key's rate limit (RATE_LIMITED, 429) with
 * X-RateLimit-* headers. Reads default to viewer; a /v1 route that writes and declares no
 * role fails at start-up.
 *
 * Decided on the route the router matched (its declared role), never on the raw URL: the
 * router decodes `/%761/tasks` to `/v1/tasks`, so a string test of the URL could be walked
 * around. It runs in onRequest, before the body is read: an anonymous upload is refused
 * without reading it.
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
    const required = request.routeOptions.config?.role;
    // No route matched: an unknown /v1 path still needs a key, so anonymous callers cannot map the API.
    if (required === undefined && !(request.routeOptions.url === undefined && isV1Path(request.url))) return;
    const principal = await app.auth.authenticate(request.headers.authorization);
    request.auth = principal;
    if (required === undefined) return;
    if (!roleAllows(principal.role, required)) {
      throw new GroundworkError('AUTH_FORBIDDEN', `this API key's role (${principal.role}) cannot do this; it needs ${required} or above`, {
        details: { role: principal.role, required },
      });
    }
    reply.headers(rateLimitHeaders(await app.limits.admit(principal)));
  });
}

/** The path as the router sees it (percent-decoded), tested for the /v1 prefix. */
function isV1Path(url: string): boolean {
  const end = url.indexOf('?');
  const path = end === -1 ? url : url.slice(0, end);
  let decoded = path;
  try {
    decoded = decodeURIComponent(path);
  } catch {
    // Malformed escapes: the router answers those itself.
  }
  return decoded.startsWith('/v1/') || decoded === '/v1';
}

/** Answers the router's FST_ERR_BAD_URL / FST_ERR_MAX_PARAM_LENGTH (raised before any hook runs) like any typed error. */
function routerRefusal(error: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const message =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? 'a segment of the request path is longer than 100 characters: no id or name is that long'
      : 'the request path is not a valid URL (malformed percent-encoding)';
  const refusal = new GroundworkError('REQUEST_INVALID_BODY', message, { details: { issues: [{ path: 'path', message }] } });
  void reply.header('x-request-id', request.id).status(refusal.httpStatus).send(refusal.toBody());
}

const PLAIN_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** The client's x-request-id when it is short and plain, else a fresh id. */
function requestId(request: { headers: Record<string, string | string[] | undefined> }): string {
  const header = request.headers['x-request-id'];
  return typeof header === 'string' && PLAIN_REQUEST_ID.test(header) ? header : newId('req');
}

/**
 * A NUL (`%00`) anywhere in the path or query: no id, name or cursor can hold one, and PostgreSQL
 * text refuses it, so it is a typed 400 naming where it was, before any handler runs.
 */
function nulInUrl(url: string): GroundworkError | undefined {
  if (!url.includes('%00') && !url.includes('\u0000')) return undefined;
  const queryAt = url.indexOf('?');
  const path = queryAt === -1 ? url : url.slice(0, queryAt);
  let where = 'path';
  if (!path.includes('%00') && !path.includes('\u0000')) {
    const field = new URLSearchParams(url.slice(queryAt + 1));
    where = 'query';
    for (const [name, value] of field) {
      if (name.includes('\u0000') || value.includes('\u0000')) {
        where = `query/${name.replaceAll('\u0000', '')}`;
        break;
      }
    }
  }
  return new GroundworkError('REQUEST_INVALID_BODY', `the request ${where === 'path' ? 'path' : `query (${where})`} contains a NUL character`, {
    details: { issues: [{ path: where, message: 'must not contain NUL characters' }] },
  });
}

/**
 * JSON bodies: fastify's own parser (prototype-poisoning protection included), after a
 * single-pass check that the text nests no deeper than MAX_JSON_DEPTH. Deeper bodies are
 * refused here, on every route, before anything parses, validates, stores or forwards them.
 */
function registerJsonParser(server: FastifyInstance): void {
  const parse = server.getDefaultJsonParser('error', 'error');
  server.removeContentTypeParser('application/json');
  server.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (jsonTextTooDeep(text)) {
      done(
        new GroundworkError('REQUEST_TOO_DEEP', `request body nests arrays or objects deeper than ${MAX_JSON_DEPTH} levels`, {
          details: { issues: [{ path: 'body', message: `nested deeper than ${MAX_JSON_DEPTH} levels` }], max_depth: MAX_JSON_DEPTH },
        }),
        undefined,
      );
      return;
    }
    parse(request, text, done);
  });
}
