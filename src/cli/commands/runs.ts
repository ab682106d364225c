import { Command } from 'commander';
import { action, configFrom, globalOptions, printJson, withApi } from '../context.js';

export function runsCommand(): Command {
  const runs = new Command('runs').description('inspect recorded runs and their attempts');

  runs
    .command('list')
    .description('recent runs, newest first')
    .option('--task <name>', 'only runs of this task')
    .option('--status <status>', 'ok or error')
    .option('--limit <n>', 'how many (1-500)', (v) => Number(v), 20)
    .action(
      action(async (options: { task?: string; status?: 'ok' | 'error'; limit: number }, command: Command) => {
        if (options.status && options.status !== 'ok' && options.status !== 'error') throw new Error('--status must be ok or error');
        if (!Number.isInteger(options.limit) || options.limit < 1 || options.limit > 500) throw new Error('--limit must be an integer 1..500');
        const config = await configFrom(command);
        const list = await withApi(config, (api) => api.listRuns(options));
        if (globalOptions(command).json) return printJson(list);
        if (list.length === 0) return console.log('no runs yet');
        for (const r of list) {
          const cost = `$${r.usage.cost_usd.toFixed(6)}`;
          console.log(
            `${r.id}  ${r.created_at}  ${r.task}@${r.task_version.slice(0, 8)}  ${r.status.padEnd(5)} ${(r.model ?? r.error?.code ?? '').padEnd(24)} ${String(r.attempt_count).padStart(2)} att  ${Math.round(r.latency_ms)} ms  ${cost}${r.degraded ? '  degraded' : ''}`,
          );
        }
      }),
    );

  runs
    .command('show <id>')
    .description('one run with input, output and every attempt')
    .action(
      action(async (id: string, _options: unknown, command: Command) => {
        const config = await configFrom(command);
        printJson(await withApi(config, (api) => api.getRun(id)));
      }),
    );
  return runs;
}
