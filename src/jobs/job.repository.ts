import { jsonParam } from '../store/json-param.js';
import type { SqlExecutor } from '../store/ports.js';
import type { Job, JobError, JobListQuery, JobProgress, JobStatus, WebhookState } from './types.js';

/**
 * The `jobs` table. Every method takes the tenant first. A try owns a job through its attempt
 * number: claim bumps it, and every later write of that try is guarded by
 * `status = 'running' AND attempts = <attempt>`, so a try that lost the job (cancelled, or
 * delivered again after its worker was presumed dead) can no longer change it.
 */

const MAX_LIST_LIMIT = 500;
const COLUMNS = `tenant_id, id, kind, status, payload, progress, result, error, attempts, max_attempts, timeout_ms,
  webhook_url, webhook, key_id, run_id, queue_id, revision, created_at, updated_at, started_at, finished_at`;
// Set on the transition to a terminal state: a job with a webhook owes one delivery.
const WEBHOOK_PENDING = `webhook = CASE WHEN webhook_url IS NULL THEN NULL ELSE '{"status":"pending","attempts":0}'::jsonb END`;
const TOUCH = 'revision = revision + 1, updated_at = clock_timestamp()';

interface JobRow {
  tenant_id: string;
  id: string;
  kind: Job['kind'];
  status: JobStatus;
  payload: Job['payload'];
  progress: JobProgress | null;
  result: unknown;
  error: JobError | null;
  attempts: number;
  max_attempts: number;
  timeout_ms: number;
  webhook_url: string | null;
  webhook: WebhookState | null;
  key_id: string | null;
  run_id: string | null;
  queue_id: string;
  revision: number;
  created_at: Date;
  updated_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
}

export interface NewJob {
  id: string;
  kind: Job['kind'];
  payload: Job['payload'];
  maxAttempts: number;
  timeoutMs: number;
  webhookUrl?: string;
  keyId?: string;
  queueId: string;
}

/** A try's hold on a job: the guard of every write it makes. */
export interface Hold {
  tenantId: string;
  id: string;
  attempt: number;
}

export type JobRepository = ReturnType<typeof createJobRepository>;

export function createJobRepository(db: SqlExecutor) {
  const one = async (executor: SqlExecutor, sql: string, params: unknown[]): Promise<Job | undefined> => {
    const rows = await executor.query<JobRow>(sql, params);
    return rows[0] ? toJob(rows[0]) : undefined;
  };

  return {
    async insert(executor: SqlExecutor, tenantId: string, job: NewJob): Promise<Job> {
      const created = await one(
        executor,
        `INSERT INTO jobs (tenant_id, id, kind, status, payload, max_attempts, timeout_ms, webhook_url, key_id, queue_id)
         VALUES ($1, $2, $3, 'queued', $4::jsonb, $5, $6, $7, $8, $9::uuid)
         RETURNING ${COLUMNS}`,
        [tenantId, job.id, job.kind, jsonParam(job.payload), job.maxAttempts, job.timeoutMs, job.webhookUrl ?? null, job.keyId ?? null, job.queueId],
      );
      return created!;
    },

    get(tenantId: string, id: string, executor: SqlExecutor = db): Promise<Job | undefined> {
      return one(executor, `SELECT ${COLUMNS} FROM jobs WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
    },

    /** Newest first. */
    async list(tenantId: string, query: JobListQuery): Promise<Job[]> {
      const params: unknown[] = [tenantId];
      const where = ['tenant_id = $1'];
      if (query.status !== undefined) where.push(`status = $${params.push(query.status)}`);
      if (query.kind !== undefined) where.push(`kind = $${params.push(query.kind)}`);
      if (query.before !== undefined) where.push(`id < $${params.push(query.before)}`);
      const limit = Math.min(Math.max(Math.trunc(query.limit) || 1, 1), MAX_LIST_LIMIT);
      const rows = await db.query<JobRow>(`SELECT ${COLUMNS} FROM jobs WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ${limit}`, params);
      return rows.map(toJob);
    },

    /** Starts a try: queued (or running, when its last worker died) → running; undefined when the job is finished. */
    claim(tenantId: string, id: string): Promise<Job | undefined> {
      return one(
        db,
        `UPDATE jobs SET status = 'running', attempts = attempts + 1, progress = NULL,
                started_at = coalesce(started_at, clock_timestamp()), ${TOUCH}
          WHERE tenant_id = $1 AND id = $2 AND status IN ('queued', 'running')
          RETURNING ${COLUMNS}`,
        [tenantId, id],
      );
    },

    async progress(hold: Hold, progress: JobProgress): Promise<boolean> {
      const rows = await db.query(
        `UPDATE jobs SET progress = $4::jsonb, ${TOUCH}
          WHERE tenant_id = $1 AND id = $2 AND status = 'running' AND attempts = $3 RETURNING 1`,
        [hold.tenantId, hold.id, hold.attempt, jsonParam(progress)],
      );
      return rows.length === 1;
    },

    succeed(executor: SqlExecutor, hold: Hold, params: { result: unknown; runId?: string; progress?: JobProgress }): Promise<Job | undefined> {
      return one(
        executor,
        `UPDATE jobs SET status = 'succeeded', result = $4::jsonb, error = NULL, run_id = coalesce($5, run_id),
                progress = coalesce($6::jsonb, progress), finished_at = clock_timestamp(), ${WEBHOOK_PENDING}, ${TOUCH}
          WHERE tenant_id = $1 AND id = $2 AND status = 'running' AND attempts = $3
          RETURNING ${COLUMNS}`,
        [hold.tenantId, hold.id, hold.attempt, jsonParam(params.result ?? null), params.runId ?? null, params.progress ? jsonParam(params.progress) : null],
      );
    },

    /** The try's last failure: the job is finished, failed with this error. */
    fail(executor: SqlExecutor, hold: Hold, error: JobError, runId?: string): Promise<Job | undefined> {
      return one(
        executor,
        `UPDATE jobs SET status = 'failed', error = $4::jsonb, run_id = coalesce($5, run_id),
                finished_at = clock_timestamp(), ${WEBHOOK_PENDING}, ${TOUCH}
          WHERE tenant_id = $1 AND id = $2 AND status = 'running' AND attempts = $3
          RETURNING ${COLUMNS}`,
        [hold.tenantId, hold.id, hold.attempt, jsonParam(error), runId ?? null],
      );
    },

    /** The try failed (or was released) and the job waits for another: running → queued, keeping the error. */
    async requeue(hold: Hold, error: JobError | undefined, runId?: string, executor: SqlExecutor = db): Promise<boolean> {
      const rows = await executor.query(
        `UPDATE jobs SET status = 'queued', error = coalesce($4::jsonb, error), run_id = coalesce($5, run_id), ${TOUCH}
          WHERE tenant_id = $1 AND id = $2 AND status = 'running' AND attempts = $3 RETURNING 1`,
        [hold.tenantId, hold.id, hold.attempt, error ? jsonParam(error) : null, runId ?? null],
      );
      return rows.length === 1;
    },

    /** Cancels a queued or running job; undefined when it does not exist or is already finished. */
    cancel(executor: SqlExecutor, tenantId: string, id: string): Promise<Job | undefined> {
      return one(
        executor,
        `UPDATE jobs SET status = 'cancelled', finished_at = clock_timestamp(), ${WEBHOOK_PENDING}, ${TOUCH}
          WHERE tenant_id = $1 AND id = $2 AND status IN ('queued', 'running')
          RETURNING ${COLUMNS}`,
        [tenantId, id],
      );
    },

    /** The queue gave up on a job (dead letter) whose row never finished: its last worker died. */
    failLost(executor: SqlExecutor, tenantId: string, id: string, error: JobError): Promise<Job | undefined> {
      return one(
        executor,
        `UPDATE jobs SET status = 'failed', error = $3::jsonb, finished_at = clock_timestamp(), ${WEBHOOK_PENDING}, ${TOUCH}
          WHERE tenant_id = $1 AND id = $2 AND status IN ('queued', 'running')
          RETURNING ${COLUMNS}`,
        [tenantId, id, jsonParam(error)],
      );
    },

    /** Of these holds, the ones that lost their job (cancelled, or claimed by a newer try), with the job's status. */
    async lost(holds: Hold[]): Promise<Array<Hold & { status: JobStatus }>> {
      if (holds.length === 0) return [];
      const rows = await db.query<{ tenant_id: string; id: string; status: JobStatus; attempts: number }>(
        `SELECT j.tenant_id, j.id, j.status, j.attempts
           FROM jobs j
           JOIN unnest($1::text[], $2::text[], $3::int[]) AS h(tenant_id, id, attempt) ON j.tenant_id = h.tenant_id AND j.id = h.id
          WHERE j.status <> 'running' OR j.attempts <> h.attempt`,
        [holds.map((h) => h.tenantId), holds.map((h) => h.id), holds.map((h) => h.attempt)],
      );
      const attemptOf = new Map(holds.map((h) => [`${h.tenantId}\u0000${h.id}`, h.attempt]));
      return rows.map((r) => ({ tenantId: r.tenant_id, id: r.id, attempt: attemptOf.get(`${r.tenant_id}\u0000${r.id}`) ?? 0, status: r.status }));
    },

    /** Webhook delivery bookkeeping; not a change of the job itself (no revision bump). */
    async setWebhook(tenantId: string, id: string, state: WebhookState): Promise<void> {
      await db.query(`UPDATE jobs SET webhook = $3::jsonb WHERE tenant_id = $1 AND id = $2 AND webhook_url IS NOT NULL`, [tenantId, id, jsonParam(state)]);
    },
  };
}

function toJob(row: JobRow): Job {
  return {
    tenantId: row.tenant_id,
    id: row.id,
    kind: row.kind,
    status: row.status,
    payload: row.payload,
    ...(row.progress ? { progress: row.progress } : {}),
    ...(row.result !== null && row.result !== undefined ? { result: row.result } : {}),
    ...(row.error ? { error: row.error } : {}),
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    timeoutMs: row.timeout_ms,
    ...(row.webhook_url ? { webhookUrl: row.webhook_url } : {}),
    ...(row.webhook ? { webhook: row.webhook } : {}),
    ...(row.key_id ? { keyId: row.key_id } : {}),
    ...(row.run_id ? { runId: row.run_id } : {}),
    queueId: row.queue_id,
    revision: row.revision,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    ...(row.started_at ? { startedAt: row.started_at } : {}),
    ...(row.finished_at ? { finishedAt: row.finished_at } : {}),
  } as Job;
}
