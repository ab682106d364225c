import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { GroundworkError, isGroundworkError } from '../kernel/errors.js';
import type { PushResult } from '../tasks/task-service.js';
import { evalIdOf, type EvalRequest, type JobHost } from '../jobs/index.js';
import type { App } from './app.js';
import { evaluateTask, planTaskEval, type EvalPlan } from './evaluate.js';

/**
 * Evals as durable jobs: checked (and their version and dataset version pinned) when they are
 * queued, run by a worker under the job's own eval id, and promoted when they were asked to be
 * and their gate passed. An eval that could not finish (no model answered, the budget) fails its
 * job with the typed reason; a gate that failed is a finished eval whose result says so.
 */

/** The plan of an eval as a job would run it (a dry run). */
export function planEvalRequest(app: App, tenantId: string, request: EvalRequest): Promise<EvalPlan> {
  return planTaskEval(app, {
    tenantId,
    task: request.task,
    version: request.version,
    baseline: request.baseline,
    dataset: { name: request.dataset },
    trials: request.trials,
    gate: request.gate,
  });
}

export async function checkEvalJob(app: App, tenantId: string, request: EvalRequest): Promise<{ version: string; datasetVersion: string }> {
  if (request.promote && !request.gate) {
    throw new GroundworkError('EVAL_GATE_INVALID', 'an eval job promotes only through its gate: set "gate" with "promote"', {
      details: { task: request.task },
    });
  }
  const plan = await planEvalRequest(app, tenantId, request);
  return { version: plan.version, datasetVersion: plan.dataset.hash };
}

export const runEvalJob = async (app: App, ...[job, signal, onProgress]: Parameters<JobHost['runEval']>): Promise<unknown> => {
  const { payload } = job;
  const actor = job.keyId ?? 'job';
  const evalId = evalIdOf(job.id);
  const { report, exitCode } = await evaluateTask(app, {
    tenantId: job.tenantId,
    task: payload.task,
    version: payload.version,
    baseline: payload.baseline,
    dataset: { name: payload.dataset, version: payload.datasetVersion },
    gate: payload.gate,
    trials: payload.trials,
    concurrency: payload.concurrency,
    maxCostUsd: payload.maxCostUsd,
    actor,
    evalId,
    signal,
    onOverallProgress: onProgress,
  });
  if (exitCode === 3) {
    const budget = report.stopped === 'budget';
    throw new GroundworkError(
      budget ? 'EVAL_BUDGET_REACHED' : 'EVAL_INCOMPLETE',
      budget ? `eval ${evalId} stopped before it would pass its budget of $${payload.maxCostUsd}` : `eval ${evalId} could not finish: no case got an answer`,
      { isRetryable: !budget, details: { eval_id: evalId } },
    );
  }
  // A promotion the release rules refuse (the dataset changed since, another release came first) leaves the eval done.
  const promotion =
    payload.promote && report.gate?.passed
      ? await app.releases.promote(job.tenantId, payload.task, { version: payload.version, actor }).then(
          (outcome) => ({ promoted: { active_version: outcome.activeVersion, release_seq: outcome.release?.seq ?? null } }),
          (error: unknown) => {
            if (!isGroundworkError(error)) throw error;
            return { promotion_refused: { code: error.code, message: error.message } };
          },
        )
      : {};
  return {
    eval_id: evalId,
    exit_code: exitCode,
    gate_passed: report.gate?.passed ?? null,
    pass_rate: report.scorecard.passRate,
    metrics: Object.fromEntries(Object.entries(report.scorecard.metrics).map(([name, m]) => [name, m.value])),
    cost_usd: report.scorecard.costUsd.total,
    ...promotion,
  };
};

/** Where start-up candidate evals report: a line per candidate, queued or left waiting. */
export interface CandidateLog {
  info(details: Record<string, unknown>, message: string): void;
  warn(details: Record<string, unknown>, message: string): void;
}

/**
 * The new versions of gated tasks that `serve` found in the task files at start wait as
 * candidates: each gets an eval job of its gate's dataset (the stored one, or the file
 * `evals/<dataset>.jsonl` beside the tasks folder, stored first) that promotes it when its gate
 * passes. A candidate whose dataset cannot be found waits, with a line saying what to do.
 */
export async function queueCandidateEvals(app: App, tenantId: string, pushed: readonly PushResult[], log: CandidateLog): Promise<void> {
  for (const result of pushed) {
    if (!result.candidate || !result.created) continue;
    const task = await app.tasks.resolve(tenantId, result.name, result.version);
    const dataset = task.definition.eval!.dataset;
    const where = { task: result.name, version: result.version, dataset };
    try {
      const file = join(dirname(resolve(app.config.tasksDir)), 'evals', `${dataset}.jsonl`);
      if (existsSync(file)) await app.evals.uploadDataset(tenantId, result.name, { name: dataset, jsonl: readFileSync(file, 'utf8') });
      const job = await app.jobs.enqueueEval(tenantId, { task: result.name, version: result.version, dataset, gate: true, promote: true });
      log.info(
        { ...where, job_id: job.id, eval_id: evalIdOf(job.id) },
        `candidate ${result.version} of "${result.name}": its gate eval is queued; it goes live if the gate passes`,
      );
    } catch (error) {
      const reason = isGroundworkError(error) ? `${error.code}: ${error.message}` : String(error);
      log.warn(
        where,
        `candidate ${result.version} of "${result.name}" waits: its gate eval could not be queued (${reason}); run groundwork eval ${result.name} --version ${result.version} --gate, then groundwork tasks promote ${result.name} ${result.version}`,
      );
    }
  }
}
