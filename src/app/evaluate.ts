import { GroundworkError } from '../kernel/errors.js';
import { parseDataset } from '../evals/dataset.js';
import { evaluateGate, parseGate } from '../evals/gate.js';
import type { EvalReport } from '../evals/report.js';
import { runCases, type Progress } from '../evals/runner.js';
import { buildScorecard, compare } from '../evals/scorecard.js';
import { defaultScorers } from '../evals/scorers.js';
import { checkCaseInputs, taskCaseRunner } from '../evals/task-cases.js';
import type { PreparedTask } from '../tasks/prepared-task.js';
import type { App } from './app.js';

/**
 * One eval, in-process: a dataset through a task version (the active one unless named) and,
 * when the version is not the active one, through the active version as its baseline, scored,
 * compared case by case and, when asked, judged by the gate in the version's definition.
 * Both versions share one cost budget. The outcome's exit code is the CLI's: 0 done (and the
 * gate passed), 1 the gate failed, 3 the eval could not finish (budget reached, aborted, or no
 * trial got an answer at all). Bad input throws its typed error before any model call.
 */

export interface EvaluateParams {
  tenantId: string;
  task: string;
  /** The version evaluated; default the active one. */
  version?: string;
  /** 'active' (the default: none when the version evaluated is the active one), 'none', or a version hash. */
  baseline?: string;
  dataset: { name: string; text: string; lenient?: boolean };
  trials?: number;
  concurrency?: number;
  maxCostUsd?: number;
  /** Judge the result by the definition's `eval.gate` (an error when it has none). */
  gate?: boolean;
  onProgress?: (side: 'candidate' | 'baseline', progress: Progress) => void;
  signal?: AbortSignal;
}

export interface EvaluateOutcome {
  report: EvalReport;
  exitCode: 0 | 1 | 3;
}

export async function evaluateTask(app: App, params: EvaluateParams): Promise<EvaluateOutcome> {
  const { tenantId } = params;
  const candidate = await app.tasks.resolve(tenantId, params.task, params.version);
  const baseline = await baselineOf(app, params, candidate);
  const dataset = parseDataset(params.dataset.text, { lenient: params.dataset.lenient });
  checkCaseInputs(candidate, dataset.cases);
  if (baseline) checkCaseInputs(baseline, dataset.cases);
  const settings = candidate.definition.eval;
  if (params.gate && !settings) {
    throw new GroundworkError(
      'EVAL_GATE_INVALID',
      `task "${candidate.name}" version ${candidate.version} declares no gate: add eval: { dataset, gate } to its definition`,
      {
        details: { task: candidate.name, version: candidate.version },
      },
    );
  }
  const gate = params.gate && settings ? parseGate(settings.gate) : undefined;
  const scorers = defaultScorers({ normalisers: settings?.normalisers, k: settings?.k });

  const evaluate = async (task: PreparedTask, side: 'candidate' | 'baseline', budget: number | undefined) =>
    runCases({
      cases: dataset.cases,
      scorers,
      trials: params.trials,
      concurrency: params.concurrency,
      maxCostUsd: budget,
      signal: params.signal,
      onProgress: (progress) => params.onProgress?.(side, progress),
      runCase: taskCaseRunner({
        tenantId,
        task,
        runTask: (run) => app.runTask(run),
        runCost: async (runId) => (await app.runs.get(tenantId, runId))?.costUsd,
      }),
    });

  const ran = await evaluate(candidate, 'candidate', params.maxCostUsd);
  const before =
    baseline && !ran.stopped ? await evaluate(baseline, 'baseline', params.maxCostUsd === undefined ? undefined : params.maxCostUsd - ran.spentUsd) : undefined;
  const scorecard = buildScorecard(ran.trials);
  const baselineScorecard = before ? buildScorecard(before.trials) : undefined;
  const comparison = before ? compare(ran.trials, before.trials) : undefined;
  const verdict = gate ? evaluateGate(gate, scorecard, baselineScorecard && comparison ? { scorecard: baselineScorecard, comparison } : undefined) : undefined;
  const stopped = ran.stopped ?? before?.stopped;
  const report: EvalReport = {
    task: candidate.name,
    version: candidate.version,
    baselineVersion: baseline?.version,
    dataset: { name: params.dataset.name, hash: dataset.hash },
    scorecard,
    trials: ran.trials,
    comparison,
    baselineScorecard,
    gate: verdict,
    stopped,
  };
  const unanswered = ran.trials.length > 0 && ran.trials.every((t) => t.result.status === 'error');
  return { report, exitCode: stopped || unanswered ? 3 : verdict && !verdict.passed ? 1 : 0 };
}

async function baselineOf(app: App, params: EvaluateParams, candidate: PreparedTask): Promise<PreparedTask | undefined> {
  const wanted = params.baseline ?? 'active';
  if (wanted === 'none') return undefined;
  const baseline = await app.tasks.resolve(params.tenantId, params.task, wanted === 'active' ? undefined : wanted);
  return baseline.version === candidate.version ? undefined : baseline;
}
