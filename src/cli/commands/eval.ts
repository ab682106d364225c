import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { GroundworkError, isGroundworkError } from '../../kernel/errors.js';
import type { EvalPlan, EvaluateParams } from '../../app/evaluate.js';
import { createClient, type GroundworkApi } from '../../client/client.js';
import type { EvalReport } from '../../evals/report.js';
import { action, configFrom, globalOptions, localApiKey, reportError, servingOwner } from '../context.js';

/** The most a dataset file may hold. */
const MAX_DATASET_BYTES = 64 * 1024 * 1024;

interface EvalOptions {
  dataset: string;
  collection?: string;
  candidate?: string;
  version?: string;
  dryRun?: boolean;
  baseline?: string;
  gate?: boolean;
  junit?: string;
  report?: string;
  json?: boolean;
  concurrency?: number;
  trials?: number;
  maxCostUsd?: number;
  lenient?: boolean;
}

const wholeNumber = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number ≥ 1');
  return n;
};
const amount = (value: string): number => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('must be a number above 0');
  return n;
};

/**
 * `groundwork eval <task> --dataset file.jsonl`: runs a golden dataset through a task version
 * (and the active version as its baseline), prints the scorecard and comparison, and with
 * `--gate` judges it by the definition's gate. Exit codes: 0 done (gate passed), 1 gate failed,
 * 2 bad usage or input, 3 the eval could not finish. In-process on the store, or, when a running
 * `serve` owns the embedded data folder, as a durable eval job on that server.
 */
export function evalCommand(): Command {
  return new Command('eval')
    .description('run a golden dataset through a task version, score it, compare it with the active version, and gate it')
    .argument('<task>', 'task name')
    .requiredOption(
      '--dataset <file.jsonl|name>',
      'the golden dataset: a JSONL file (one case per line), or a name: evals/<name>.jsonl beside the tasks folder, else the stored dataset',
    )
    .option('--candidate <task-file>', 'evaluate this task file without storing it or making it active (the pull-request case)')
    .option('--version <hash>', 'evaluate this stored version instead of the active one')
    .option('--collection <name>', 'the built-in ask (task "ask"): the collection a case asks of when its input names none')
    .option('--baseline <active|none|hash>', 'compare with this version (default: the active one, when another version is evaluated)')
    .option('--gate', "judge the result by the definition's eval.gate: exit 1 when it fails")
    .option('--junit <file>', 'write JUnit XML (one test case per dataset case and per gate threshold)')
    .option('--report <file.md>', 'write a Markdown report (fit for a pull-request comment)')
    .option('--concurrency <n>', 'cases run at once', wholeNumber, 4)
    .option('--trials <k>', 'runs of each case (pass^k)', wholeNumber, 1)
    .option('--max-cost-usd <x>', 'stop before the eval would spend more', amount)
    .option('--lenient', 'skip bad dataset lines (each reported) instead of refusing the dataset')
    .option('--dry-run', 'print the calls the eval would make and their estimated cost; call no model, record nothing')
    .action(
      action(async (task: string, options: EvalOptions, command: Command) => {
        const json = globalOptions(command).json === true || options.json === true;
        try {
          await evaluate(task, options, command, json);
        } catch (error) {
          reportError(error, json);
          // 3: the eval could not run (no model, no store); 2: bad usage or input (the dataset, the task, the gate, a held folder).
          process.exitCode = isGroundworkError(error) && (error.category === 'upstream' || error.code === 'STORE_UNAVAILABLE') ? 3 : 2;
        }
      }),
    );
}

async function evaluate(task: string, options: EvalOptions, command: Command, json: boolean): Promise<void> {
  const config = await configFrom(command);
  const owner = servingOwner(config);
  if (owner?.url) return evaluateThroughServer(task, options, createClient({ baseUrl: owner.url, apiKey: localApiKey(config) }), config.tasksDir, json);
  const dataset = readDataset(options.dataset, config.tasksDir);
  let candidate: EvaluateParams['candidate'];
  if (options.candidate) {
    const { loadTaskFileList } = await import('../../tasks/task-files.js');
    candidate = loadTaskFileList([resolve(options.candidate)], config)[0].definition;
  }
  const [{ createApp }, { evaluateTask, planTaskEval }, { DEFAULT_TENANT }] = await Promise.all([
    import('../../app/app.js'),
    import('../../app/evaluate.js'),
    import('../../store/ports.js'),
  ]);
  const app = await createApp(config, { lock: { role: 'cli' }, logger: { error: (details, message) => console.error(message, details) } });
  try {
    const params = {
      tenantId: DEFAULT_TENANT,
      task,
      version: options.version,
      candidate,
      collection: options.collection,
      baseline: options.baseline,
      dataset: { ...dataset, lenient: options.lenient },
      trials: options.trials,
      concurrency: options.concurrency,
      maxCostUsd: options.maxCostUsd,
      gate: options.gate,
      actor: 'cli',
    };
    if (options.dryRun) return printPlan(await planTaskEval(app, params), json);
    const { evalId, report, exitCode } = await evaluateTask(app, { ...params, onProgress: progressPrinter() });
    await printReport(report, evalId, options, json);
    process.exitCode = exitCode;
  } finally {
    await app.close();
  }
}

/**
 * The dataset named on the command line: a file, else `evals/<name>.jsonl` beside the tasks
 * folder, else (no text) the stored dataset of that name.
 */
function readDataset(given: string, tasksDir: string): { name: string; text?: string } {
  const beside = join(dirname(resolve(tasksDir)), 'evals', `${given}.jsonl`);
  const file = existsSync(given) ? given : /^[a-z0-9][a-z0-9_.-]{0,62}$/.test(given) && existsSync(beside) ? beside : undefined;
  if (file === undefined) {
    if (given.endsWith('.jsonl') || given.includes('/')) {
      throw new GroundworkError('EVAL_DATASET_INVALID', `cannot read the dataset ${given}: no such file`, { details: { file: given } });
    }
    return { name: given };
  }
  try {
    const bytes = readFileSync(file);
    if (bytes.length > MAX_DATASET_BYTES) throw new Error(`it is ${bytes.length} bytes; the limit is ${MAX_DATASET_BYTES}`);
    return { name: basename(file).replace(/\.jsonl$/, ''), text: bytes.toString('utf8') };
  } catch (error) {
    throw new GroundworkError('EVAL_DATASET_INVALID', `cannot read the dataset ${given}: ${(error as Error).message}`, { details: { file: given } });
  }
}

/**
 * Progress on stderr: on a terminal, one line redrawn in place as a bar (written here: a bar is
 * one `\r`-redrawn line, not worth a dependency); otherwise plain lines, at most one per tenth.
 */
export function progressPrinter(): (side: string, progress: { done: number; total: number; spentUsd?: number }) => void {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  return (side, progress) => {
    const spent = progress.spentUsd === undefined ? '' : `, $${progress.spentUsd.toFixed(4)}`;
    const line = `eval ${side}: ${progress.done}/${progress.total} trials${spent}`;
    if (tty) {
      const width = 24;
      const filled = Math.round((progress.done / Math.max(progress.total, 1)) * width);
      process.stderr.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${line}${progress.done === progress.total ? '\n' : ''}`);
      return;
    }
    const step = Math.max(1, Math.ceil(progress.total / 10));
    if (progress.done === progress.total || progress.done - last >= step || progress.done < last) {
      last = progress.done;
      console.error(line);
    }
  };
}

/**
 * The eval through the running server that owns the data folder: a dataset file is uploaded
 * (stored by content hash under its name), the eval queued as a durable job and followed until it
 * finishes, its record read back for the reports. A candidate file cannot be sent: it is evaluated
 * in-process, or pushed (a gated task's new version waits as a candidate) and named by --version.
 */
async function evaluateThroughServer(task: string, options: EvalOptions, api: GroundworkApi, tasksDir: string, json: boolean): Promise<void> {
  if (options.candidate) {
    throw new GroundworkError(
      'STORE_LOCKED',
      "a running server owns the data folder, and --candidate evaluates an unstored file in-process: stop the server, or push the file (a gated task's new version waits as a candidate) and evaluate it with --version",
      { details: { candidate: options.candidate } },
    );
  }
  const dataset = readDataset(options.dataset, tasksDir);
  if (dataset.text !== undefined) {
    const stored = await api.uploadDataset(task, { name: dataset.name, jsonl: dataset.text, lenient: options.lenient });
    for (const skipped of stored.skipped) console.error(`dataset line ${skipped.line} left out: ${skipped.message}`);
  }
  const request = {
    dataset: dataset.name,
    version: options.version,
    baseline: options.baseline,
    gate: options.gate,
    trials: options.trials,
    concurrency: options.concurrency,
    max_cost_usd: options.maxCostUsd,
  };
  if (options.dryRun) {
    const plan = await api.planEval(task, request);
    return printPlan(
      {
        ...plan,
        baselineVersion: plan.baseline_version ?? undefined,
        estimatedUsd: plan.estimated_usd,
        dataset: { ...plan.dataset, hash: plan.dataset.version },
      },
      json,
    );
  }
  let job = await api.startEval(task, request);
  console.error(`eval job ${job.id} queued on the server (eval ${job.eval_id})`);
  const progress = progressPrinter();
  while (!['succeeded', 'failed', 'cancelled'].includes(job.status)) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    job = await api.getJob(job.id);
    if (job.progress) progress('job', job.progress);
  }
  if (job.status !== 'succeeded') {
    const error = job.error ?? { code: 'JOB_CANCELLED', message: `eval job ${job.id} was cancelled`, details: {} };
    throw new GroundworkError('EVAL_INCOMPLETE', `eval job ${job.id} ${job.status}: ${error.code}: ${error.message}`, { details: { job_id: job.id, error } });
  }
  const record = await api.getEval(job.eval_id!);
  await printReport(record.report as EvalReport, record.id, options, json);
  process.exitCode = (job.result as { exit_code: number }).exit_code;
}

/** The dry run's plan, in words or as JSON. */
function printPlan(plan: EvalPlan, json: boolean): void {
  if (json) return console.log(JSON.stringify(plan, null, 2));
  const versions = plan.baselineVersion ? `version ${plan.version} and the baseline ${plan.baselineVersion}` : `version ${plan.version}`;
  console.log(
    `dry run: ${plan.dataset.cases} cases of "${plan.dataset.name}" (${plan.dataset.hash.slice(0, 12)}) through ${versions}: ` +
      `${plan.trials} trials, at least ${plan.calls} model calls, estimated at most $${plan.estimatedUsd.toFixed(4)} for their first calls (re-asks and fallbacks add to it)`,
  );
}

/** The report on stdout (Markdown, or JSON with --json) and in the files asked for. */
async function printReport(report: EvalReport, evalId: string, options: EvalOptions, json: boolean): Promise<void> {
  const { toJson, toJUnit, toMarkdown } = await import('../../evals/report.js');
  if (options.junit) writeFileSync(options.junit, toJUnit(report));
  if (options.report) writeFileSync(options.report, toMarkdown(report));
  console.log(json ? toJson(report) : `${toMarkdown(report).trimEnd()}\n\neval ${evalId} recorded`);
}
