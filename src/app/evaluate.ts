import { GroundworkError, isGroundworkError, type ErrorCode } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import { parseDataset, type Dataset, type EvalCase } from '../evals/dataset.js';
import { evaluateGate, parseGate } from '../evals/gate.js';
import type { EvalReport } from '../evals/report.js';
import { planEval, runCases, type Progress } from '../evals/runner.js';
import { buildScorecard, compare } from '../evals/scorecard.js';
import { defaultScorers } from '../evals/scorers.js';
import { checkCaseInputs, taskCaseRunner } from '../evals/task-cases.js';
import type { TaskDefinition } from '../tasks/definition.js';
import type { PreparedTask } from '../tasks/prepared-task.js';
import type { App } from './app.js';

/**
 * One eval: a dataset through a task version (the active one unless named, or a definition not
 * stored: the pull-request candidate) and, when that is not the active version, through the
 * active version as its baseline, scored, compared case by case and, when asked, judged by the
 * gate in the version's definition. Both versions share one cost budget.
 *
 * The dataset comes from a file (stored by content hash under its name, so a gate can name it)
 * or from the store by name. The eval is recorded: a row written before the first case (with a
 * lease its holder renews, so a promotion can tell that it still runs), finished with its report;
 * a promotion reads the gate's verdict from it. The outcome's exit code is the CLI's: 0 done (and
 * the gate passed), 1 the gate failed, 3 the eval could not finish (budget reached, aborted, or
 * no trial got an answer at all). Bad input throws its typed error before any model call.
 */

export interface EvaluateParams {
  tenantId: string;
  task: string;
  /** The version evaluated; default the active one. */
  version?: string;
  /** A definition to evaluate without storing it or making it active (`--candidate`); its name must be `task`. */
  candidate?: TaskDefinition;
  /** 'active' (the default: none when the version evaluated is the active one), 'none', or a version hash. */
  baseline?: string;
  /** A file's text (stored under `name`), or a stored dataset's name (its newest version, or `version`). */
  dataset: { name: string; text?: string; lenient?: boolean; version?: string };
  trials?: number;
  concurrency?: number;
  maxCostUsd?: number;
  /** Judge the result by the definition's `eval.gate` (an error when it has none). */
  gate?: boolean;
  /**
   * The built-in `ask` (evaluated when no stored task is named `ask`): the collection a case asks
   * of when its input names none.
   */
  collection?: string;
  /** Who runs it (recorded): 'cli', an API key id. */
  actor?: string;
  /** The eval's id (an eval job passes its own); default a new one. */
  evalId?: string;
  onProgress?: (side: 'candidate' | 'baseline', progress: Progress) => void;
  /** Trials done of all the eval plans (the candidate's and the baseline's together). */
  onOverallProgress?: (progress: { done: number; total: number }) => void;
  signal?: AbortSignal;
}

export interface EvalPlan {
  task: string;
  version: string;
  baselineVersion?: string;
  dataset: { name: string; hash: string; cases: number };
  /** Trials to run: cases × trials, for each version evaluated. */
  trials: number;
  /** At least one model call per trial; re-asks and fallbacks add more. */
  calls: number;
  /** Each trial's first call at its worst case (its input's tokens estimated, the output limit), on the first tier. */
  estimatedUsd: number;
}

export interface EvaluateOutcome {
  evalId: string;
  report: EvalReport;
  exitCode: 0 | 1 | 3;
}

/** How long a running eval's record is held without a renewal, and how often its holder renews it. */
const LEASE_MS = 60_000;
const RENEW_MS = 20_000;

/** `--dry-run`: what the eval would run and its estimated cost; no model call, nothing recorded. Bad input throws as for a run. */
export async function planTaskEval(app: App, params: EvaluateParams): Promise<EvalPlan> {
  const { candidate, baseline, dataset } = await prepare(app, params);
  return planOf(app, params, dataset, candidate, baseline);
}

export async function evaluateTask(app: App, params: EvaluateParams): Promise<EvaluateOutcome> {
  const { tenantId } = params;
  const prepared = await prepare(app, params);
  const { candidate, baseline, dataset } = prepared;
  if (params.dataset.text !== undefined) {
    await app.store.evals.saveDataset(tenantId, { name: params.dataset.name, version: dataset.hash, task: candidate.name, cases: dataset.cases });
  }

  const evalId = params.evalId ?? newId('eval');
  await app.store.evals.createEval(tenantId, {
    id: evalId,
    task: candidate.name,
    version: candidate.version,
    baselineVersion: baseline?.version,
    datasetName: params.dataset.name,
    datasetVersion: dataset.hash,
    createdBy: params.actor ?? 'cli',
    leaseUntil: new Date(Date.now() + LEASE_MS),
  });
  const renew = setInterval(() => {
    app.store.evals.renewEval(tenantId, evalId, new Date(Date.now() + LEASE_MS)).catch(() => {});
  }, RENEW_MS);
  renew.unref();
  try {
    const { report, exitCode } = await run(app, { ...params, evalId }, prepared);
    await app.store.evals.finishEval(tenantId, evalId, {
      status: exitCode === 3 ? 'failed' : 'done',
      gatePassed: exitCode === 3 ? undefined : report.gate?.passed,
      report,
      error:
        exitCode === 3
          ? {
              code: report.stopped === 'budget' ? ('EVAL_BUDGET_REACHED' satisfies ErrorCode) : ('EVAL_INCOMPLETE' satisfies ErrorCode),
              message: incomplete(report),
            }
          : undefined,
    });
    return { evalId, report, exitCode };
  } catch (error) {
    const failure = isGroundworkError(error) ? { code: error.code, message: error.message } : { code: 'INTERNAL', message: 'the eval failed' };
    await app.store.evals.finishEval(tenantId, evalId, { status: 'failed', error: failure }).catch(() => {});
    throw error;
  } finally {
    clearInterval(renew);
  }
}

interface Prepared {
  candidate: PreparedTask;
  /** The candidate is the built-in ask (run through app.ask, which retrieves its sources). */
  builtin: boolean;
  baseline: PreparedTask | undefined;
  dataset: Dataset;
  gate: ReturnType<typeof parseGate> | undefined;
  settings: TaskDefinition['eval'];
}

/** Everything checked before any model call: the versions, the dataset and its inputs, the gate. */
async function prepare(app: App, params: EvaluateParams): Promise<Prepared> {
  if (params.candidate && params.version) {
    throw new GroundworkError('EVAL_DATASET_INVALID', 'name either a candidate file or a version, not both', { details: { task: params.task } });
  }
  if (params.candidate && params.candidate.name !== params.task) {
    throw new GroundworkError('TASK_DEFINITION_INVALID', `the candidate file defines task "${params.candidate.name}", not "${params.task}"`, {
      details: { task: params.task, candidate: params.candidate.name },
    });
  }
  const candidate = params.candidate ? app.tasks.prepareUnstored(params.candidate) : await resolveTask(app, params);
  const builtin = candidate === app.ask.task;
  const baseline = builtin ? undefined : await baselineOf(app, params, candidate);
  const loaded = await loadDataset(app, params, candidate);
  // The built-in ask's cases ask of --collection unless they name their own.
  const dataset =
    builtin && params.collection !== undefined
      ? { ...loaded, cases: loaded.cases.map((c) => ({ ...c, input: { collection: params.collection, ...c.input } })) }
      : loaded;
  checkCaseInputs(candidate, dataset.cases);
  if (baseline) checkCaseInputs(baseline, dataset.cases);
  const settings = candidate.definition.eval;
  if (params.gate && !settings) {
    throw new GroundworkError(
      'EVAL_GATE_INVALID',
      `task "${candidate.name}" version ${candidate.version} declares no gate: add eval: { dataset, gate } to its definition`,
      { details: { task: candidate.name, version: candidate.version } },
    );
  }
  for (const task of baseline ? [candidate, baseline] : [candidate]) {
    if (task.definition.eval?.judge && !app.judge) {
      throw new GroundworkError(
        'EVAL_JUDGE_UNAVAILABLE',
        `version ${task.version} of "${task.name}" is judged by an LLM judge, and this installation has no judge route: add evals.judge_route (models from \`models\`) to the config; the judge is never faked`,
        { details: { task: task.name, version: task.version } },
      );
    }
  }
  return { candidate, baseline, dataset, settings, builtin, gate: params.gate && settings ? parseGate(settings.gate) : undefined };
}

async function run(
  app: App,
  params: EvaluateParams,
  { candidate, baseline, dataset, gate, settings, builtin }: Prepared,
): Promise<{ report: EvalReport; exitCode: 0 | 1 | 3 }> {
  const { tenantId } = params;
  const scorers = defaultScorers({ normalisers: settings?.normalisers, k: settings?.k, judge: settings?.judge !== undefined });
  const perSide = dataset.cases.length * (params.trials ?? 1);
  const overall = { done: 0, total: perSide * (baseline ? 2 : 1) };
  const evaluate = async (task: PreparedTask, side: 'candidate' | 'baseline', budget: number | undefined) =>
    runCases({
      cases: dataset.cases,
      scorers,
      trials: params.trials,
      concurrency: params.concurrency,
      maxCostUsd: budget,
      signal: params.signal,
      onProgress: (progress) => {
        params.onProgress?.(side, progress);
        overall.done = (side === 'baseline' ? perSide : 0) + progress.done;
        params.onOverallProgress?.({ ...overall });
      },
      runCase: judgedBy(
        app,
        { tenantId, evalId: params.evalId },
        task,
        taskCaseRunner({
          tenantId,
          task,
          // Each case is a recorded run tagged with the eval.
          runTask: builtin
            ? (run) => app.ask(run.tenantId, run.input, { signal: run.signal, evalId: params.evalId })
            : (run) => app.runTask({ ...run, evalId: params.evalId }),
          abstained: builtin ? (output) => (output as { answerable?: unknown }).answerable === false : undefined,
          runCost: async (runId) => (await app.runs.get(tenantId, runId))?.costUsd,
        }),
      ),
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

/** A task's case runner, with the LLM judge's verdict on each valid output when the version declares a judge. */
function judgedBy(app: App, { tenantId, evalId }: { tenantId: string; evalId?: string }, task: PreparedTask, runCase: CaseRunner): CaseRunner {
  const rubric = task.definition.eval?.judge?.rubric;
  const judge = app.judge;
  if (rubric === undefined || !judge) return runCase;
  return async (testCase, trial, signal) => {
    const result = await runCase(testCase, trial, signal);
    if (result.status !== 'ok') return result;
    try {
      const verdict = await judge(tenantId, { rubric, input: testCase.input, expected: testCase.expected, output: result.output }, { signal, evalId });
      return { ...result, judge: verdict };
    } catch (error) {
      // A verdict that could not be had is reported on the case, never made up.
      const failure = isGroundworkError(error) ? { code: error.code, message: error.message } : { code: 'INTERNAL', message: 'the judge failed' };
      const costUsd = isGroundworkError(error) && error.runId ? ((await app.runs.get(tenantId, error.runId))?.costUsd ?? 0) : 0;
      return { ...result, judge: { error: failure, costUsd } };
    }
  };
}

type CaseRunner = ReturnType<typeof taskCaseRunner>;

function incomplete(report: EvalReport): string {
  if (report.stopped === 'budget') return 'the eval stopped before it would pass its cost budget';
  if (report.stopped) return 'the eval was stopped before every case ran';
  return 'no case got an answer from the model';
}

/** The file's cases (parsed; refused with every bad line), or the newest stored version of the name. */
async function loadDataset(app: App, params: EvaluateParams, task: PreparedTask): Promise<Dataset> {
  const { name, text, lenient } = params.dataset;
  if (text !== undefined) return parseDataset(text, { lenient });
  const { version } = params.dataset;
  const stored = await app.store.evals.getDataset(params.tenantId, name, version);
  if (!stored) {
    const which = version === undefined ? `no dataset named "${name}"` : `dataset "${name}" has no version ${version}`;
    throw new GroundworkError('EVAL_DATASET_NOT_FOUND', `${which}: upload it (POST /v1/tasks/${task.name}/datasets) or name a file`, {
      details: { dataset: name, ...(version === undefined ? {} : { version }) },
    });
  }
  return { cases: stored.cases as EvalCase[], hash: stored.version, skipped: [] };
}

function planOf(app: App, params: EvaluateParams, dataset: Dataset, candidate: PreparedTask, baseline: PreparedTask | undefined): EvalPlan {
  const trials = params.trials ?? 1;
  const versions = baseline ? [candidate, baseline] : [candidate];
  let estimatedUsd = 0;
  let count = 0;
  for (const task of versions) {
    const plan = planEval(dataset.cases, trials, (testCase) => app.estimateFirstCall(task, testCase.input).usd);
    estimatedUsd += plan.estimatedUsd;
    count += plan.trials;
  }
  return {
    task: candidate.name,
    version: candidate.version,
    baselineVersion: baseline?.version,
    dataset: { name: params.dataset.name, hash: dataset.hash, cases: dataset.cases.length },
    trials: count,
    calls: count,
    estimatedUsd,
  };
}

/** The stored task (the version asked for, else the active one); with none named `ask`, the built-in ask. */
async function resolveTask(app: App, params: EvaluateParams): Promise<PreparedTask> {
  try {
    return await app.tasks.resolve(params.tenantId, params.task, params.version);
  } catch (error) {
    const builtin = params.version === undefined || params.version === app.ask.task.version;
    if (params.task === 'ask' && builtin && isGroundworkError(error) && error.code === 'TASK_NOT_FOUND') return app.ask.task;
    throw error;
  }
}

async function baselineOf(app: App, params: EvaluateParams, candidate: PreparedTask): Promise<PreparedTask | undefined> {
  const wanted = params.baseline ?? 'active';
  if (wanted === 'none') return undefined;
  const baseline = await app.tasks.resolve(params.tenantId, params.task, wanted === 'active' ? undefined : wanted).catch((error: unknown) => {
    // A candidate of a task not stored yet has no active version to be held against.
    if (params.candidate && wanted === 'active' && isGroundworkError(error) && error.code === 'TASK_NOT_FOUND') return undefined;
    throw error;
  });
  return baseline && baseline.version !== candidate.version ? baseline : undefined;
}
