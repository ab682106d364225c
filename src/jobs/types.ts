import type { TextDocument } from '../ingest/text-documents.js';
/**
 * Job contracts: what a job is (its kind, payload and status), shared by the service, the
 * worker, the webhook sender and the HTTP routes. Times are Dates; the HTTP shape is snake_case
 * (present.ts).
 */

export type JobKind = 'task_run' | 'ingest' | 'eval';
export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export const JOB_STATUSES: readonly JobStatus[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
export const JOB_KINDS: readonly JobKind[] = ['task_run', 'ingest', 'eval'];

/** A job in one of these states will not change again. */
export function isTerminal(status: JobStatus): boolean {
  return status === 'succeeded' || status === 'failed' || status === 'cancelled';
}

/** The typed error a job failed with (or its last try failed with, while it waits to retry). */
export interface JobError {
  code: string;
  message: string;
  details: Record<string, unknown>;
}

/** How far a running job is: `done` of `total` units (documents for ingestion, the run for a task run). */
export interface JobProgress {
  done: number;
  total: number;
}

/** A task run: the version is pinned when the job is created, so a later push changes nothing. */
export interface TaskRunPayload {
  task: string;
  version: string;
  input: unknown;
}

/** One text document of an ingestion job (the JSON body of the documents route). */
export type IngestDocument = TextDocument;

export interface IngestPayload {
  collection: string;
  documents: IngestDocument[];
}

/**
 * An eval: a dataset version through a task version (both pinned when the job is created) and
 * its baseline. Its record (the `evals` row, id evalIdOf(job id)) holds the report; `promote`
 * asks for the version to be promoted when its gate passes (serve's start-up candidates).
 */
export interface EvalPayload {
  task: string;
  version: string;
  /** 'active' (as it is when the try runs), 'none', or a version. */
  baseline: string;
  dataset: string;
  datasetVersion: string;
  gate: boolean;
  trials?: number;
  concurrency?: number;
  maxCostUsd?: number;
  promote?: boolean;
}

/** What an eval job is asked to run: EvalPayload before the version and dataset are pinned. */
export interface EvalRequest {
  task: string;
  /** Default: the active version (pinned at creation). */
  version?: string;
  baseline?: string;
  dataset: string;
  gate?: boolean;
  trials?: number;
  concurrency?: number;
  maxCostUsd?: number;
  promote?: boolean;
}

/** The id of an eval job's record: `eval_<job id body>` (a try delivered again records under it again). */
export function evalIdOf(jobId: string): string {
  return `eval_${jobId.replace(/^job_/, '')}`;
}

/** Delivery state of a job's completion webhook. */
export interface WebhookState {
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  lastStatus?: number;
  lastError?: string;
  deliveredAt?: string;
}

interface JobBase {
  tenantId: string;
  id: string;
  status: JobStatus;
  progress?: JobProgress;
  result?: unknown;
  error?: JobError;
  /** Tries started so far (a try re-delivered after its worker died counts again). */
  attempts: number;
  maxAttempts: number;
  /** Deadline of one try. */
  timeoutMs: number;
  webhookUrl?: string;
  webhook?: WebhookState;
  /** The API key that created the job (metering and usage by key). */
  keyId?: string;
  /** The run of the last try (task runs). */
  runId?: string;
  /** The queue's id for this job (pg-boss). */
  queueId: string;
  /** Bumped by every status or progress change. */
  revision: number;
  createdAt: Date;
  updatedAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
}

export type Job = JobBase &
  ({ kind: 'task_run'; payload: TaskRunPayload } | { kind: 'ingest'; payload: IngestPayload } | { kind: 'eval'; payload: EvalPayload });

export interface JobListQuery {
  status?: JobStatus;
  kind?: JobKind;
  limit: number;
  /** Jobs with id < before (ids sort by time): keyset pagination. */
  before?: string;
}

/** Options every enqueue takes. */
export interface EnqueueOptions {
  /** http(s) URL told `{ job }` when the job finishes (signed: see webhooks.ts). */
  webhookUrl?: string;
  /** The API key creating the job. */
  keyId?: string;
  /** Tries before the job fails for good (default config.jobs.max_attempts). */
  maxAttempts?: number;
  /** Deadline of one try (default config.jobs.timeout_ms). */
  timeoutMs?: number;
}
