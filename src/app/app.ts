import { existsSync } from 'node:fs';
import type { Config } from '../config/config.js';
import { createEmbedderRegistry } from '../embeddings/registry.js';
import { ingestFiles, type IngestFile, type IngestOutcome } from '../ingest/pipeline.js';
import { createRetrievalRepository } from '../retrieval/index.js';
import type { RetrievalRepository } from '../retrieval/ports.js';
import { createRetrievalService, type RetrievalService } from '../retrieval/retrieval-service.js';
import { newId } from '../kernel/ids.js';
import { costUsd } from '../models/pricing.js';
import { createModelRegistry } from '../models/registry.js';
import { openStore, type Store } from '../store/index.js';
import { DEFAULT_TENANT } from '../store/ports.js';
import { createExtractiveEngine } from '../grounding/extractive-engine.js';
import { createAskTask } from '../tasks/ask-task.js';
import { createGroundedRunner } from '../tasks/grounded-task.js';
import { createTaskRunner, type RunLogger } from '../tasks/run-task.js';
import { createTaskService, type PushResult, type TaskService } from '../tasks/task-service.js';
import { loadTaskFiles } from '../tasks/task-files.js';

/**
 * Composition root: the only place that builds concrete parts (store, model registry,
 * task service, runner) from the config. Entry points (HTTP server, CLI) receive an App.
 */

export interface App {
  readonly config: Config;
  readonly store: Store;
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

  return {
    config,
    store,
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
    async syncTaskFiles(tenantId = DEFAULT_TENANT) {
      if (!existsSync(config.tasksDir)) return [];
      const files = loadTaskFiles(config.tasksDir, config);
      return tasks.push(tenantId, files.map((f) => f.definition));
    },
    async close() {
      await registry.close();
      await embedders.close();
      await store.close();
    },
  };
}
