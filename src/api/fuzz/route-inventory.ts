import swagger from '@fastify/swagger';
import Fastify, { type FastifyInstance } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { App } from '../../app/app.js';
import type { Role } from '../../auth/principal.js';
import { operatorRoutes } from '../operator.routes.js';
import { textDocumentsBody } from '../schemas.js';

/** A JSON Schema as the OpenAPI document carries it. */
export type JsonSchema = Record<string, unknown>;

/** One parameter of a route (path or query), with its schema. */
export interface RouteParam {
  name: string;
  in: 'path' | 'query';
  required: boolean;
  schema: JsonSchema;
}

/** Who may call a route: an API key of at least `role`, the operator key, or anyone. */
export type RouteAuth = { kind: 'key'; role: Role } | { kind: 'operator' } | { kind: 'public' };

/** One served route, read from the server's own OpenAPI document. */
export interface FuzzRoute {
  method: string;
  /** OpenAPI form: `/v1/tasks/{name}/run`. */
  path: string;
  params: RouteParam[];
  body?: JsonSchema;
  /** The route also takes multipart/form-data (document uploads). */
  multipart: boolean;
  auth: RouteAuth;
  /** Honours Idempotency-Key. */
  idempotent: boolean;
}

/**
 * Every route the server serves, from `server.swagger()` (the document clients get), plus the
 * /operator routes, which the document hides on purpose: they are described by registering
 * the same plugin on a bare instance whose swagger transform un-hides them. The route table
 * (buildServer's `routeTable`) gives each /v1 route its least role; a /v1 route in the table but
 * not in the document is an error, so a new route cannot slip past the fuzzer.
 */
export async function routeInventory(params: {
  server: FastifyInstance;
  app: App;
  routeTable: Array<{ method: string; url: string; role: Role }>;
  operatorKeyHash: string;
}): Promise<FuzzRoute[]> {
  await params.server.ready();
  const roles = new Map(params.routeTable.map((r) => [`${r.method} ${toOpenApiPath(r.url)}`, r.role]));
  const routes = [...fromDocument(params.server.swagger() as OpenApi, roles), ...(await operatorInventory(params.app, params.operatorKeyHash))];
  const listed = new Set(routes.map((r) => `${r.method} ${r.path}`));
  const missing = [...roles.keys()].filter((key) => !listed.has(key));
  if (missing.length > 0) throw new Error(`routes served but not in the OpenAPI document: ${missing.join(', ')}`);
  return routes;
}

interface OpenApiOperation {
  parameters?: Array<{ name: string; in: string; required?: boolean; schema?: JsonSchema }>;
  requestBody?: { content?: Record<string, { schema?: JsonSchema }> };
}
interface OpenApi {
  paths: Record<string, Record<string, OpenApiOperation>>;
}

/** Bodies the document cannot state because the handler checks them itself (JSON or multipart). */
const HANDLER_CHECKED_BODIES: Record<string, { body: JsonSchema; multipart: boolean }> = {
  'POST /v1/collections/{collection}/documents': { body: z.toJSONSchema(textDocumentsBody, { io: 'input' }) as JsonSchema, multipart: true },
};

/** Routes that honour Idempotency-Key (config `idempotent: true`; not in the document). */
const IDEMPOTENT = new Set(['POST /v1/tasks/{name}/run', 'POST /v1/ask', 'POST /v1/tasks/{name}/jobs', 'POST /v1/collections/{collection}/jobs']);

function fromDocument(doc: OpenApi, roles: Map<string, Role>): FuzzRoute[] {
  const routes: FuzzRoute[] = [];
  for (const [path, operations] of Object.entries(doc.paths)) {
    for (const [verb, operation] of Object.entries(operations)) {
      const method = verb.toUpperCase();
      if (method === 'HEAD') continue;
      const id = `${method} ${path}`;
      const role = roles.get(id);
      const extra = HANDLER_CHECKED_BODIES[id];
      routes.push({
        method,
        path,
        params: paramsOf(operation),
        body: operation.requestBody?.content?.['application/json']?.schema ?? extra?.body,
        multipart: extra?.multipart ?? false,
        auth: path.startsWith('/v1/') ? { kind: 'key', role: role ?? 'viewer' } : { kind: 'public' },
        idempotent: IDEMPOTENT.has(id),
      });
    }
  }
  return routes;
}

function paramsOf(operation: OpenApiOperation): RouteParam[] {
  return (operation.parameters ?? [])
    .filter((p) => p.in === 'path' || p.in === 'query')
    .map((p) => ({ name: p.name, in: p.in as 'path' | 'query', required: p.required ?? p.in === 'path', schema: p.schema ?? {} }));
}

/** The hidden /operator routes, documented by a bare instance that registers only them. */
async function operatorInventory(app: App, operatorKeyHash: string): Promise<FuzzRoute[]> {
  const bare = Fastify({ logger: false });
  bare.setValidatorCompiler(validatorCompiler);
  bare.setSerializerCompiler(serializerCompiler);
  await bare.register(swagger, {
    openapi: { openapi: '3.1.0', info: { title: 'operator', version: '0' } },
    transform: (args) => jsonSchemaTransform({ ...args, schema: { ...args.schema, hide: false } } as Parameters<typeof jsonSchemaTransform>[0]),
  });
  await bare.register(operatorRoutes({ auth: app.auth, quotas: app.limits.quotas }, operatorKeyHash), { prefix: '/operator' });
  await bare.ready();
  const routes = fromDocument(bare.swagger() as OpenApi, new Map()).map((r) => ({ ...r, auth: { kind: 'operator' } as const }));
  await bare.close();
  return routes;
}

/** `/v1/tasks/:name` → `/v1/tasks/{name}`. */
function toOpenApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}
