import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { GroundworkError } from '../../kernel/errors.js';
import { action, configFrom, printJson, withApi } from '../context.js';

/** Reads the input JSON from a file or stdin ("-"), with a size cap. */
export function readInput(source: string, maxBytes: number): Record<string, unknown> {
  let text: string;
  try {
    const buffer = readFileSync(source === '-' ? 0 : source);
    if (buffer.length > maxBytes) throw new GroundworkError('REQUEST_BODY_TOO_LARGE', `input is ${buffer.length} bytes; the limit is ${maxBytes}`);
    text = buffer.toString('utf8');
  } catch (error) {
    if (error instanceof GroundworkError) throw error;
    throw new GroundworkError('REQUEST_INVALID_BODY', `cannot read input ${source}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new GroundworkError('REQUEST_INVALID_BODY', `input ${source === '-' ? '(stdin)' : source} is not valid JSON: ${(error as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new GroundworkError('REQUEST_INVALID_BODY', 'input must be a JSON object');
  }
  return value as Record<string, unknown>;
}

export function runCommand(): Command {
  return new Command('run')
    .description('run a task once and print the result as JSON')
    .argument('<task>', 'task name')
    .requiredOption('-i, --input <file|->', 'input JSON file, or - for stdin')
    .option('--version <version>', 'run this version instead of the active one')
    .action(
      action(async (task: string, options: { input: string; version?: string }, command: Command) => {
        const config = await configFrom(command);
        const input = readInput(options.input, config.bodyLimitBytes);
        printJson(await withApi(config, (api) => api.runTask(task, input, { version: options.version })));
      }),
    );
}
