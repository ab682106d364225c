import { existsSync } from 'node:fs';
import { createAuthService, type AuthService } from '../auth/auth-service.js';
import type { Principal } from '../auth/principal.js';
import { presentJob } from '../api/job-presenter.js';
import type { KeyedRuns, RunReader } from '../api/services.js';
import { runMeter } from '../runs/meter.js';
import { createLimits, type LimitsService } from '../limits/index.js';
import type { Config } from '../config/config.js';
import { createEmbedderRegistry } from '../embeddings/registry.js';
import { ingestFiles, type IngestFile, type IngestOutcome } from '../ingest/pipeline.js';
import { createRetrievalRepository } from '../retrieval/index.js';
import { createRetrievalService, type RetrievalService } from '../retrieval/retrieval-service.js';
import { newId } from '../kernel/ids.js';
import { createGateway, type Gateway } from '../gateway/index.js';
import { createJobService, type EvalRequest, type JobHost, type JobService } from '../jobs/index.js';
import { queuePurge } from '../jobs/queue-purge.js';
import { createRunBatcher, type RunBatcher } from '../store/run-batcher.js';
import { costUsd } from '../models/pricing.js';
import { createModelRegistry } from '../models/registry.js';
import { openStore, type Store } from '../store/index.js';
import { DEFAULT_TENANT, type RunRecord, type RunRepository } from '../store/ports.js';
import { createMetrics, noMetrics, type Metrics } from '../observability/metrics.js';
import { createExtractiveEngine } from '../grounding/extractive-engine.js';
import { createAskTask, type AskOptions, type AskTask } from '../tasks/ask-task.js';
import { createTaskRunner, firstCallWorstCase, type RunLogger, type RunOutcome, type RunTaskParams, type TaskRunner } from '../tasks/run-task.js';
import type { PreparedTask } from '../tasks/prepared-task.js';
import { createReleaseService, type ReleaseService } from '../tasks/release-service.js';
import { createJudge, type Judge } from '../tasks/judge-task.js';
import { createEvalService, type EvalService } from './eval-service.js';
import { checkEvalJob, planEvalRequest, runEvalJob } from './eval-jobs.js';
import type { EvalPlan } from './evaluate.js';
import { createTaskService, type PushResult, type TaskService } from '../tasks/task-service.js';
import { loadTaskFiles } from '../tasks/task-files.js';

/**
 * Composition root: the only place that builds concrete parts (store, model registry,
 * task service, runner) from the config. Entry points (HTTP server, CLI) receive an App.
 */

export interface App extends KeyedRuns {
  readonly config: Config;
  readonly store: Store;
  /** Tenants, API keys and the per-request key lookup. */
  readonly auth: AuthService;
  readonly tasks: TaskService;
  /** The eval's LLM judge; undefined when no judge route is configured (evals.judge_route). */
  readonly judge?: Judge;
  /** Prometheus metrics: runs, model calls, tokens, cost, grounding, HTTP, jobs. */
  readonly metrics: Metrics;
  /** Golden datasets and eval records. */
  readonly evals: EvalService;
  /** Promotions through the gate, overrides, rollbacks, and their record. */
  readonly releases: ReleaseService;
  /** The most a run's first call can cost (the quota hold; an eval's dry run). */
  estimateFirstCall(task: PreparedTask, input: unknown): { tokens: number; usd: number };
  /** The run path of a task (grounded tasks retrieve their sources on the way). Not metered: see runTaskAs. */
  readonly runTask: TaskRunner;
  readonly retrieval: RetrievalService;
  /** The built-in grounded `ask` task. */
  readonly ask: AskTask;
  /** Parses, chunks, embeds and stores files into a collection; one outcome per file. */
  ingest(tenantId: string, collection: string, files: IngestFile[], signal?: AbortSignal): Promise<IngestOutcome[]>;
  /** Pushes every task file in the configured tasks folder (all or nothing). */
  syncTaskFiles(tenantId?: string): Promise<PushResult[]>;
  /** A task run on behalf of an API key: quota held before its calls, settled after, recorded with the key. */
  runTaskAs(principal: Principal | undefined, params: Omit<RunTaskParams, 'meter' | 'keyId'>, onSoftQuota?: () => void): Promise<RunOutcome>;
  /** The built-in ask on behalf of an API key (metered like runTaskAs). */
  askAs(principal: Principal | undefined, input: unknown, options?: Omit<AskOptions, 'meter' | 'keyId'> & { onSoftQuota?: () => void }): Promise<RunOutcome>;
  /** What an eval would run and cost (a dry run): nothing called, nothing recorded. */
  planEval(tenantId: string, request: EvalRequest): Promise<EvalPlan>;
  /** An eval job's try: the eval run and recorded (and, when asked and its gate passed, the version promoted). */
  runEval: JobHost['runEval'];
  /** Durable jobs: enqueue, read, cancel; `jobs.start(app)` works them in this process. */
  readonly jobs: JobService;
  /** Per-key rate limits, per-tenant quotas (reserve/settle) and usage reports. */
  readonly limits: LimitsService;
  /** OpenAI-compatible chat completions and embeddings through the configured routes. */
  readonly gateway: Gateway;
  /** Batching run recorder (task runs, ask, gateway traffic): runs written every ~50 ms, flushed on close. */
  readonly runBatcher: RunBatcher;
  /** Recorded runs, read after what is queued is written (read-your-writes on this process). */
  readonly runs: RunReader;
  close(): Promise<void>;
}

export interface CreateAppOptions {
  /** Data-folder lock role (embedded mode); false for none (tests with memory://). */
  lock: { role: 'serve' | 'cli' | 'worker'; url?: string } | false;
  logger: RunLogger;
  /** For tests and tools: replace fetch used by HTTP providers. */
  fetch?: typeof fetch;
  /** Server mode: work in this schema (test isolation: one schema per test file). */
  schema?: string;
  /** A store already open (serve opens it while the rest loads); the app owns it from here and closes it. */
  store?: Store;
}

export async function createApp(config: Config, options: CreateAppOptions): Promise<App> {
  const store = options.store ?? (await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, schema: options.schema, lock: options.lock }));
  const registry = createModelRegistry(
    { providers: config.providers, models: config.models, resilience: config.resilience },
    { fetch: options.fetch, builtinModels: { extractive: () => createExtractiveEngine() } },
  );
  const embedders = createEmbedderRegistry({ providers: config.providers, embedders: config.embedders }, { fetch: options.fetch });
  const retrievalRepo = createRetrievalRepository(store.db);
  // pg-boss's own schema, beside the store's (tests: one per test schema).
  const queueSchema = options.schema ? `${options.schema}_boss` : 'groundwork_boss';
  // Deleting a tenant also removes its entries from the job queue, in the same transaction.
  const auth = createAuthService({ db: store.db, cacheMs: config.auth.key_cache_ms, purgeTenant: queuePurge(queueSchema) });
  const retrieval = createRetrievalService({ repo: retrievalRepo, embedders });
  // One process owns an embedded store, so its view of active versions is always current;
  // replicas sharing a server see another replica's push within a second.
  const tasks = createTaskService({ tasks: store.tasks, config, activeCacheMs: config.databaseUrl ? 1_000 : Number.POSITIVE_INFINITY });
  // Run records are written in batches off the response path (task runs, ask, the gateway);
  // every reader of runs flushes what is queued first, so a run is readable as soon as its
  // answer is. Jobs write theirs durably (see RunTaskParams.durable).
  const runBatcher = createRunBatcher({ runs: store.runs, logger: options.logger });
  // Every run is counted as it is recorded (queued or written durably), off its answer's path.
  const metrics = config.metrics.enabled ? createMetrics({ jobs: () => jobs.stats() }) : noMetrics();
  const observedQueue = {
    add(tenantId: string, run: RunRecord) {
      metrics.run(tenantId, run);
      runBatcher.add(tenantId, run);
    },
  };
  const observedRuns: RunRepository = {
    ...store.runs,
    async record(tenantId, run) {
      metrics.run(tenantId, run);
      await store.runs.record(tenantId, run);
    },
  };
  const runs: RunReader = {
    async get(tenantId, id) {
      await runBatcher.flush();
      return store.runs.get(tenantId, id);
    },
    async list(tenantId, query) {
      await runBatcher.flush();
      return store.runs.list(tenantId, query);
    },
  };
  const models = {
    route: (names: string[]) => registry.route(names),
    cost: (model: string, usage: { inputTokens: number; outputTokens: number }) => costUsd(registry.price(model), usage),
  };
  const runTask = createTaskRunner({
    runs: observedRuns,
    queue: observedQueue,
    config,
    retrieval,
    models,
    newId,
    now: Date.now,
    logger: options.logger,
  });

  const ask = createAskTask({ retrieval, runTask, config: config.ask });

  const jobs = createJobService({
    db: store.db,
    jobs: config.jobs,
    queueSchema,
    self: { host: config.host, port: config.port },
    runs: store.runs,
    resolveTask: (tenantId, name, version) => tasks.resolve(tenantId, name, version),
    checkCollection: async (tenantId, name) => void (await retrieval.collection(tenantId, name)),
    checkEval: (tenantId, request) => checkEvalJob(app, tenantId, request),
    webhookSecret: (tenantId) => auth.webhookSecret(tenantId),
    presentJob,
    logger: options.logger,
  });
  const limitsService = createLimits({ db: store.db, config, logger: options.logger });
  // Usage is read from the runs: include those still queued.
  const limits: LimitsService = {
    ...limitsService,
    usage: async (tenantId, query) => {
      await runBatcher.flush();
      return limitsService.usage(tenantId, query);
    },
  };
  const gateway = createGateway({
    config,
    models: registry,
    embedders,
    runs: observedQueue,
    limits,
    logger: options.logger,
    newId,
    now: Date.now,
  });

  /** The metered form of a run for a key (none in-process, without a principal). */
  const metered = (principal: Principal | undefined, onSoftQuota?: () => void) =>
    principal ? { keyId: principal.keyId, meter: runMeter({ limits, principal, logger: options.logger, onSoftQuota }) } : {};

  const app: App = {
    runEval: (job, signal, onProgress) => runEvalJob(app, job, signal, onProgress),
    planEval: (tenantId, request) => planEvalRequest(app, tenantId, request),
    jobs,
    limits,
    gateway,
    runBatcher,
    runs,
    config,
    store,
    auth,
    tasks,
    metrics,
    evals: createEvalService({ tasks, evals: store.evals, runs }),
    ...(config.evals.judge_route ? { judge: createJudge({ runTask, route: config.evals.judge_route, timeoutMs: config.evals.judge_timeout_ms }) } : {}),
    releases: createReleaseService({ tasks, taskRepo: store.tasks, evals: store.evals }),
    estimateFirstCall: (task, input) => firstCallWorstCase({ task, input }, models),
    runTask,
    ask,
    retrieval,
    async ingest(tenantId, collectionName, files, signal) {
      const collection = await retrieval.collection(tenantId, collectionName);
      const embedder = retrieval.embedderFor(collection);
      return ingestFiles({ repo: retrievalRepo, embedder, limits: { maxBytes: config.uploadLimitBytes } }, tenantId, collection.name, files, signal);
    },
    runTaskAs(principal, params, onSoftQuota) {
      return runTask({ ...params, ...metered(principal, onSoftQuota) });
    },
    askAs(principal, input, options = {}) {
      const { onSoftQuota, ...rest } = options;
      return ask(principal?.tenantId ?? DEFAULT_TENANT, input, { ...rest, ...metered(principal, onSoftQuota) });
    },
    async syncTaskFiles(tenantId = DEFAULT_TENANT) {
      if (!existsSync(config.tasksDir)) return [];
      const files = loadTaskFiles(config.tasksDir, config);
      return tasks.push(
        tenantId,
        files.map((f) => f.definition),
        { mode: 'sync', actor: 'serve' },
      );
    },
    async close() {
      await jobs.close();
      await limits.close();
      await runBatcher.close();
      await registry.close();
      await embedders.close();
      await store.close();
    },
  };
  return app;
}
