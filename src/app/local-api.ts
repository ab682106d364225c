import {
  presentDataset,
  presentEval,
  presentEvalPlan,
  presentEvalSummary,
  presentRelease,
  presentReleaseOutcome,
  presentAsk,
  presentRunOutcome,
  presentCollection,
  presentHit,
  presentRun,
  presentRunSummary,
  presentTaskSummary,
  presentTaskVersion,
} from '../api/presenters.js';
import { presentJob } from '../api/job-presenter.js';
import { toEvalRequest } from '../api/jobs.routes.js';
import type { EvalJobOptions, GroundworkApi, JobInfo } from '../client/client.js';
import { GroundworkError } from '../kernel/errors.js';
import { DEFAULT_TENANT } from '../store/ports.js';
import type { App } from './app.js';

/**
 * The API's operations in-process, for CLI commands run while no server owns the data
 * folder. Same JSON shapes as the HTTP API (the presenters are shared).
 */
/** Who in-process releases and pushes are recorded as: the operator at this machine's CLI. */
const LOCAL_ACTOR = 'cli';

export function createLocalApi(app: App, tenantId: string = DEFAULT_TENANT): GroundworkApi {
  return {
    listTasks: async () => (await app.tasks.list(tenantId)).map(presentTaskSummary),
    getTask: async (name) => presentTaskVersion(await app.tasks.get(tenantId, name)),
    listVersions: async (name) =>
      (await app.tasks.versions(tenantId, name)).map((v) => ({ version: v.version, created_at: v.createdAt.toISOString(), active: v.active })),
    pushTask: (definition) => app.tasks.pushRaw(tenantId, definition, LOCAL_ACTOR),
    async runTask<Output>(name: string, input: Record<string, unknown>, options?: { version?: string }) {
      const task = await app.tasks.resolve(tenantId, name, options?.version);
      return presentRunOutcome(await app.runTask({ tenantId, task, input })) as Awaited<ReturnType<GroundworkApi['runTask']>> & { output: Output };
    },
    listRuns: async (query = {}) => (await app.runs.list(tenantId, { limit: 50, ...query })).map(presentRunSummary),
    async getRun(id) {
      const run = await app.runs.get(tenantId, id);
      if (!run) throw new GroundworkError('RUN_NOT_FOUND', `no run with id "${id}"`, { details: { run_id: id } });
      return presentRun(run);
    },
    createCollection: async (params) => presentCollection(await app.retrieval.createCollection(tenantId, params)),
    listCollections: async () => (await app.retrieval.listCollections(tenantId)).map(presentCollection),
    deleteCollection: (name) => app.retrieval.deleteCollection(tenantId, name),
    ask: async (question, collection, options = {}) => presentAsk(await app.ask(tenantId, { question, collection, ...options })),
    ingestFiles: (collection, files, metadata) =>
      app.ingest(
        tenantId,
        collection,
        files.map((f) => ({ ...f, metadata })),
      ),
    search: async (collection, query, options = {}) =>
      (
        await app.retrieval.search(tenantId, {
          collection,
          query,
          k: options.k ?? 10,
          mode: options.mode,
          filters: options.filters,
          mmrLambda: options.mmr_lambda,
          minScore: options.min_score,
          ...(options.embedder === undefined ? {} : { embedder: options.embedder }),
        })
      ).hits.map(presentHit),
    promoteTask: async (name, version, options = {}) =>
      presentReleaseOutcome(await app.releases.promote(tenantId, name, { version, actor: LOCAL_ACTOR, ...options })),
    rollbackTask: async (name, reason) => presentReleaseOutcome(await app.releases.rollback(tenantId, name, LOCAL_ACTOR, reason)),
    listReleases: async (name) => (await app.releases.list(tenantId, name)).map(presentRelease),
    async uploadDataset(task, upload) {
      const stored = await app.evals.uploadDataset(tenantId, task, upload);
      return { ...stored, dataset: presentDataset(stored.dataset) };
    },
    listDatasets: async (task) => (await app.evals.listDatasets(tenantId, task)).map(presentDataset),
    async addCaseFromRun(dataset, { run_id: runId, ...rest }) {
      const stored = await app.evals.addCaseFromRun(tenantId, dataset, { runId, ...rest });
      return { ...stored, dataset: presentDataset(stored.dataset) };
    },
    listEvals: async (task) => (await app.evals.listEvals(tenantId, task)).map(presentEvalSummary),
    getEval: async (id) => presentEval(await app.evals.getEval(tenantId, id)),
    startEval: async (task, options) => presentJob(await app.jobs.enqueueEval(tenantId, toEvalRequest(task, options))) as JobInfo,
    planEval: async (task, options) => presentEvalPlan(await app.planEval(tenantId, toEvalRequest(task, options))),
    getJob: async (id) => presentJob(await app.jobs.get(tenantId, id)) as JobInfo,
  };
}
