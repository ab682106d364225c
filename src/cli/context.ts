import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { ADMIN_KEY_FILE } from '../auth/auth-service.js';
import { createClient, GroundworkApiError, type GroundworkApi } from '../client/client.js';
import type { Config } from '../config/config.js';
import { isGroundworkError } from '../kernel/errors.js';
import { readDataDirLock } from '../store/data-dir-lock.js';

/**
 * Shared CLI plumbing: config from global flags, local-or-remote API, error printing.
 * Imports only what every command needs: the config parser (zod), the app (the store, the AI
 * SDK, fastify…) load when a command uses them, so `--help` and flag errors load none of it.
 */

export interface GlobalOptions {
  config?: string;
  dataDir?: string;
  tasksDir?: string;
  json?: boolean;
}

export function globalOptions(command: Command): GlobalOptions {
  return command.optsWithGlobals() as GlobalOptions;
}

export async function configFrom(command: Command, overrides: Partial<Config> = {}): Promise<Config> {
  const { loadConfig } = await import('../config/config.js');
  const options = globalOptions(command);
  return loadConfig({
    file: options.config,
    overrides: { dataDir: options.dataDir, tasksDir: options.tasksDir, ...overrides },
  });
}

/**
 * Runs `fn` against the API: through the running server's HTTP API when a `serve`
 * process owns the embedded data folder (two processes must never open it), else
 * in-process with the folder locked for the duration of the command.
 */
export async function withApi<T>(config: Config, fn: (api: GroundworkApi, where: string) => Promise<T>): Promise<T> {
  const owner = servingOwner(config);
  if (owner?.url) return fn(createClient({ baseUrl: owner.url, apiKey: localApiKey(config) }), `server ${owner.url} (pid ${owner.pid})`);
  const [{ createApp }, { createLocalApi }] = await Promise.all([import('../app/app.js'), import('../app/local-api.js')]);
  const app = await createApp(config, { lock: { role: 'cli' }, logger: { error: (details, message) => console.error(message, details) } });
  try {
    return await fn(createLocalApi(app), config.databaseUrl ? 'PostgreSQL server' : `embedded store ${config.dataDir}`);
  } finally {
    await app.close();
  }
}

/** The `serve` process that owns the embedded data folder, if one does (never with DATABASE_URL). */
export function servingOwner(config: Config): ReturnType<typeof readDataDirLock> {
  if (config.databaseUrl) return undefined;
  const owner = readDataDirLock(config.dataDir);
  return owner?.role === 'serve' ? owner : undefined;
}

/** The key the CLI sends to a running embedded server: GROUNDWORK_API_KEY, else the data folder's admin key. */
export function localApiKey(config: Config): string | undefined {
  if (process.env.GROUNDWORK_API_KEY) return process.env.GROUNDWORK_API_KEY;
  const file = join(config.dataDir, ADMIN_KEY_FILE);
  return existsSync(file) ? readFileSync(file, 'utf8').trim() : undefined;
}

/** Prints an error the way a user can act on it (code, message, each issue) and sets the exit code. */
export function reportError(error: unknown, json = false): void {
  const typed = isGroundworkError(error)
    ? { code: error.code, message: error.message, details: error.details, run_id: error.runId }
    : error instanceof GroundworkApiError
      ? { code: error.code, message: error.message, details: error.details, run_id: error.runId }
      : undefined;
  if (json) {
    console.error(JSON.stringify({ error: typed ?? { code: 'INTERNAL', message: (error as Error).message } }));
  } else if (typed) {
    console.error(`error ${typed.code}: ${typed.message}`);
    // The operator at this terminal may see what a tenant's response never shows.
    if (isGroundworkError(error) && error.logDetail) console.error(`  detail: ${error.logDetail}`);
    const issues = typed.details?.issues as Array<{ path: string; message: string; file?: string }> | undefined;
    if (issues && !typed.message.includes('\n')) for (const i of issues) console.error(`  - ${i.file ? `${i.file}: ` : ''}${i.path}: ${i.message}`);
    if (typed.details?.attempts) console.error(`  attempts: ${JSON.stringify(typed.details.attempts)}`);
    if (typed.run_id) console.error(`  run: ${typed.run_id} (groundwork runs show ${typed.run_id})`);
  } else {
    console.error(`error: ${(error as Error).message}`);
  }
  process.exitCode = 1;
}

/** Wraps an action so every failure is reported, never thrown as a stack trace. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (error) {
      const command = args.at(-1) as Command | undefined;
      reportError(error, command && typeof command.optsWithGlobals === 'function' ? globalOptions(command).json : false);
    }
  };
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}
