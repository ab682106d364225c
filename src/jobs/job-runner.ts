import type { Principal } from '../auth/principal.js';
import type { IngestFile, IngestOutcome } from '../ingest/pipeline.js';
import { GroundworkError, isGroundworkError } from '../kernel/errors.js';
import type { RunRecord, RunRepository } from '../store/ports.js';
import type { PreparedTask } from '../tasks/prepared-task.js';
import type { RunOutcome, RunTaskParams } from '../tasks/run-task.js';
import type { Hold, JobRepository } from './job.repository.js';
import { textDocumentFile } from '../ingest/text-documents.js';
import type { EvalPayload, Job, JobError, JobProgress } from './types.js';

/**
 * What one try of a job does, through the app: a task run (metered on behalf of the key that
 * created the job) or an ingestion, one document at a time with progress. Effects are keyed by
 * job id: a try's run id is derived from the job id and the attempt, so a try delivered again
 * after its worker died first looks for a successful run of an earlier try and, finding one,
 * finishes with it instead of running (and paying for) the task again.
 */

/** The parts of the app a worker runs jobs through (App satisfies it). */
export interface JobHost {
  runTaskAs(principal: Principal | undefined, params: Omit<RunTaskParams, 'meter' | 'keyId'>): Promise<RunOutcome>;
  ingest(tenantId: string, collection: string, files: IngestFile[], signal?: AbortSignal): Promise<IngestOutcome[]>;
  /** Runs and records an eval; `onProgress` with trials done of all planned. Its result is the job's. */
  runEval(
    job: { tenantId: string; id: string; keyId?: string; payload: EvalPayload },
    signal: AbortSignal,
    onProgress: (progress: JobProgress) => void,
  ): Promise<unknown>;
}

export interface JobRunnerDeps {
  repo: JobRepository;
  runs: Pick<RunRepository, 'get'>;
  resolveTask(tenantId: string, name: string, version?: string): Promise<PreparedTask>;
}

export interface TryOutcome {
  result: unknown;
  runId?: string;
  progress: JobProgress;
}

/** The run id of a job's try: `run_<job id body>_<attempt>` (ids of one job sort together). */
export function runIdFor(jobId: string, attempt: number): string {
  return `run_${jobId.replace(/^job_/, '')}_${attempt}`;
}

export async function runTry(deps: JobRunnerDeps, host: JobHost, job: Job, hold: Hold, signal: AbortSignal): Promise<TryOutcome> {
  if (job.kind === 'task_run') {
    const earlier = await earlierSuccess(deps, job, hold.attempt);
    if (earlier) return { result: resultOf(earlier), runId: earlier.id, progress: { done: 1, total: 1 } };
    const task = await deps.resolveTask(job.tenantId, job.payload.task, job.payload.version);
    const principal: Principal | undefined = job.keyId ? { tenantId: job.tenantId, keyId: job.keyId, role: 'runner' } : undefined;
    // Durable: a redelivered try must find the run this one made (earlierSuccess).
    const result = await host.runTaskAs(principal, {
      tenantId: job.tenantId,
      task,
      input: job.payload.input,
      signal,
      runId: runIdFor(job.id, hold.attempt),
      durable: true,
    });
    return { result, runId: result.runId, progress: { done: 1, total: 1 } };
  }

  if (job.kind === 'eval') {
    // An eval's record is keyed by its job: a try delivered again runs it again under the same id.
    let written = 0;
    let latest: JobProgress = { done: 0, total: 0 };
    const result = await host.runEval(job, signal, (progress) => {
      latest = progress;
      // Progress is written at most every tenth of the way: the job row is not a counter.
      if (progress.done === progress.total || progress.done - written >= Math.max(1, progress.total / 10)) {
        written = progress.done;
        deps.repo.progress(hold, progress).catch(() => undefined);
      }
    });
    return { result, progress: latest };
  }

  const { collection, documents } = job.payload;
  const results: IngestOutcome[] = [];
  await deps.repo.progress(hold, { done: 0, total: documents.length });
  // One document per call: progress after each, and a cancel stops between documents.
  // Re-ingesting a document an earlier try stored is skipped by its content hash.
  for (const [index, document] of documents.entries()) {
    if (signal.aborted) throw signal.reason;
    results.push(...(await host.ingest(job.tenantId, collection, [textDocumentFile(document)], signal)));
    await deps.repo.progress(hold, { done: index + 1, total: documents.length });
  }
  return { result: { results }, progress: { done: documents.length, total: documents.length } };
}

async function earlierSuccess(deps: JobRunnerDeps, job: Job, attempt: number): Promise<RunRecord | undefined> {
  for (let earlier = attempt - 1; earlier >= 1; earlier--) {
    const run = await deps.runs.get(job.tenantId, runIdFor(job.id, earlier));
    if (run?.status === 'ok') return run;
  }
  return undefined;
}

/** The run's outcome rebuilt from its record (a try that finds an earlier try's run). */
function resultOf(run: RunRecord): RunOutcome {
  return {
    runId: run.id,
    taskVersion: run.taskVersion,
    output: run.output,
    model: run.model ?? 'none',
    attempts: run.attempts.length,
    usage: { inputTokens: run.inputTokens, outputTokens: run.outputTokens, costUsd: run.costUsd },
    degraded: run.degraded,
    latencyMs: run.latencyMs,
    ...(run.grounding ? { grounding: run.grounding } : {}),
  };
}

/** The typed error a try failed with, and whether another try may help. */
export function toJobError(cause: unknown): { error: JobError; retryable: boolean; runId?: string } {
  if (isGroundworkError(cause)) {
    return { error: { code: cause.code, message: cause.message, details: cause.details }, retryable: cause.isRetryable, runId: cause.runId };
  }
  return { error: { code: 'INTERNAL', message: 'the job failed unexpectedly', details: {} }, retryable: true };
}

export function timeoutError(timeoutMs: number, attempt: number): GroundworkError {
  return new GroundworkError('JOB_TIMEOUT', `the job's try ${attempt} ran past its timeout of ${timeoutMs} ms`, {
    details: { timeout_ms: timeoutMs, attempt },
  });
}
