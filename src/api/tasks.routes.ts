import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { GroundworkError } from '../kernel/errors.js';
import { z } from 'zod';
import type { TaskService } from '../tasks/task-service.js';
import type { KeyedRuns } from './services.js';
import { principalOf } from './auth.js';
import { tenantOf } from './tenant.js';
import { presentRunOutcome, presentTaskSummary, presentTaskVersion } from './presenters.js';
import { errorBody, pushResponse, runBody, runResponse, taskDetail, taskName, taskSummary, taskVersionItem } from './schemas.js';

const nameParams = z.object({ name: taskName }).strict();

/** What the task routes use: the catalogue, and runs on behalf of a key. */
export interface TaskRoutesDeps {
  tasks: TaskService;
  runs: Pick<KeyedRuns, 'runTaskAs'>;
}

export function taskRoutes(deps: TaskRoutesDeps): FastifyPluginAsyncZod {
  return async (server) => {
    server.get(
      '/tasks',
      { schema: { tags: ['tasks'], summary: 'List tasks', response: { 200: z.object({ tasks: z.array(taskSummary) }) } } },
      async (request) => ({
        tasks: (await deps.tasks.list(tenantOf(request))).map(presentTaskSummary),
      }),
    );

    server.post(
      '/tasks',
      {
        config: { role: 'developer' },
        schema: {
          tags: ['tasks'],
          summary: 'Push a task definition',
          description:
            'Validates the definition (shape, JSON Schemas, template variables, route) and stores it as an immutable version, made active; a new version of a gated task (one whose definition declares eval.gate) is stored as a candidate instead, made active only by POST /v1/tasks/{name}/promote.',
          body: z.record(z.string(), z.unknown()),
          response: { 200: pushResponse, 201: pushResponse, 400: errorBody },
        },
      },
      async (request, reply) => {
        const result = await deps.tasks.pushRaw(tenantOf(request), request.body, principalOf(request).keyId);
        return reply.status(result.created ? 201 : 200).send(result);
      },
    );

    server.get(
      '/tasks/:name',
      { schema: { tags: ['tasks'], summary: 'The active version of a task', params: nameParams, response: { 200: taskDetail, 404: errorBody } } },
      async (request) => presentTaskVersion(await deps.tasks.get(tenantOf(request), request.params.name)),
    );

    server.get(
      '/tasks/:name/versions',
      {
        schema: {
          tags: ['tasks'],
          summary: 'All versions of a task, newest first',
          params: nameParams,
          response: { 200: z.object({ versions: z.array(taskVersionItem) }), 404: errorBody },
        },
      },
      async (request) => ({
        versions: (await deps.tasks.versions(tenantOf(request), request.params.name)).map((v) => ({
          version: v.version,
          created_at: v.createdAt.toISOString(),
          active: v.active,
        })),
      }),
    );

    server.post(
      '/tasks/:name/run',
      {
        config: { role: 'runner', idempotent: true },
        schema: {
          tags: ['tasks'],
          summary: 'Run a task and return validated output',
          params: nameParams,
          body: runBody,
          response: {
            200: runResponse,
            400: errorBody,
            402: errorBody,
            404: errorBody,
            422: errorBody,
            429: errorBody,
            502: errorBody,
            503: errorBody,
            504: errorBody,
          },
        },
      },
      async (request, reply) => {
        const task = await deps.tasks.resolve(tenantOf(request), request.params.name, request.body.version);
        // A client that disconnects cancels its run instead of burning tokens.
        const abort = new AbortController();
        request.raw.once('close', () => {
          if (!request.raw.complete || request.raw.destroyed)
            abort.abort(new GroundworkError('CLIENT_DISCONNECTED', 'the client went away before the run finished'));
        });
        const outcome = await deps.runs.runTaskAs(
          principalOf(request),
          { tenantId: tenantOf(request), task, input: request.body.input, signal: abort.signal, logger: request.log },
          () => reply.header('x-groundwork-quota', 'soft-exceeded'),
        );
        return presentRunOutcome(outcome);
      },
    );
  };
}
