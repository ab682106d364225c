import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { GroundworkError } from '../kernel/errors.js';
import { z } from 'zod';
import type { KeyedRuns } from './services.js';
import { presentAsk } from './presenters.js';
import { collectionName, errorBody, filtersSchema } from './schemas.js';
import { principalOf } from './auth.js';

const askBody = z
  .object({
    question: z.string().min(1).max(2_000),
    collection: collectionName,
    k: z.number().int().min(1).max(20).optional(),
    filters: filtersSchema.optional(),
  })
  .strict();

const citation = z.object({ chunk_id: z.string(), document: z.string(), quote: z.string() });

const askResponse = z.object({
  answer: z.string(),
  citations: z.array(citation).describe('only citations whose quote was found in the cited chunk'),
  answerable: z.boolean().describe('false when the sources do not support an answer (abstention) or no citation verified'),
  confidence: z.number(),
  run_id: z.string(),
  task_version: z.string(),
  model: z.string().describe('"none" when retrieval found nothing relevant and no model was called'),
  attempts: z.number().int(),
  usage: z.object({ input_tokens: z.number().int(), output_tokens: z.number().int(), cost_usd: z.number() }),
  degraded: z.boolean(),
  latency_ms: z.number(),
  grounding: z.record(z.string(), z.unknown()).describe('retrieval scores, chunks used, citations proposed/verified/dropped, abstained, ungrounded'),
});

export function askRoutes(deps: { runs: Pick<KeyedRuns, 'askAs'> }): FastifyPluginAsyncZod {
  return async (server) => {
    server.post(
      '/ask',
      {
        config: { role: 'runner', idempotent: true },
        schema: {
          tags: ['collections'],
          summary: 'Answer a question from a collection with verified citations',
          body: askBody,
          response: { 200: askResponse, 400: errorBody, 404: errorBody, 502: errorBody, 503: errorBody, 504: errorBody },
        },
      },
      async (request, reply) => {
        const abort = new AbortController();
        request.raw.once('close', () => {
          if (!request.raw.complete || request.raw.destroyed)
            abort.abort(new GroundworkError('CLIENT_DISCONNECTED', 'the client went away before the run finished'));
        });
        return presentAsk(
          await deps.runs.askAs(principalOf(request), request.body, {
            signal: abort.signal,
            logger: request.log,
            onSoftQuota: () => reply.header('x-groundwork-quota', 'soft-exceeded'),
          }),
        );
      },
    );
  };
}
