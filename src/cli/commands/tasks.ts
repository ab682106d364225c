import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { action, configFrom, globalOptions, printJson, withApi } from '../context.js';

export function tasksCommand(): Command {
  const tasks = new Command('tasks').description('list, show and push task definitions');

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
      'validate task files (a folder or files; default: the tasks folder) and store each as an immutable version, made active; nothing is applied if any file is invalid',
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
        for (const r of results) console.log(`${r.name}: version ${r.version} ${r.created ? 'stored' : 'unchanged'}${r.active ? ', active' : ''}`);
      }),
    );
  return tasks;
}
