import { existsSync } from 'node:fs';
import { createAuthService, type AuthService } from '../auth/auth-service.js';
import type { Principal } from '../auth/principal.js';
import { resolveRoute, type TaskDefinition } from '../tasks/definition.js';
import { createMeter } from './metering.js';
import { createLimits, type LimitsService } from '../limits/index.js';
import type { Config } from '../config/config.js';
import { createEmbedderRegistry } from '../embeddings/registry.js';
import { ingestFiles, type IngestFile, type IngestOutcome } from '../ingest/pipeline.js';
import { createRetrievalRepository } from '../retrieval/index.js';
import type { RetrievalRepository } from '../retrieval/ports.js';
import { createRetrievalService, type RetrievalService } from '../retrieval/retrieval-service.js';
import { newId } from '../kernel/ids.js';
import { createGateway, type Gateway } from '../gateway/index.js';
import { createJobService, type JobService } from '../jobs/index.js';
import { queuePurge } from '../jobs/queue-purge.js';
import { createRunBatcher, type RunBatcher } from '../store/run-batcher.js';
import { costUsd } from '../models/pricing.js';
import { createModelRegistry } from '../models/registry.js';
import { openStore, type Store } from '../store/index.js';
import { DEFAULT_TENANT } from '../store/ports.js';
import { createExtractiveEngine } from '../grounding/extractive-engine.js';
import { ASK_MAX_OUTPUT_TOKENS, ASK_PROMPT_CHARS, createAskTask } from '../tasks/ask-task.js';
import { createGroundedRunner } from '../tasks/grounded-task.js';
import { assertInputDepth, createTaskRunner, type RunLogger, type RunResult, type RunTaskParams } from '../tasks/run-task.js';
import { createTaskService, type PushResult, type TaskService } from '../tasks/task-service.js';
import { loadTaskFiles } from '../tasks/task-files.js';

/**
 * Composition root: the only place that builds concrete parts (store, model registry,
 * task service, runner) from the config. Entry points (HTTP server, CLI) receive an App.
 */

export interface App {
  readonly config: Config;
  readonly store: Store;
  /** Tenants, API keys and the per-request key lookup. */
  readonly auth: AuthService;
  readonly tasks: TaskService;
  readonly runTask: ReturnType<typeof createGroundedRunner>;
  readonly retrievalRepo: RetrievalRepository;
  readonly retrieval: RetrievalService;
  /** The built-in grounded `ask` task. */
  readonly ask: ReturnType<typeof createAskTask>;
  /** Parses, chunks, embeds and stores files into a collection; one outcome per file. */
  ingest(tenantId: string, collection: string, files: IngestFile[], signal?: AbortSignal): Promise<IngestOutcome[]>;
  /** Pushes every task file in the configured tasks folder (all or nothing). */
  syncTaskFiles(tenantId?: string): Promise<PushResult[]>;
  /** A task run on behalf of an API key: quota reserved before, settled after, recorded with the key. */
  runTaskAs(principal: Principal | undefined, params: RunTaskParams, onSoftQuota?: () => void): Promise<RunResult>;
  /** The built-in ask on behalf of an API key (metered like runTaskAs). */
  askAs(principal: Principal | undefined, input: unknown, options?: { signal?: AbortSignal; onSoftQuota?: () => void; logger?: RunLogger }): Promise<RunResult>;
  /** Durable jobs: enqueue, read, cancel; `jobs.start(app)` works them in this process. */
  readonly jobs: JobService;
  /** Per-key rate limits, per-tenant quotas (reserve/settle) and usage reports. */
  readonly limits: LimitsService;
  /** OpenAI-compatible chat completions and embeddings through the configured routes. */
  readonly gateway: Gateway;
  /** Batching run recorder (gateway traffic): runs written every ~50 ms, flushed on close. */
  readonly runBatcher: RunBatcher;
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
}

export async function createApp(config: Config, options: CreateAppOptions): Promise<App> {
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, schema: options.schema, lock: options.lock });
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
  const runPlain = createTaskRunner({
    runs: store.runs,
    config,
    models: {
      route: (models) => registry.route(models),
      cost: (model, usage) => costUsd(registry.price(model), usage),
    },
    newId,
    now: Date.now,
    logger: options.logger,
  });

  // Tasks with a retrieval spec get their sources and citation checks on the way through.
  const runTask = createGroundedRunner({ runTask: runPlain, retrieval });
  const ask = createAskTask({ retrieval, runTask: runPlain, config: config.ask });

  const jobs = createJobService({
    db: store.db,
    jobs: config.jobs,
    queueSchema,
    self: { host: config.host, port: config.port },
    runs: store.runs,
    resolveTask: (tenantId, name, version) => tasks.resolve(tenantId, name, version),
    checkCollection: async (tenantId, name) => void (await retrieval.collection(tenantId, name)),
    webhookSecret: (tenantId) => auth.webhookSecret(tenantId),
    logger: options.logger,
  });
  const limits = createLimits({ db: store.db, config, logger: options.logger });
  const runBatcher = createRunBatcher({ runs: store.runs, logger: options.logger });
  const gateway = createGateway({
    config,
    models: registry,
    embedders,
    runs: runBatcher,
    limits,
    logger: options.logger,
    newId,
    now: Date.now,
  });

  const meter = createMeter({ limits, price: (model) => registry.price(model), logger: options.logger });
  const sourceChars = (tokens: number) => tokens * 4;

  return {
    jobs,
    limits,
    gateway,
    runBatcher,
    config,
    store,
    auth,
    tasks,
    runTask,
    ask,
    retrievalRepo,
    retrieval,
    async ingest(tenantId, collectionName, files, signal) {
      const collection = await retrieval.collection(tenantId, collectionName);
      const embedder = retrieval.embedderFor(collection);
      return ingestFiles({ repo: retrievalRepo, embedder, limits: { maxBytes: config.uploadLimitBytes } }, tenantId, collection.name, files, signal);
    },
    runTaskAs(principal, params, onSoftQuota) {
      const definition = params.task.definition as TaskDefinition;
      // Before the input is measured for the reservation (JSON.stringify cannot take any depth).
      assertInputDepth(definition.name, params.input);
      const maximum = meter.firstCall({
        model: resolveRoute(definition.route, config)[0],
        inputChars:
          JSON.stringify(params.input ?? null).length +
          definition.prompt.user.length +
          (definition.prompt.system?.length ?? 0) +
          (definition.retrieval ? sourceChars(definition.retrieval.max_source_tokens) : 0),
        maxOutputTokens: definition.limits.max_output_tokens,
      });
      return meter.run(principal, maximum, (hooks) => runTask({ ...params, ...hooks }), onSoftQuota);
    },
    askAs(principal, input, options = {}) {
      assertInputDepth('ask', input);
      const maximum = meter.firstCall({
        model: config.ask.route[0],
        inputChars: JSON.stringify(input ?? null).length + sourceChars(config.ask.max_source_tokens) + ASK_PROMPT_CHARS,
        maxOutputTokens: ASK_MAX_OUTPUT_TOKENS,
      });
      return meter.run(principal, maximum, (hooks) => ask(principal?.tenantId ?? DEFAULT_TENANT, input, options.signal, { ...hooks, logger: options.logger }), options.onSoftQuota);
    },
    async syncTaskFiles(tenantId = DEFAULT_TENANT) {
      if (!existsSync(config.tasksDir)) return [];
      const files = loadTaskFiles(config.tasksDir, config);
      return tasks.push(tenantId, files.map((f) => f.definition));
    },
    async close() {
      await jobs.close();
      await limits.close();
      await gateway.close();
      await runBatcher.close();
      await registry.close();
      await embedders.close();
      await store.close();
    },
  };
}
