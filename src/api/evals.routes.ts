import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { roleAllows } from '../auth/principal.js';
import { GroundworkError } from '../kernel/errors.js';
import type { EvalService } from '../app/eval-service.js';
import type { ReleaseService } from '../tasks/release-service.js';
import { principalOf } from './auth.js';
import { tenantOf } from './tenant.js';
import { presentDataset, presentEval, presentEvalSummary, presentRelease, presentReleaseOutcome } from './presenters.js';
import {
  caseFromRun,
  datasetName,
  datasetSummary,
  datasetUpload,
  errorBody,
  evalDetail,
  evalSummary,
  promoteBody,
  release,
  releaseOutcome,
  rollbackBody,
  taskName,
} from './schemas.js';

const nameParams = z.object({ name: taskName }).strict();
const datasetParams = z.object({ name: datasetName }).strict();
const evalParams = z.object({ id: z.string().min(1).max(200) }).strict();
const storedDataset = z.object({
  dataset: datasetSummary,
  created: z.boolean(),
  skipped: z.array(z.object({ line: z.number().int(), message: z.string() })),
});

/** What the evaluation and release routes use. */
export interface EvalRoutesDeps {
  evals: EvalService;
  releases: ReleaseService;
}

/**
 * Golden datasets (upload, list, a production run as a case), eval records, and releases:
 * promotion through the gate (or an admin's override with its reason), rollback, the record.
 */
export function evalRoutes(deps: EvalRoutesDeps): FastifyPluginAsyncZod {
  return async (server) => {
    server.post(
      '/tasks/:name/datasets',
      {
        config: { role: 'developer' },
        schema: {
          tags: ['evals'],
          summary: 'Upload a golden dataset for a task',
          description:
            "Cases as JSON Lines (`jsonl`) or a JSON array (`cases`); every line is checked and every input validated against the active version's input schema. Stored by content hash under `name`: the newest upload of a name is the dataset a gate reads. Nothing is stored unless every case is good (or `lenient` is set).",
          params: nameParams,
          body: datasetUpload,
          response: { 200: storedDataset, 201: storedDataset, 400: errorBody, 404: errorBody },
        },
      },
      async (request, reply) => {
        const stored = await deps.evals.uploadDataset(tenantOf(request), request.params.name, request.body);
        return reply.status(stored.created ? 201 : 200).send({ ...stored, dataset: presentDataset(stored.dataset) });
      },
    );

    server.get(
      '/tasks/:name/datasets',
      {
        schema: {
          tags: ['evals'],
          summary: "A task's datasets (the newest version of each)",
          params: nameParams,
          response: { 200: z.object({ datasets: z.array(datasetSummary) }), 404: errorBody },
        },
      },
      async (request) => ({ datasets: (await deps.evals.listDatasets(tenantOf(request), request.params.name)).map(presentDataset) }),
    );

    server.post(
      '/datasets/:name/cases',
      {
        config: { role: 'developer' },
        schema: {
          tags: ['evals'],
          summary: 'Turn a recorded run into a case of a dataset',
          description: "Adds the run's input as a case, with its output as `expected` unless one is given: a new version of the dataset.",
          params: datasetParams,
          body: caseFromRun,
          response: { 201: storedDataset, 400: errorBody, 404: errorBody },
        },
      },
      async (request, reply) => {
        const { run_id: runId, ...rest } = request.body;
        const stored = await deps.evals.addCaseFromRun(tenantOf(request), request.params.name, { runId, ...rest });
        return reply.status(201).send({ ...stored, dataset: presentDataset(stored.dataset) });
      },
    );

    server.get(
      '/tasks/:name/evals',
      {
        schema: {
          tags: ['evals'],
          summary: "A task's evals, newest first",
          params: nameParams,
          response: { 200: z.object({ evals: z.array(evalSummary) }), 404: errorBody },
        },
      },
      async (request) => ({ evals: (await deps.evals.listEvals(tenantOf(request), request.params.name)).map(presentEvalSummary) }),
    );

    server.get(
      '/evals/:id',
      { schema: { tags: ['evals'], summary: 'An eval with its report', params: evalParams, response: { 200: evalDetail, 404: errorBody } } },
      async (request) => presentEval(await deps.evals.getEval(tenantOf(request), request.params.id)),
    );

    server.post(
      '/tasks/:name/promote',
      {
        config: { role: 'developer' },
        schema: {
          tags: ['releases'],
          summary: 'Make a version active through its gate',
          description:
            "A gated task (its definition declares eval.gate) is promoted only when the newest finished gate eval of this version against the active version, on the newest version of the gate's dataset, passed. `override` (admin keys) skips the gate and records its reason. Every promotion is recorded.",
          params: nameParams,
          body: promoteBody,
          response: { 200: releaseOutcome, 400: errorBody, 403: errorBody, 404: errorBody, 409: errorBody },
        },
      },
      async (request) => {
        const principal = principalOf(request);
        if (request.body.override && !roleAllows(principal.role, 'admin')) {
          throw new GroundworkError('AUTH_FORBIDDEN', 'only an admin key may override a gate', { details: { required: 'admin', role: principal.role } });
        }
        const outcome = await deps.releases.promote(tenantOf(request), request.params.name, { ...request.body, actor: principal.keyId });
        return presentReleaseOutcome(outcome);
      },
    );

    server.post(
      '/tasks/:name/rollback',
      {
        config: { role: 'developer' },
        schema: {
          tags: ['releases'],
          summary: 'Make the previously active version active again',
          params: nameParams,
          body: rollbackBody.nullish(),
          response: { 200: releaseOutcome, 404: errorBody, 409: errorBody },
        },
      },
      async (request) =>
        presentReleaseOutcome(await deps.releases.rollback(tenantOf(request), request.params.name, principalOf(request).keyId, request.body?.reason)),
    );

    server.get(
      '/tasks/:name/releases',
      {
        schema: {
          tags: ['releases'],
          summary: "A task's releases, newest first: pushes that activated, promotions, overrides, rollbacks",
          params: nameParams,
          response: { 200: z.object({ releases: z.array(release) }), 404: errorBody },
        },
      },
      async (request) => ({ releases: (await deps.releases.list(tenantOf(request), request.params.name)).map(presentRelease) }),
    );
  };
}
