import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import type { ReleaseResult } from '../../client/client.js';
import { action, configFrom, globalOptions, printJson, withApi } from '../context.js';

export function tasksCommand(): Command {
  const tasks = new Command('tasks').description('list, show and push task definitions; promote, roll back and list releases');

  tasks
    .command('list')
    .description('list tasks with their active version')
    .action(
      action(async (_options: unknown, command: Command) => {
        const config = await configFrom(command);
        const list = await withApi(config, (api) => api.listTasks());
        if (globalOptions(command).json) return printJson(list);
        if (list.length === 0) return console.log('no tasks yet: groundwork tasks push <folder|file…>');
        for (const t of list) console.log(`${t.name.padEnd(28)} ${t.active_version}  ${String(t.version_count).padStart(3)} version(s)  ${t.description}`);
      }),
    );

  tasks
    .command('show <name>')
    .description('show the active definition of a task (or --versions to list versions)')
    .option('--versions', 'list all versions instead')
    .action(
      action(async (name: string, options: { versions?: boolean }, command: Command) => {
        const config = await configFrom(command);
        printJson(await withApi<unknown>(config, (api) => (options.versions ? api.listVersions(name) : api.getTask(name))));
      }),
    );

  tasks
    .command('push [paths...]')
    .description(
      'validate task files (a folder or files; default: the tasks folder) and store each as an immutable version, made active (a new version of a gated task waits as a candidate: promote it); nothing is applied if any file is invalid',
    )
    .action(
      action(async (paths: string[], _options: unknown, command: Command) => {
        const config = await configFrom(command);
        const { loadTaskFileList, loadTaskFiles } = await import('../../tasks/task-files.js');
        const files =
          paths.length === 0
            ? loadTaskFiles(config.tasksDir, config)
            : paths.flatMap((p) => (statSync(resolve(p)).isDirectory() ? loadTaskFiles(resolve(p), config) : loadTaskFileList([resolve(p)], config)));
        const results = await withApi(config, async (api) => {
          const out = [];
          for (const file of files) out.push(await api.pushTask(file.definition));
          return out;
        });
        if (globalOptions(command).json) return printJson(results);
        for (const r of results) {
          const state = r.active
            ? ', active'
            : r.candidate
              ? `, a candidate: groundwork eval ${r.name} --version ${r.version} --gate, then groundwork tasks promote ${r.name} ${r.version}`
              : '';
          console.log(`${r.name}: version ${r.version} ${r.created ? 'stored' : 'unchanged'}${state}`);
        }
      }),
    );

  tasks
    .command('promote <name> <version>')
    .description('make a version active: through its gate (a finished gate eval of it against the active version), or with --override and a reason')
    .option('--override', 'skip the gate (admin); recorded with the reason')
    .option('--reason <text>', 'why (required with --override; recorded)')
    .action(
      action(async (name: string, version: string, options: { override?: boolean; reason?: string }, command: Command) => {
        const config = await configFrom(command);
        const outcome = await withApi(config, (api) => api.promoteTask(name, version, { override: options.override, reason: options.reason }));
        printRelease(outcome, globalOptions(command).json === true);
      }),
    );

  tasks
    .command('rollback <name>')
    .description('make the previously active version of a task active again')
    .option('--reason <text>', 'why (recorded)')
    .action(
      action(async (name: string, options: { reason?: string }, command: Command) => {
        const config = await configFrom(command);
        printRelease(await withApi(config, (api) => api.rollbackTask(name, options.reason)), globalOptions(command).json === true);
      }),
    );

  tasks
    .command('releases <name>')
    .description('list the releases of a task, newest first: pushes that activated, promotions, overrides, rollbacks')
    .action(
      action(async (name: string, _options: unknown, command: Command) => {
        const config = await configFrom(command);
        const releases = await withApi(config, (api) => api.listReleases(name));
        if (globalOptions(command).json) return printJson(releases);
        for (const r of releases) {
          const why = [r.eval_id ? `eval ${r.eval_id}` : '', r.reason ? `"${r.reason}"` : ''].filter(Boolean).join(' ');
          console.log(`#${r.seq} ${r.created_at} ${r.action.padEnd(8)} ${r.from_version ?? '(none)'} → ${r.to_version} by ${r.actor}${why ? `  ${why}` : ''}`);
        }
      }),
    );
  return tasks;
}

function printRelease(outcome: ReleaseResult, json: boolean): void {
  if (json) return printJson(outcome);
  if (!outcome.release) return console.log(`${outcome.task}: version ${outcome.active_version} is already active`);
  const r = outcome.release;
  console.log(
    `${outcome.task}: ${r.action} ${r.from_version ?? '(none)'} → ${r.to_version}, active now (release #${r.seq}${r.eval_id ? `, eval ${r.eval_id}` : ''})`,
  );
}
