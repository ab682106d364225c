import { randomUUID } from 'node:crypto';
import { sanitizeSource } from '../ingest/source-path.js';
import type PgBoss from 'pg-boss';
import type { JobsConfig } from '../config/config.js';
import { abortableSleep, untilAborted } from '../kernel/abort.js';
import { GroundworkError } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import type { Database, RunRepository, SqlExecutor } from '../store/ports.js';
import type { PreparedTask } from '../tasks/prepared-task.js';
import { createJobRepository, type Hold } from './job.repository.js';
import { runTry, timeoutError, toJobError, type JobHost } from './job-runner.js';
import { bossDb, MAX_EXPIRE_SECONDS, openQueue, QUEUES, retryOptions, type Delivery, type QueueData } from './queue.js';
import { isTerminal, type EnqueueOptions, type EvalPayload, type EvalRequest, type IngestDocument, type Job, type JobListQuery } from './types.js';
import { createWebhookTargetPolicy, type HostResolver, type SelfAddress } from './webhook-target.js';
import { checkWebhookUrl, deliverWebhook, WebhookDeliveryError } from './webhooks.js';
import { SHUTDOWN, startWorkLoop, type WorkLoop } from './work-loop.js';

/**
 * Durable jobs: enqueue task runs and ingestions, read them (tenant-scoped), cancel them, and
 * work them. pg-boss delivers (retries with backoff, expiry of tries whose worker died, dead
 * letters); the `jobs` row is the record the API reads and the fence every try writes through
 * (job.repository.ts). Where a job finishes, its webhook delivery is enqueued in the same
 * transaction, so a finished job with a webhook always gets one.
 */

export interface JobLogger {
  error(details: Record<string, unknown>, message: string): void;
  warn?(details: Record<string, unknown>, message: string): void;
  info?(details: Record<string, unknown>, message: string): void;
}

export interface JobServiceDeps {
  db: Database;
  jobs: JobsConfig;
  /** pg-boss's schema (tests: their own schema + '_boss'). */
  queueSchema: string;
  /** This server's host:port: webhooks may not point back at it. */
  self: SelfAddress;
  runs: Pick<RunRepository, 'get'>;
  resolveTask(tenantId: string, name: string, version?: string): Promise<PreparedTask>;
  /** Throws COLLECTION_NOT_FOUND for a collection the tenant does not have. */
  checkCollection(tenantId: string, name: string): Promise<void>;
  /**
   * Checks an eval as it would run (the version, the baseline, the dataset and its inputs, the
   * gate) and pins what it names: the version and the dataset version. Throws the typed refusal.
   */
  checkEval(tenantId: string, params: EvalRequest): Promise<{ version: string; datasetVersion: string }>;
  webhookSecret(tenantId: string): Promise<string>;
  /** A job as webhooks deliver it: the API's presenter (the wire shape is the api layer's). */
  presentJob(job: Job): unknown;
  logger: JobLogger;
  /** Resolves webhook host names, at creation and at delivery (default: the system resolver; tests replace it). */
  resolveHost?: HostResolver;
}

export interface StartOptions {
  /** Jobs worked at once by this process (default config.jobs.concurrency). */
  concurrency?: number;
  /** Where job lifecycle lines go (default: the service's logger). */
  logger?: JobLogger;
}

/** Durable jobs as the API and the app use them: enqueue (input and sources checked now), read, cancel, follow, work. */
export interface JobService {
  /** Queues a run of a task (its active version unless `version`); the input is checked now. */
  enqueueTaskRun(tenantId: string, params: { task: string; version?: string; input: unknown } & EnqueueOptions): Promise<Job>;
  /** Queues an ingestion of text documents into an existing collection. */
  enqueueIngest(tenantId: string, params: { collection: string; documents: IngestDocument[] } & EnqueueOptions): Promise<Job>;
  /** Queues an eval; everything it names is checked (and the version and dataset pinned) now. */
  enqueueEval(tenantId: string, params: EvalRequest & EnqueueOptions): Promise<Job>;
  /** JOB_NOT_FOUND for another tenant's or an unknown id. */
  get(tenantId: string, id: string): Promise<Job>;
  /** Newest first. */
  list(tenantId: string, query: JobListQuery): Promise<Job[]>;
  cancel(tenantId: string, id: string): Promise<Job>;
  /** The job at every change, until it has finished (or `signal` aborts). */
  watch(tenantId: string, id: string, signal?: AbortSignal): AsyncGenerator<Job>;
  /** Every tenant's jobs by status, the age of the oldest queued one, and the dead letters (jobs failed for good): for operators' metrics. */
  stats(): Promise<{ byStatus: Record<string, number>; oldestQueuedSeconds: number; deadLetters: number }>;
  /** Starts working jobs in this process, through `host` (the app: metered runs, ingestion). */
  start(host: JobHost, options?: StartOptions): Promise<void>;
  /** Stops fetching; waits up to `timeoutMs` for tries in flight, then releases them to the queue. */
  stop(options?: { timeoutMs?: number }): Promise<void>;
  close(): Promise<void>;
}

// How often a worker checks whether the jobs it runs were cancelled elsewhere (another replica).
const HOLD_POLL_MS = 500;
// How often an event stream reads its job.
const WATCH_POLL_MS = 200;
const MAX_ATTEMPTS_LIMIT = 20;
const TIMEOUT_RANGE = { min: 1_000, max: 86_400_000 };
// Abort reasons of a try (besides SHUTDOWN from the work loop).
const CANCELLED = 'cancelled';
const SUPERSEDED = 'superseded';
const TIMED_OUT = 'timeout';

export function createJobService(deps: JobServiceDeps): JobService {
  const config = deps.jobs;
  const repo = createJobRepository(deps.db);
  let queue: Promise<PgBoss> | undefined;
  let closed = false;
  let workers: { loops: WorkLoop[]; poll: NodeJS.Timeout } | undefined;
  let startedOnce = false;
  const holds = new Map<string, { hold: Hold; controller: AbortController }>();
  const holdKey = (tenantId: string, id: string) => `${tenantId}\u0000${id}`;
  const logError = (error: unknown) => deps.logger.error({ err: error }, 'job queue error');
  const webhookPolicy = createWebhookTargetPolicy({ allow: config.webhook_allow, self: deps.self });

  /** pg-boss, started on first use: processes that never touch jobs never create its schema. */
  function boss(): Promise<PgBoss> {
    if (closed) return Promise.reject(new GroundworkError('SERVER_SHUTTING_DOWN', 'the job service is closed'));
    queue ??= openQueue({ db: deps.db, schema: deps.queueSchema, maintenanceIntervalMs: config.maintenance_interval_ms, onError: logError }).catch(
      (error: unknown) => {
        queue = undefined;
        throw error;
      },
    );
    return queue;
  }

  // A try's own deadline stays inside the queue's expiry, which must stay under pg-boss's 24 h.
  const tryDeadline = (timeoutMs: number) => Math.min(timeoutMs, MAX_EXPIRE_SECONDS * 1000 - config.expiry_grace_ms);
  const expireInSeconds = (timeoutMs: number) => Math.min(MAX_EXPIRE_SECONDS, Math.ceil((timeoutMs + config.expiry_grace_ms) / 1000));

  async function enqueue(tenantId: string, kind: Job['kind'], payload: Job['payload'], options: EnqueueOptions): Promise<Job> {
    const maxAttempts = options.maxAttempts ?? config.max_attempts;
    const timeoutMs = options.timeoutMs ?? config.timeout_ms;
    const issues: Array<{ path: string; message: string }> = [];
    if (!Number.isInteger(maxAttempts) || maxAttempts < 1 || maxAttempts > MAX_ATTEMPTS_LIMIT)
      issues.push({ path: 'max_attempts', message: `must be an integer 1..${MAX_ATTEMPTS_LIMIT}` });
    if (!Number.isInteger(timeoutMs) || timeoutMs < TIMEOUT_RANGE.min || timeoutMs > TIMEOUT_RANGE.max)
      issues.push({ path: 'timeout_ms', message: `must be an integer ${TIMEOUT_RANGE.min}..${TIMEOUT_RANGE.max}` });
    if (issues.length > 0)
      throw new GroundworkError('REQUEST_INVALID_BODY', `invalid job options: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, {
        details: { issues },
      });
    const webhookUrl =
      options.webhookUrl === undefined ? undefined : await checkWebhookUrl(options.webhookUrl, { policy: webhookPolicy, resolve: deps.resolveHost });

    const b = await boss();
    const id = newId('job');
    const queueId = randomUUID();
    const job = await deps.db.transaction(async (tx) => {
      const created = await repo.insert(tx, tenantId, { id, kind, payload, maxAttempts, timeoutMs, webhookUrl, keyId: options.keyId, queueId });
      const sent = await b.send(QUEUES.jobs, { tenantId, jobId: id } satisfies QueueData, {
        id: queueId,
        retryLimit: maxAttempts - 1,
        ...retryOptions(config.retry_delay_ms),
        expireInSeconds: expireInSeconds(timeoutMs),
        db: bossDb(tx),
      });
      if (sent === null) throw new Error(`the queue refused job ${id}`);
      return created;
    });
    workers?.loops[0].notify();
    return job;
  }

  /** Finishes a job (a guarded UPDATE) and, when it has a webhook, enqueues the delivery with it. */
  async function finish(b: PgBoss, update: (tx: SqlExecutor) => Promise<Job | undefined>): Promise<Job | undefined> {
    const job = await deps.db.transaction(async (tx) => {
      const finished = await update(tx);
      if (finished?.webhookUrl) {
        await b.send(QUEUES.webhooks, { tenantId: finished.tenantId, jobId: finished.id } satisfies QueueData, {
          retryLimit: config.webhook_max_attempts - 1,
          ...retryOptions(config.retry_delay_ms),
          expireInSeconds: Math.ceil(config.webhook_timeout_ms / 1000) + 60,
          db: bossDb(tx),
        });
      }
      return finished;
    });
    if (job?.webhookUrl) workers?.loops[1].notify();
    return job;
  }

  function notFound(id: string): GroundworkError {
    return new GroundworkError('JOB_NOT_FOUND', `no job with id "${id}"`, { details: { job_id: id } });
  }

  /** A try that lost its job leaves the queue alone, unless the job is finished (then the delivery is done too). */
  async function settleLost(b: PgBoss, delivery: Delivery, hold: Hold): Promise<void> {
    const job = await repo.get(hold.tenantId, hold.id);
    if (job && isTerminal(job.status)) await b.complete(QUEUES.jobs, delivery.id);
  }

  /**
   * Hands a try back at shutdown: queued again at once, and not failed (failing it would spend
   * a try, and dead-letter a job on its last one). Cancel + resume puts the queue entry back to
   * created, atomically with the row.
   */
  async function release(b: PgBoss, delivery: Delivery, hold: Hold): Promise<void> {
    await deps.db.transaction(async (tx) => {
      if (!(await repo.requeue(hold, undefined, undefined, tx))) return;
      await b.cancel(QUEUES.jobs, delivery.id, { db: bossDb(tx) });
      await b.resume(QUEUES.jobs, delivery.id, { db: bossDb(tx) });
    });
  }

  async function workJob(b: PgBoss, host: JobHost, logger: JobLogger, delivery: Delivery, shutdown: AbortSignal): Promise<void> {
    const { tenantId, jobId } = delivery.data;
    const job = await repo.claim(tenantId, jobId);
    // Finished already: cancelled while queued, or done by a try whose worker died before telling the queue.
    if (!job) return void (await b.complete(QUEUES.jobs, delivery.id));
    const hold: Hold = { tenantId, id: jobId, attempt: job.attempts };
    const fields = { job_id: jobId, tenant_id: tenantId, kind: job.kind, attempt: hold.attempt };
    const controller = new AbortController();
    const key = holdKey(tenantId, jobId);
    holds.set(key, { hold, controller });
    const timeoutMs = tryDeadline(job.timeoutMs);
    const deadline = setTimeout(() => controller.abort(TIMED_OUT), timeoutMs);
    // One controller per try; the loop's long-lived shutdown signal only forwards to it (a
    // listener removed when the try ends, where AbortSignal.any would keep every try's signal).
    const onShutdown = () => controller.abort(SHUTDOWN);
    if (shutdown.aborted) onShutdown();
    else shutdown.addEventListener('abort', onShutdown, { once: true });
    const signal = controller.signal;
    logger.info?.(fields, 'job started');
    try {
      const outcome = await untilAborted(runTry({ repo, runs: deps.runs, resolveTask: deps.resolveTask }, host, job, hold, signal), signal);
      if (await finish(b, (tx) => repo.succeed(tx, hold, outcome))) {
        await b.complete(QUEUES.jobs, delivery.id);
        logger.info?.({ ...fields, run_id: outcome.runId }, 'job succeeded');
      } else {
        await settleLost(b, delivery, hold);
      }
    } catch (cause) {
      const reason: unknown = signal.aborted ? signal.reason : undefined;
      // The canceller, or the newer try, owns the job (and its queue entry) now.
      if (reason === CANCELLED || reason === SUPERSEDED) return void logger.info?.({ ...fields, reason }, 'job try stopped');
      if (reason === SHUTDOWN) {
        await release(b, delivery, hold);
        return void logger.warn?.(fields, 'job released at shutdown');
      }
      if (reason !== TIMED_OUT && !(cause instanceof GroundworkError)) logger.error({ ...fields, err: cause }, 'job failed unexpectedly');
      const { error, retryable, runId } = toJobError(reason === TIMED_OUT ? timeoutError(timeoutMs, hold.attempt) : cause);
      if (retryable && delivery.retryCount < delivery.retryLimit) {
        if (await repo.requeue(hold, error, runId)) await b.fail(QUEUES.jobs, delivery.id, error);
        else await settleLost(b, delivery, hold);
        return void logger.warn?.({ ...fields, code: error.code }, 'job try failed; it will be retried');
      }
      if (!(await finish(b, (tx) => repo.fail(tx, hold, error, runId)))) return settleLost(b, delivery, hold);
      // Out of tries: the queue moves it to the dead-letter queue. A user error would fail the same way again.
      if (retryable) await b.fail(QUEUES.jobs, delivery.id, error);
      else await b.complete(QUEUES.jobs, delivery.id, { failed: error.code });
      logger.warn?.({ ...fields, code: error.code }, 'job failed');
    } finally {
      clearTimeout(deadline);
      shutdown.removeEventListener('abort', onShutdown);
      if (holds.get(key)?.hold === hold) holds.delete(key);
    }
  }

  /** Dead letters: a job the queue gave up on whose row never finished lost its last worker. */
  async function settleDeadLetter(b: PgBoss, logger: JobLogger, delivery: Delivery): Promise<void> {
    const { tenantId, jobId } = delivery.data;
    const lost = await finish(b, (tx) =>
      repo.failLost(tx, tenantId, jobId, {
        code: 'JOB_TIMEOUT',
        message: 'the job\u2019s last try never finished: its worker stopped responding (or shut down) and no tries are left',
        details: { reason: 'worker_lost' },
      }),
    );
    if (lost) logger.error({ job_id: jobId, tenant_id: tenantId, attempts: lost.attempts }, 'job lost on its last try: failed');
    await b.complete(QUEUES.jobsDead, delivery.id, { settled: true });
  }

  async function deliver(b: PgBoss, logger: JobLogger, delivery: Delivery): Promise<void> {
    const { tenantId, jobId } = delivery.data;
    const job = await repo.get(tenantId, jobId);
    if (!job?.webhookUrl) return void (await b.complete(QUEUES.webhooks, delivery.id));
    const attempts = delivery.retryCount + 1;
    try {
      const secret = await deps.webhookSecret(tenantId);
      const status = await deliverWebhook({
        url: job.webhookUrl,
        secret,
        rawBody: JSON.stringify({ job: deps.presentJob(job) }),
        timeoutMs: config.webhook_timeout_ms,
        policy: webhookPolicy,
        resolve: deps.resolveHost,
      });
      await repo.setWebhook(tenantId, jobId, { status: 'delivered', attempts, lastStatus: status, deliveredAt: new Date().toISOString() });
      await b.complete(QUEUES.webhooks, delivery.id);
    } catch (error) {
      const last = delivery.retryCount >= delivery.retryLimit;
      const message = error instanceof WebhookDeliveryError || error instanceof GroundworkError ? error.message : 'delivery failed';
      if (!(error instanceof WebhookDeliveryError)) logger.error({ job_id: jobId, err: error }, 'webhook delivery failed unexpectedly');
      await repo.setWebhook(tenantId, jobId, {
        status: last ? 'failed' : 'pending',
        attempts,
        ...(error instanceof WebhookDeliveryError && error.status !== undefined ? { lastStatus: error.status } : {}),
        lastError: message,
      });
      await b.fail(QUEUES.webhooks, delivery.id, { message });
      // The tenant sees the class of failure; the network detail (addresses, errno) stays in this log.
      const reason = error instanceof WebhookDeliveryError ? error.detail : undefined;
      logger.warn?.(
        { job_id: jobId, attempts, last, error: message, ...(reason ? { reason } : {}) },
        last ? 'webhook delivery failed for good' : 'webhook delivery failed; it will be retried',
      );
    }
  }

  /**
   * Embedded mode, first start of this process: the data-folder lock says no other process
   * uses this database, so tries still active in the queue belonged to a predecessor that died
   * (SIGKILL, power loss). Hand them back now rather than after their expiry (timeout + grace).
   */
  async function recoverEmbedded(b: PgBoss, logger: JobLogger): Promise<void> {
    const names = [QUEUES.jobs, QUEUES.webhooks, QUEUES.jobsDead];
    const active = await deps.db.query<{ id: string; name: string }>(
      `SELECT id, name FROM ${deps.queueSchema}.job WHERE name = ANY($1::text[]) AND state = 'active'`,
      [names],
    );
    if (active.length === 0) return;
    await deps.db.transaction(async (tx) => {
      // Across tenants on purpose: this is the process's own recovery, not a tenant's request.
      await tx.query(`UPDATE jobs SET status = 'queued', revision = revision + 1, updated_at = clock_timestamp() WHERE status = 'running'`);
      for (const name of names) {
        const ids = active.filter((row) => row.name === name).map((row) => row.id);
        if (ids.length === 0) continue;
        await b.cancel(name, ids, { db: bossDb(tx) });
        await b.resume(name, ids, { db: bossDb(tx) });
      }
    });
    logger.warn?.({ deliveries: active.length }, 'recovered the jobs a previous process left running');
  }

  /** Aborts local tries whose job was cancelled or taken over elsewhere (another replica, a newer try). */
  let checking = false;
  async function checkHolds(): Promise<void> {
    if (checking || holds.size === 0) return;
    checking = true;
    try {
      for (const lost of await repo.lost([...holds.values()].map((h) => h.hold))) {
        const held = holds.get(holdKey(lost.tenantId, lost.id));
        if (held && held.hold.attempt === lost.attempt) held.controller.abort(lost.status === 'cancelled' ? CANCELLED : SUPERSEDED);
      }
    } catch (error) {
      logError(error);
    } finally {
      checking = false;
    }
  }

  /**
   * Stops working jobs: no new fetches; tries in flight get `timeoutMs` to finish, then are
   * aborted and released to the queue for another worker.
   */
  async function stop(options: { timeoutMs?: number } = {}): Promise<void> {
    const running = workers;
    workers = undefined;
    if (!running) return;
    clearInterval(running.poll);
    await Promise.all(running.loops.map((loop) => loop.stop(options.timeoutMs ?? 0)));
  }

  return {
    /** Queues a run of a task (its active version unless `version`); the input is checked now. */
    async enqueueTaskRun(tenantId: string, params: { task: string; version?: string; input: unknown } & EnqueueOptions): Promise<Job> {
      const task = await deps.resolveTask(tenantId, params.task, params.version);
      // The run checks it again; checking now answers a bad input with a 400, not a failed job.
      task.checkInput(params.input);
      return enqueue(tenantId, 'task_run', { task: task.name, version: task.version, input: params.input }, params);
    },

    /** Queues an ingestion of text documents into an existing collection. */
    async enqueueIngest(tenantId: string, params: { collection: string; documents: IngestDocument[] } & EnqueueOptions): Promise<Job> {
      if (params.documents.length === 0) {
        throw new GroundworkError('REQUEST_INVALID_BODY', 'an ingestion job needs at least one document', {
          details: { issues: [{ path: 'documents', message: 'empty' }] },
        });
      }
      const documents = checkedSources(params.documents);
      await deps.checkCollection(tenantId, params.collection);
      return enqueue(tenantId, 'ingest', { collection: params.collection, documents }, params);
    },

    async enqueueEval(tenantId: string, params: EvalRequest & EnqueueOptions): Promise<Job> {
      const pinned = await deps.checkEval(tenantId, params);
      const payload: EvalPayload = {
        task: params.task,
        version: pinned.version,
        baseline: params.baseline ?? 'active',
        dataset: params.dataset,
        datasetVersion: pinned.datasetVersion,
        gate: params.gate ?? false,
        ...(params.trials === undefined ? {} : { trials: params.trials }),
        ...(params.concurrency === undefined ? {} : { concurrency: params.concurrency }),
        ...(params.maxCostUsd === undefined ? {} : { maxCostUsd: params.maxCostUsd }),
        ...(params.promote ? { promote: true } : {}),
      };
      return enqueue(tenantId, 'eval', payload, params);
    },

    async stats() {
      const rows = await deps.db.query<{ status: string; n: number; oldest: number | null }>(
        `SELECT status, count(*)::int AS n, extract(epoch FROM clock_timestamp() - min(created_at))::float8 AS oldest
           FROM jobs GROUP BY status`,
      );
      const byStatus = Object.fromEntries(rows.map((row) => [row.status, row.n]));
      const queued = rows.find((row) => row.status === 'queued');
      return { byStatus, oldestQueuedSeconds: Number(queued?.oldest ?? 0), deadLetters: byStatus.failed ?? 0 };
    },

    async get(tenantId: string, id: string): Promise<Job> {
      const job = await repo.get(tenantId, id);
      if (!job) throw notFound(id);
      return job;
    },

    /** Newest first. */
    list: (tenantId: string, query: JobListQuery): Promise<Job[]> => repo.list(tenantId, query),

    /**
     * Cancels a queued job (never delivered) or a running one (its try is aborted here, or by
     * its worker within about HOLD_POLL_MS). A finished job: JOB_ALREADY_FINISHED.
     */
    async cancel(tenantId: string, id: string): Promise<Job> {
      const b = await boss();
      const cancelled = await finish(b, (tx) => repo.cancel(tx, tenantId, id));
      if (!cancelled) {
        const job = await repo.get(tenantId, id);
        if (!job) throw notFound(id);
        throw new GroundworkError('JOB_ALREADY_FINISHED', `job "${id}" already ${job.status}; only queued or running jobs can be cancelled`, {
          details: { job_id: id, status: job.status },
        });
      }
      await b.cancel(QUEUES.jobs, cancelled.queueId);
      holds.get(holdKey(tenantId, id))?.controller.abort(CANCELLED);
      return cancelled;
    },

    /** The job now and after every change (read from the database: works across replicas); ends once it is finished. */
    async *watch(tenantId: string, id: string, signal?: AbortSignal): AsyncGenerator<Job> {
      let revision = -1;
      while (!closed && !signal?.aborted) {
        const job = await repo.get(tenantId, id);
        if (!job) {
          if (revision < 0) throw notFound(id);
          return;
        }
        if (job.revision !== revision) {
          revision = job.revision;
          yield job;
        }
        if (isTerminal(job.status)) return;
        await abortableSleep(WATCH_POLL_MS, signal);
      }
    },

    /** Starts working jobs in this process, through `host` (the app: metered runs, ingestion). */
    async start(host: JobHost, options: StartOptions = {}): Promise<void> {
      if (workers) return;
      const b = await boss();
      if (workers) return;
      const logger = options.logger ?? deps.logger;
      if (!startedOnce && deps.db.kind === 'embedded') await recoverEmbedded(b, logger);
      startedOnce = true;
      if (workers) return;
      const concurrency = options.concurrency ?? config.concurrency;
      const fetch = (name: string) => (batchSize: number) => b.fetch<QueueData>(name, { batchSize, includeMetadata: true });
      const onError = (error: unknown) => logger.error({ err: error }, 'job worker error');
      workers = {
        loops: [
          startWorkLoop<Delivery>({
            fetch: fetch(QUEUES.jobs),
            handle: (d, s) => workJob(b, host, logger, d, s),
            concurrency,
            pollIntervalMs: config.poll_interval_ms,
            onError,
          }),
          startWorkLoop<Delivery>({
            fetch: fetch(QUEUES.webhooks),
            handle: (d) => deliver(b, logger, d),
            concurrency,
            pollIntervalMs: config.poll_interval_ms,
            onError,
          }),
          startWorkLoop<Delivery>({
            fetch: fetch(QUEUES.jobsDead),
            handle: (d) => settleDeadLetter(b, logger, d),
            concurrency: 1,
            pollIntervalMs: config.poll_interval_ms,
            onError,
          }),
        ],
        poll: setInterval(() => void checkHolds(), HOLD_POLL_MS),
      };
      workers.poll.unref();
    },

    stop,

    /** Stops working (in-flight tries are released at once) and stops the queue. */
    async close(): Promise<void> {
      await stop({ timeoutMs: 0 });
      closed = true;
      const started = queue;
      queue = undefined;
      const b = await started?.catch(() => undefined);
      await b?.stop({ graceful: false, close: false });
    },
  };
}

/**
 * An ingestion job's documents with their sources sanitised as every upload's are: a refused
 * source, or two documents with the same source (one would silently replace the other, one
 * document at a time), is a typed 400 now rather than a surprise when the job runs.
 */
function checkedSources(documents: IngestDocument[]): IngestDocument[] {
  const issues: Array<{ path: string; message: string }> = [];
  const seen = new Map<string, number>();
  const checked = documents.map((document, i) => {
    const sanitized = sanitizeSource(document.source);
    if (!sanitized.ok) {
      issues.push({ path: `body/documents/${i}/source`, message: sanitized.problem });
      return document;
    }
    const first = seen.get(sanitized.source);
    if (first !== undefined) issues.push({ path: `body/documents/${i}/source`, message: `the same source as documents/${first} ("${sanitized.source}")` });
    else seen.set(sanitized.source, i);
    return { ...document, source: sanitized.source };
  });
  if (issues.length > 0) {
    throw new GroundworkError('REQUEST_INVALID_BODY', `an ingestion job's documents are invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
      details: { issues },
    });
  }
  return checked;
}
