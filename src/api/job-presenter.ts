import { evalIdOf, type Job, type JobError, type JobKind, type JobProgress, type JobStatus } from '../jobs/types.js';
import type { RunOutcome } from '../tasks/run-task.js';
import { presentRunOutcome } from './presenters.js';

/**
 * A job as the HTTP API and webhooks show it (snake_case; the payload summarized, not echoed).
 * The one presenter of jobs: the job service gets it to sign webhook payloads with.
 */
export interface JobJson {
  id: string;
  kind: JobKind;
  status: JobStatus;
  task?: string;
  task_version?: string;
  collection?: string;
  documents?: number;
  dataset?: string;
  eval_id?: string;
  progress: JobProgress | null;
  result?: unknown;
  error?: JobError;
  attempts: number;
  max_attempts: number;
  timeout_ms: number;
  webhook_url?: string;
  webhook?: { status: 'pending' | 'delivered' | 'failed'; attempts: number; last_status?: number; last_error?: string; delivered_at?: string };
  run_id?: string;
  created_at: string;
  updated_at: string;
  started_at?: string;
  finished_at?: string;
}

export function presentJob(job: Job): JobJson {
  return {
    id: job.id,
    kind: job.kind,
    status: job.status,
    ...(job.kind === 'task_run'
      ? { task: job.payload.task, task_version: job.payload.version }
      : job.kind === 'eval'
        ? { task: job.payload.task, task_version: job.payload.version, dataset: job.payload.dataset, eval_id: evalIdOf(job.id) }
        : { collection: job.payload.collection, documents: job.payload.documents.length }),
    progress: job.progress ?? null,
    ...(job.result !== undefined ? { result: presentResult(job) } : {}),
    ...(job.error ? { error: job.error } : {}),
    attempts: job.attempts,
    max_attempts: job.maxAttempts,
    timeout_ms: job.timeoutMs,
    ...(job.webhookUrl ? { webhook_url: job.webhookUrl } : {}),
    ...(job.webhook
      ? {
          webhook: {
            status: job.webhook.status,
            attempts: job.webhook.attempts,
            ...(job.webhook.lastStatus !== undefined ? { last_status: job.webhook.lastStatus } : {}),
            ...(job.webhook.lastError !== undefined ? { last_error: job.webhook.lastError } : {}),
            ...(job.webhook.deliveredAt !== undefined ? { delivered_at: job.webhook.deliveredAt } : {}),
          },
        }
      : {}),
    ...(job.runId ? { run_id: job.runId } : {}),
    created_at: job.createdAt.toISOString(),
    updated_at: job.updatedAt.toISOString(),
    ...(job.startedAt ? { started_at: job.startedAt.toISOString() } : {}),
    ...(job.finishedAt ? { finished_at: job.finishedAt.toISOString() } : {}),
  };
}

/** A task job's result is its run's outcome, presented like a synchronous run's answer; an ingestion's is its per-document outcomes. */
function presentResult(job: Job): unknown {
  const result = job.result as Partial<RunOutcome> | undefined;
  // Results stored before outcomes were domain objects are already in the wire shape (run_id).
  if (job.kind === 'task_run' && result && typeof result === 'object' && typeof result.runId === 'string') return presentRunOutcome(result as RunOutcome);
  return job.result;
}
