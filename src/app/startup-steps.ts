import { hostname } from 'node:os';
import type { Config } from '../config/config.js';

/** The two pino methods a step uses (fastify's `server.log` is one). */
export interface StepLogger {
  info(details: Record<string, unknown>, message: string): void;
  debug(details: Record<string, unknown>, message: string): void;
}

export interface StartupStepsOptions {
  level: Config['logLevel'];
  /** The server's logger once it exists; until then lines of pino's shape go to `write`. */
  logger: () => StepLogger | undefined;
  /** Where lines go before the server's logger exists (default stdout, where pino writes). */
  write?: (line: string) => void;
  /** A step still running after this long says so at that moment, and its duration at the end (default 500 ms). */
  slowMs?: number;
  now?: () => number;
}

/** A step's name; `announce` is said as it begins (a step known to take seconds, such as a first start's initdb). */
export type StartupStep = string | { label: string; announce?: string };

export interface StartupSteps {
  run<T>(step: StartupStep, fn: () => Promise<T>): Promise<T>;
}

const PINO_LEVELS = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Number.POSITIVE_INFINITY } as const;

/**
 * Times `serve`'s start-up steps and logs the slow ones while they happen: a step that has
 * run `slowMs` says "<step>…" at that moment, and "<step>: done in 2.1 s" when it ends; a fast
 * step logs its time at debug only. Silence until "listening" (16 s on a loaded machine, for a
 * first start) looks like a hang; one line per slow step says what the time is spent on.
 */
export function startupSteps(options: StartupStepsOptions): StartupSteps {
  const now = options.now ?? (() => performance.now());
  const slowMs = options.slowMs ?? 500;
  const write = options.write ?? ((line: string) => void process.stdout.write(line));
  const threshold = PINO_LEVELS[options.level];
  // Before the server exists: lines as its pino logger writes them (level, time, pid, hostname, fields, msg).
  const early =
    (level: 'info' | 'debug'): StepLogger[typeof level] =>
    (details, message) => {
      if (PINO_LEVELS[level] < threshold) return;
      write(`${JSON.stringify({ level: PINO_LEVELS[level], time: Date.now(), pid: process.pid, hostname: hostname(), ...details, msg: message })}\n`);
    };
  const fallback: StepLogger = { info: early('info'), debug: early('debug') };
  const log = () => options.logger() ?? fallback;

  return {
    async run(step, fn) {
      const { label, announce } = typeof step === 'string' ? { label: step, announce: undefined } : step;
      const started = now();
      if (announce) log().info({ step: label }, announce);
      const still = announce ? undefined : setTimeout(() => log().info({ step: label, ms: Math.round(now() - started) }, `${label}…`), slowMs);
      still?.unref();
      try {
        const result = await fn();
        const ms = Math.round(now() - started);
        const slow = announce !== undefined || ms >= slowMs;
        log()[slow ? 'info' : 'debug']({ step: label, ms }, `${label}: done in ${seconds(ms)}`);
        return result;
      } finally {
        clearTimeout(still);
      }
    },
  };
}

function seconds(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}
