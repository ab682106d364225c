import { Command } from 'commander';
import { packageVersion } from '../kernel/package-info.js';
import { askCommand, collectionsCommand, ingestCommand, searchCommand } from './commands/collections.js';
import { demoCommand } from './commands/demo.js';
import { evalCommand } from './commands/eval.js';
import { keysCommand, tenantsCommand } from './commands/keys.js';
import { migrateCommand } from './commands/migrate.js';
import { mockLlmCommand } from './commands/mock-llm.js';
import { runCommand } from './commands/run.js';
import { runsCommand } from './commands/runs.js';
import { serveCommand } from './commands/serve.js';
import { workerCommand } from './commands/worker.js';
import { tasksCommand } from './commands/tasks.js';
import { quotasCommand, usageCommand } from './commands/usage.js';

/** Subcommands whose own `--version <hash>` names a task version. */
const TASK_VERSION_COMMANDS = new Set(['run', 'eval']);

/**
 * Arguments as the program should parse them. Commander matches the program's own options
 * anywhere on the line, so `groundwork run triage --version <hash>` printed the package version
 * instead of running that task version. After `run` or `eval`, `--version <hash>` is passed as
 * `--version=<hash>`, which only the subcommand's option takes; `groundwork --version` is unchanged.
 */
export function normaliseArgs(args: readonly string[]): string[] {
  const out = [...args];
  const command = out.findIndex((arg) => TASK_VERSION_COMMANDS.has(arg));
  if (command === -1) return out;
  for (let i = command + 1; i < out.length - 1; i++) {
    if (out[i] === '--') break;
    if (out[i] === '--version' && !out[i + 1].startsWith('-')) out.splice(i, 2, `--version=${out[i + 1]}`);
  }
  return out;
}

/** The `groundwork` CLI. Every command has --help; errors print a code and exit 1. */
export function buildProgram(): Command {
  const program = new Command('groundwork')
    .description('Groundwork: a self-hosted AI application server: typed tasks served as HTTP endpoints')
    .version(packageVersion())
    .option('-c, --config <file>', 'config file (env GROUNDWORK_CONFIG, default ./groundwork.yaml if present)')
    .option('--data-dir <dir>', 'embedded data folder (env GROUNDWORK_DATA_DIR, default ./.groundwork); ignored when DATABASE_URL is set')
    .option('--tasks-dir <dir>', 'task files folder (env GROUNDWORK_TASKS_DIR, default ./tasks)')
    .option('--json', 'machine-readable output')
    .showHelpAfterError();
  for (const command of [
    serveCommand(),
    workerCommand(),
    migrateCommand(),
    tasksCommand(),
    runCommand(),
    evalCommand(),
    runsCommand(),
    collectionsCommand(),
    ingestCommand(),
    searchCommand(),
    askCommand(),
    mockLlmCommand(),
    demoCommand(),
    tenantsCommand(),
    keysCommand(),
    usageCommand(),
    quotasCommand(),
  ]) {
    program.addCommand(command);
  }
  return program;
}
