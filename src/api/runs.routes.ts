import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RunReader } from './services.js';
import { GroundworkError } from '../kernel/errors.js';
import { tenantOf } from './tenant.js';
import { presentRun, presentRunSummary } from './presenters.js';
import { errorBody, runDetail, runListQuery, runSummary } from './schemas.js';

export function runRoutes(deps: { runs: RunReader }): FastifyPluginAsyncZod {
  return async (server) => {
    server.get(
      '/runs',
      {
        schema: {
          tags: ['runs'],
          summary: 'Recent runs, newest first',
          querystring: runListQuery,
          response: { 200: z.object({ runs: z.array(runSummary), next_before: z.string().optional() }) },
        },
      },
      async (request) => {
        const { eval_id: evalId, ...query } = request.query;
        const runs = await deps.runs.list(tenantOf(request), { ...query, ...(evalId === undefined ? {} : { evalId }) });
        const last = runs.at(-1);
        return { runs: runs.map(presentRunSummary), next_before: runs.length === request.query.limit && last ? last.id : undefined };
      },
    );

    server.get(
      '/runs/:id',
      {
        schema: {
          tags: ['runs'],
          summary: 'One run with every attempt',
          params: z.object({ id: z.string().max(100) }).strict(),
          response: { 200: runDetail, 404: errorBody },
        },
      },
      async (request) => {
        const run = await deps.runs.get(tenantOf(request), request.params.id);
        if (!run) throw new GroundworkError('RUN_NOT_FOUND', `no run with id "${request.params.id}"`, { details: { run_id: request.params.id } });
        return presentRun(run);
      },
    );
  };
}
