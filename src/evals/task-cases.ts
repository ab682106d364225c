import { isGroundworkError } from '../kernel/errors.js';
import { badLinesError, type EvalCase, type LineProblem } from './dataset.js';
import type { CaseResult } from './scorers.js';

/**
 * One eval trial as a task run: the case's input through the task version being evaluated,
 * its outcome as the scorers see it. Written against the narrow shape it needs of the task
 * runner (declared here, so evals imports nothing of tasks): a prepared version with its input
 * check, and a function that runs it.
 *
 * Outcomes: an answer → ok; TASK_ABSTAINED → abstained; MODEL_ALL_TIERS_FAILED (some tier
 * answered, nothing validated) → invalid_output, a quality result; TASK_UNGROUNDED (no verified
 * citation) → invalid_output with no verified citation; anything else (no model reachable, the
 * deadline, a cancel) → an error trial with its code. A failed run's cost comes from its record.
 */

export interface EvaluatedTask {
  readonly name: string;
  readonly version: string;
  /** Throws the typed refusal of an input (TASK_INPUT_INVALID, REQUEST_TOO_DEEP). */
  checkInput(input: unknown): void;
}

export interface TaskRunResult {
  runId?: string;
  output: unknown;
  latencyMs: number;
  usage: { costUsd: number };
  /** Grounded runs: citations_proposed, citations_verified, … (grounding/ask.ts GroundingMetrics). */
  grounding?: Record<string, unknown>;
}

export interface TaskCaseDeps<T extends EvaluatedTask> {
  tenantId: string;
  task: T;
  runTask(params: { tenantId: string; task: T; input: unknown; signal?: AbortSignal }): Promise<TaskRunResult>;
  /** What a run that failed cost, from its record (the error names the run). */
  runCost?(runId: string): Promise<number | undefined>;
  /** An answer that is an abstention (the built-in ask answers `answerable: false` rather than failing). */
  abstained?(output: unknown): boolean;
}

/** Checks every case's input against the task before anything runs: EVAL_DATASET_INVALID lists the lines it refuses. */
export function checkCaseInputs(task: EvaluatedTask, cases: readonly EvalCase[]): void {
  const lines: LineProblem[] = [];
  for (const testCase of cases) {
    try {
      task.checkInput(testCase.input);
    } catch (error) {
      if (!isGroundworkError(error)) throw error;
      const issues = (error.details.issues as Array<{ path: string; message: string }> | undefined) ?? [];
      lines.push({ line: testCase.line, message: issues.length > 0 ? issues.map((i) => `${i.path}: ${i.message}`).join('; ') : error.message });
    }
  }
  if (lines.length === 0) return;
  throw badLinesError(
    `${lines.length} case${lines.length === 1 ? '' : 's'} of the dataset ${lines.length === 1 ? 'has an input' : 'have inputs'} task "${task.name}" refuses`,
    lines,
    (l) => `line ${l.line} (${l.message})`,
    { task: task.name, version: task.version },
  );
}

/** The runCase of runCases for a task version. */
export function taskCaseRunner<T extends EvaluatedTask>(
  deps: TaskCaseDeps<T>,
): (testCase: EvalCase, trial: number, signal: AbortSignal) => Promise<CaseResult> {
  return async (testCase, _trial, signal) => {
    const started = performance.now();
    try {
      const outcome = await deps.runTask({ tenantId: deps.tenantId, task: deps.task, input: testCase.input, signal });
      return {
        status: deps.abstained?.(outcome.output) ? 'abstained' : 'ok',
        output: outcome.output,
        latencyMs: outcome.latencyMs,
        costUsd: outcome.usage.costUsd,
        citations: citationsOf(outcome.grounding),
        ...rankedOf(outcome.grounding, testCase),
        runId: outcome.runId,
      };
    } catch (error) {
      if (!isGroundworkError(error)) throw error;
      const latencyMs = performance.now() - started;
      const costUsd = (error.runId ? await deps.runCost?.(error.runId).catch(() => undefined) : undefined) ?? 0;
      const failure = { code: error.code, message: error.message };
      const base = { latencyMs, costUsd, ...(error.runId ? { runId: error.runId } : {}) };
      switch (error.code) {
        case 'TASK_ABSTAINED':
          return { status: 'abstained', ...base, ...rankedOf(error.details, testCase) };
        case 'MODEL_ALL_TIERS_FAILED':
          return { status: 'invalid_output', ...base, error: failure };
        case 'TASK_UNGROUNDED':
          return { status: 'invalid_output', ...base, citations: { proposed: 0, verified: 0 }, error: failure };
        default:
          return { status: 'error', ...base, error: failure };
      }
    }
  };
}

/**
 * What the run's retrieval ranked (grounding.retrieved: each hit's document and chunk), as ids
 * the case's expected_sources can match: the chunk id where the case names chunks, else the
 * document (several chunks of one document count once, at the first one's rank).
 */
function rankedOf(grounding: Record<string, unknown> | undefined, testCase: EvalCase): Pick<CaseResult, 'retrieved'> {
  const hits = grounding?.retrieved;
  if (!Array.isArray(hits)) return {};
  const expected = new Set(testCase.expectedSources ?? []);
  const ids = hits.flatMap((hit: unknown) => {
    if (typeof hit !== 'object' || hit === null) return [];
    const { document, chunk } = hit as { document?: unknown; chunk?: unknown };
    if (typeof chunk === 'string' && expected.has(chunk)) return [chunk];
    return typeof document === 'string' ? [document] : [];
  });
  return { retrieved: ids };
}

function citationsOf(grounding: Record<string, unknown> | undefined): CaseResult['citations'] {
  if (!grounding || typeof grounding.citations_proposed !== 'number' || typeof grounding.citations_verified !== 'number') return undefined;
  return { proposed: grounding.citations_proposed, verified: grounding.citations_verified };
}
