import type { EvalCase } from './dataset.js';
import type { CaseTrial } from './scorecard.js';
import { scoreCase, type CaseResult, type Scorer } from './scorers.js';

/**
 * Runs a dataset's cases, each `trials` times, at most `concurrency` at once, and scores each
 * trial as it finishes. What one trial means (run a task version on the case's input, turn
 * its outcome into a CaseResult) is the caller's `runCase`: this knows only cases, trials,
 * concurrency, the budget and progress. A trial that throws is recorded as an error trial
 * (scored on nothing but latency and cost), never lost.
 */

export interface RunCasesOptions {
  cases: readonly EvalCase[];
  scorers: readonly Scorer[];
  runCase: (testCase: EvalCase, trial: number, signal: AbortSignal) => Promise<CaseResult>;
  /** Runs of each case (default 1): pass^k needs k. */
  trials?: number;
  /** Trials in flight at once (default 4). */
  concurrency?: number;
  /**
   * Stop starting trials once what was spent, plus what trials in flight may still spend, plus
   * the next trial's estimate would pass this. Trials already running finish and count.
   */
  maxCostUsd?: number;
  /** A trial's cost before it runs; default: the dearest trial so far (0 before the first). */
  estimateCostUsd?: (testCase: EvalCase) => number;
  onProgress?: (progress: Progress) => void;
  signal?: AbortSignal;
}

export interface Progress {
  done: number;
  total: number;
  spentUsd: number;
}

export interface RunCasesResult {
  /** In dataset order, then trial order: the same dataset gives the same order however trials interleave. */
  trials: CaseTrial[];
  /** Why not every trial ran. */
  stopped?: 'budget' | 'aborted';
  spentUsd: number;
  planned: number;
}

/** What `--dry-run` prints: the calls an eval would make and, given a per-trial estimate, its cost. */
export function planEval(
  cases: readonly EvalCase[],
  trials: number,
  estimateCostUsd: (testCase: EvalCase) => number,
): { trials: number; estimatedUsd: number } {
  let estimatedUsd = 0;
  for (const testCase of cases) estimatedUsd += estimateCostUsd(testCase) * trials;
  return { trials: cases.length * trials, estimatedUsd };
}

export async function runCases(options: RunCasesOptions): Promise<RunCasesResult> {
  const trialsPerCase = options.trials ?? 1;
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(trialsPerCase) || trialsPerCase < 1) throw new RangeError('trials must be a whole number ≥ 1');
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new RangeError('concurrency must be a whole number ≥ 1');
  const queue: Array<{ index: number; testCase: EvalCase; trial: number }> = [];
  options.cases.forEach((testCase, index) => {
    for (let trial = 0; trial < trialsPerCase; trial++) queue.push({ index, testCase, trial });
  });
  const total = queue.length;
  const finished: Array<{ order: number; trial: CaseTrial }> = [];
  let spentUsd = 0;
  let heldUsd = 0;
  let dearest = 0;
  let stopped: RunCasesResult['stopped'];
  const controller = new AbortController();
  const onAbort = () => controller.abort(options.signal?.reason);
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const estimate = (testCase: EvalCase) => options.estimateCostUsd?.(testCase) ?? dearest;

  const worker = async (): Promise<void> => {
    for (;;) {
      if (controller.signal.aborted) {
        stopped ??= 'aborted';
        return;
      }
      const next = queue[0];
      if (!next) return;
      const hold = estimate(next.testCase);
      if (options.maxCostUsd !== undefined && spentUsd + heldUsd + hold > options.maxCostUsd + 1e-12) {
        stopped ??= 'budget';
        return;
      }
      queue.shift();
      heldUsd += hold;
      const started = performance.now();
      let result: CaseResult;
      try {
        result = await options.runCase(next.testCase, next.trial, controller.signal);
      } catch (error) {
        result = { status: 'error', latencyMs: performance.now() - started, costUsd: 0, error: describe(error) };
      }
      heldUsd -= hold;
      // The judge's verdict is paid from the same budget as the run it judged.
      const cost = result.costUsd + (result.judge?.costUsd ?? 0);
      spentUsd += cost;
      dearest = Math.max(dearest, cost);
      finished.push({
        order: next.index * trialsPerCase + next.trial,
        trial: {
          caseId: next.testCase.id,
          weight: next.testCase.weight,
          trial: next.trial,
          result,
          scores: scoreCase(options.scorers, next.testCase, result),
        },
      });
      options.onProgress?.({ done: finished.length, total, spentUsd });
    }
  };

  try {
    await Promise.all(Array.from({ length: Math.min(concurrency, Math.max(total, 1)) }, worker));
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  finished.sort((a, b) => a.order - b.order);
  return { trials: finished.map((f) => f.trial), stopped: finished.length < total ? (stopped ?? 'aborted') : undefined, spentUsd, planned: total };
}

function describe(error: unknown): { code: string; message: string } {
  const code =
    typeof error === 'object' && error !== null && typeof (error as { code?: unknown }).code === 'string' ? (error as { code: string }).code : 'INTERNAL';
  return { code, message: error instanceof Error ? error.message : String(error) };
}
