import { Command } from 'commander';
import type { Config } from '../../config/config.js';
import { GroundworkError } from '../../kernel/errors.js';
import { action, configFrom } from '../context.js';

/**
 * `groundwork worker`: works jobs from the PostgreSQL queue until SIGTERM/SIGINT, logging JSON
 * lines. Graceful: on the signal it stops fetching, lets the jobs in flight finish for up to
 * the shutdown timeout, then releases the rest to the queue for another worker. A second
 * signal ends it at once (the queue re-delivers what it held once their tries expire).
 */

export function workerCommand(): Command {
  return new Command('worker')
    .description('work background jobs from the PostgreSQL queue until SIGTERM/SIGINT (needs DATABASE_URL; embedded, `serve` works the jobs itself)')
    .option('--concurrency <n>', 'jobs worked at once (default: config jobs.concurrency)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 256) throw new Error(`--concurrency must be an integer 1..256, got "${v}"`);
      return n;
    })
    .action(
      action(async (options: { concurrency?: number }, command: Command) => {
        const config = await configFrom(command);
        if (!config.databaseUrl) {
          throw new GroundworkError(
            'CONFIG_INVALID',
            '`groundwork worker` needs DATABASE_URL (PostgreSQL). In the embedded mode `groundwork serve` owns the data folder and works the jobs itself; run workers only in the scaled-out mode.',
            { details: { issues: [{ path: 'DATABASE_URL', message: 'is not set' }] } },
          );
        }
        const log = jsonLines(config.logLevel);
        const signalled = new Promise<NodeJS.Signals>((resolve) => {
          process.once('SIGTERM', resolve);
          process.once('SIGINT', resolve);
        });
        const { createApp } = await import('../../app/app.js');
        const app = await createApp(config, { lock: { role: 'worker' }, logger: log });
        try {
          const concurrency = options.concurrency ?? config.jobs.concurrency;
          await app.jobs.start(app, { concurrency, logger: log });
          log.info({ concurrency }, 'worker started');
          const signal = await signalled;
          log.info({ signal }, 'worker stopping: no new jobs, finishing the ones in flight');
          await app.jobs.stop({ timeoutMs: config.shutdownTimeoutMs });
        } finally {
          await app.close();
        }
        log.info({}, 'worker stopped');
      }),
    );
}

const LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Number.POSITIVE_INFINITY } as const;

type Line = (details: Record<string, unknown>, message: string) => void;

/** One JSON object per line on stdout (pino's shape: level, time, pid, msg). Errors keep name, code and message. */
function jsonLines(level: Config['logLevel']): { info: Line; warn: Line; error: Line } {
  const threshold = LEVELS[level];
  const line =
    (name: 'info' | 'warn' | 'error'): Line =>
    (details, message) => {
      if (LEVELS[name] < threshold) return;
      const { err, ...rest } = details;
      const error =
        err instanceof Error
          ? { type: err.name, message: err.message, ...((err as { code?: unknown }).code ? { code: (err as { code?: unknown }).code } : {}) }
          : err;
      process.stdout.write(
        `${JSON.stringify({ level: name, time: new Date().toISOString(), pid: process.pid, msg: message, ...rest, ...(error === undefined ? {} : { err: error }) })}\n`,
      );
    };
  return { info: line('info'), warn: line('warn'), error: line('error') };
}
