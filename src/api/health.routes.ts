import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Database } from '../store/ports.js';
import { GroundworkError } from '../kernel/errors.js';
import { errorBody } from './schemas.js';

/** Liveness (the process answers) and readiness (the store answers, not draining). */
export function healthRoutes(deps: { db: Pick<Database, 'query' | 'kind'> }, state: { shuttingDown: boolean }): FastifyPluginAsyncZod {
  return async (server) => {
    server.get('/healthz', { schema: { tags: ['health'], response: { 200: z.object({ status: z.literal('ok') }) } } }, async () => ({ status: 'ok' as const }));

    server.get(
      '/readyz',
      { schema: { tags: ['health'], response: { 200: z.object({ status: z.literal('ready'), store: z.enum(['embedded', 'server']) }), 503: errorBody } } },
      async () => {
        if (state.shuttingDown) throw new GroundworkError('SERVER_SHUTTING_DOWN', 'the server is shutting down');
        try {
          await deps.db.query('select 1');
        } catch (cause) {
          throw new GroundworkError('STORE_UNAVAILABLE', 'the store does not answer', { cause });
        }
        return { status: 'ready' as const, store: deps.db.kind };
      },
    );
  };
}
