import swagger from '@fastify/swagger';
import multipart from '@fastify/multipart';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { App } from '../app/app.js';
import { newId } from '../kernel/ids.js';
import { registerErrorHandling } from './error-handler.js';
import { healthRoutes } from './health.routes.js';
import { askRoutes } from './ask.routes.js';
import { collectionRoutes } from './collections.routes.js';
import { runRoutes } from './runs.routes.js';
import { taskRoutes } from './tasks.routes.js';

/** Builds the HTTP server (not listening). Routes live in *.routes.ts, one file per resource. */

export interface ServerOptions {
  logger: FastifyServerOptions['logger'];
  /** Flipped by graceful shutdown so /readyz reports not ready while draining. */
  state?: { shuttingDown: boolean };
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
  server.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  // While draining, answers close their keep-alive connection so shutdown need not wait
  // for idle clients (Node closes only connections that are idle when close() starts).
  server.addHook('onSend', async (_request, reply) => {
    if (state.shuttingDown) reply.header('connection', 'close');
  });
  registerErrorHandling(server);
  // Files over the limit are cut, not thrown, so each fails alone with a typed error.
  await server.register(multipart, { limits: { fileSize: app.config.uploadLimitBytes, files: 100 }, throwFileSizeLimit: false });

  await server.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Groundwork API', version: '0.1.0', description: 'Typed AI tasks served as HTTP endpoints.' },
      tags: [
        { name: 'tasks', description: 'task definitions, versions and runs' },
        { name: 'runs', description: 'recorded runs and their attempts' },
        { name: 'collections', description: 'documents for grounding: ingestion and hybrid search' },
        { name: 'health', description: 'liveness and readiness' },
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
  return server;
}
