import { readFileSync, writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { GroundworkError, isGroundworkError } from '../../kernel/errors.js';
import { action, configFrom, globalOptions, reportError, servingOwner } from '../context.js';

/** The most a dataset file may hold. */
const MAX_DATASET_BYTES = 64 * 1024 * 1024;

interface EvalOptions {
  dataset: string;
  version?: string;
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
 * 2 bad usage or input, 3 the eval could not finish. In-process on the store (the embedded
 * folder must not be held by a running `serve`: there is no HTTP eval API yet).
 */
export function evalCommand(): Command {
  return new Command('eval')
    .description('run a golden dataset through a task version, score it, compare it with the active version, and gate it')
    .argument('<task>', 'task name')
    .requiredOption('--dataset <file.jsonl>', 'the golden dataset: one JSON case per line')
    .option('--version <hash>', 'evaluate this version instead of the active one')
    .option('--baseline <active|none|hash>', 'compare with this version (default: the active one, when another version is evaluated)')
    .option('--gate', "judge the result by the definition's eval.gate: exit 1 when it fails")
    .option('--junit <file>', 'write JUnit XML (one test case per dataset case and per gate threshold)')
    .option('--report <file.md>', 'write a Markdown report (fit for a pull-request comment)')
    .option('--concurrency <n>', 'cases run at once', wholeNumber, 4)
    .option('--trials <k>', 'runs of each case (pass^k)', wholeNumber, 1)
    .option('--max-cost-usd <x>', 'stop before the eval would spend more', amount)
    .option('--lenient', 'skip bad dataset lines (each reported) instead of refusing the dataset')
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
  if (owner) {
    throw new GroundworkError(
      'STORE_LOCKED',
      `a server (pid ${owner.pid}) owns ${config.dataDir}: stop it, or run the eval against PostgreSQL (DATABASE_URL); evals do not run through the HTTP API yet`,
      {
        details: { dataDir: config.dataDir },
      },
    );
  }
  let text: string;
  try {
    const bytes = readFileSync(options.dataset);
    if (bytes.length > MAX_DATASET_BYTES) throw new Error(`it is ${bytes.length} bytes; the limit is ${MAX_DATASET_BYTES}`);
    text = bytes.toString('utf8');
  } catch (error) {
    throw new GroundworkError('EVAL_DATASET_INVALID', `cannot read the dataset ${options.dataset}: ${(error as Error).message}`, {
      details: { file: options.dataset },
    });
  }
  const [{ createApp }, { evaluateTask }, { toJson, toJUnit, toMarkdown }, { DEFAULT_TENANT }] = await Promise.all([
    import('../../app/app.js'),
    import('../../app/evaluate.js'),
    import('../../evals/report.js'),
    import('../../store/ports.js'),
  ]);
  const app = await createApp(config, { lock: { role: 'cli' }, logger: { error: (details, message) => console.error(message, details) } });
  try {
    let last = 0;
    const { report, exitCode } = await evaluateTask(app, {
      tenantId: DEFAULT_TENANT,
      task,
      version: options.version,
      baseline: options.baseline,
      dataset: { name: basename(options.dataset).replace(/\.jsonl$/, ''), text, lenient: options.lenient },
      trials: options.trials,
      concurrency: options.concurrency,
      maxCostUsd: options.maxCostUsd,
      gate: options.gate,
      // Plain progress lines on stderr, at most one per tenth of the trials.
      onProgress: (side, progress) => {
        const step = Math.max(1, Math.ceil(progress.total / 10));
        if (progress.done === progress.total || progress.done - last >= step || progress.done < last) {
          last = progress.done;
          console.error(`eval ${side}: ${progress.done}/${progress.total} trials, $${progress.spentUsd.toFixed(4)}`);
        }
      },
    });
    if (options.junit) writeFileSync(options.junit, toJUnit(report));
    if (options.report) writeFileSync(options.report, toMarkdown(report));
    console.log(json ? toJson(report) : toMarkdown(report).trimEnd());
    process.exitCode = exitCode;
  } finally {
    await app.close();
  }
}
