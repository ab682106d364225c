import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { GroundworkError, isGroundworkError, type Issue } from '../kernel/errors.js';
import { parseTaskDefinition, type RouteConfig, type TaskDefinition } from './definition.js';

/** Task files: `*.yaml`, `*.yml` or `*.json` in a tasks folder (not recursive). */

const EXTENSIONS = new Set(['.yaml', '.yml', '.json']);
const MAX_FILE_BYTES = 1024 * 1024;

export interface TaskFile {
  file: string;
  definition: TaskDefinition;
}

/** Parses one file's text (YAML is a superset of JSON). Throws TASK_DEFINITION_INVALID. */
export function parseTaskText(text: string, source: string, config: RouteConfig): TaskDefinition {
  let raw: unknown;
  try {
    raw = parseYaml(text, { prettyErrors: true, uniqueKeys: true });
  } catch (error) {
    const message = (error as Error).message.split('\n')[0];
    throw new GroundworkError('TASK_DEFINITION_INVALID', `${source} is not valid YAML/JSON: ${message}`, {
      details: { source, issues: [{ path: '(file)', message }] },
    });
  }
  return parseTaskDefinition(raw, config, source);
}

/**
 * Reads and validates every task file in `dir`. All-or-nothing: if any file is invalid
 * (or two files declare the same name) it throws one error listing every problem in
 * every file, so a push never applies half a folder.
 */
export function loadTaskFiles(dir: string, config: RouteConfig): TaskFile[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) {
    throw new GroundworkError('TASK_DEFINITION_INVALID', `tasks folder ${dir} does not exist`, {
      details: { source: dir, issues: [{ path: dir, message: 'not a folder' }] },
    });
  }
  const files = readdirSync(dir)
    .filter((name) => EXTENSIONS.has(extname(name).toLowerCase()))
    .sort()
    .map((name) => join(dir, name));
  return loadTaskFileList(files, config, dir);
}

export function loadTaskFileList(files: string[], config: RouteConfig, baseDir = process.cwd()): TaskFile[] {
  const loaded: TaskFile[] = [];
  const problems: Array<Issue & { file: string }> = [];
  const seen = new Map<string, string>();
  for (const file of files) {
    const shown = relative(baseDir, file) || file;
    try {
      const size = statSync(file).size;
      if (size > MAX_FILE_BYTES) {
        problems.push({ file: shown, path: '(file)', message: `is ${size} bytes; task files are limited to ${MAX_FILE_BYTES}` });
        continue;
      }
      const definition = parseTaskText(readFileSync(file, 'utf8'), shown, config);
      const previous = seen.get(definition.name);
      if (previous) {
        problems.push({ file: shown, path: 'name', message: `task "${definition.name}" is also defined in ${previous}` });
        continue;
      }
      seen.set(definition.name, shown);
      loaded.push({ file, definition });
    } catch (error) {
      if (!isGroundworkError(error)) {
        problems.push({ file: shown, path: '(file)', message: (error as Error).message });
        continue;
      }
      for (const issue of (error.details.issues as Issue[] | undefined) ?? [{ path: '(file)', message: error.message }]) {
        problems.push({ file: shown, ...issue });
      }
    }
  }
  if (problems.length > 0) {
    throw new GroundworkError(
      'TASK_DEFINITION_INVALID',
      `${problems.length} problem(s) in task files; nothing was applied:\n${problems.map((p) => `  - ${p.file}: ${p.path}: ${p.message}`).join('\n')}`,
      { details: { issues: problems } },
    );
  }
  return loaded;
}
