import { Command } from 'commander';
import type { MockFaultRates, MockLlmOptions, MockStats } from '../../testing/index.js';

/**
 * `groundwork mock-llm`: runs the FAKE model server from src/testing for manual and external tests.
 * It imports nothing from the app on purpose: starting a fake must not need a config or a database.
 * It reaches the kit only through its public entry (testing/index.ts, what users import as
 * `groundwork/testing`): the one arrow from `cli` into `testing` that ARCHITECTURE.md allows.
 */

/** The flags exactly as typed; parseMockLlmFlags checks them all at once. */
export interface MockLlmFlags {
  host?: string;
  port?: string;
  seed?: string;
  latency?: string;
  fault5xx?: string;
  fault429?: string;
  retryAfter?: string;
  faultHang?: string;
  hangMs?: string;
  faultMalformed?: string;
  faultSchema?: string;
  faultTruncated?: string;
}

export type ParsedMockLlmFlags = { ok: true; options: MockLlmOptions } | { ok: false; errors: string[] };

/** How the command talks to the world; tests replace it to capture output and stop on cue. */
export interface MockLlmCommandIo {
  log(line: string): void;
  /** Resolves when the server should shut down (SIGINT or SIGTERM by default). */
  untilStopped(): Promise<void>;
}

export const DEFAULT_MOCK_LLM_PORT = 11435;

const FAULT_FLAGS: ReadonlyArray<[keyof MockLlmFlags, keyof MockFaultRates, string]> = [
  ['fault5xx', 'error5xx', '--fault-5xx'],
  ['fault429', 'rateLimit', '--fault-429'],
  ['faultHang', 'hang', '--fault-hang'],
  ['faultMalformed', 'malformed', '--fault-malformed'],
  ['faultSchema', 'schemaViolation', '--fault-schema'],
  ['faultTruncated', 'truncated', '--fault-truncated'],
];

/** Pure: turns raw flag strings into server options, or lists every problem with its flag name. */
export function parseMockLlmFlags(flags: MockLlmFlags): ParsedMockLlmFlags {
  const errors: string[] = [];
  const integer = (flag: string, raw: string | undefined, min: number, max: number): number | undefined => {
    if (raw === undefined) return undefined;
    const value = raw.trim() === '' ? NaN : Number(raw);
    if (Number.isInteger(value) && value >= min && value <= max) return value;
    errors.push(`${flag} must be an integer from ${min} to ${max}, got "${raw}"`);
    return undefined;
  };

  const faults: MockFaultRates = {};
  let sum = 0;
  for (const [key, fault, flag] of FAULT_FLAGS) {
    const raw = flags[key];
    if (raw === undefined) continue;
    const p = raw.trim() === '' ? NaN : Number(raw);
    if (!Number.isFinite(p) || p < 0 || p > 1) {
      errors.push(`${flag} must be a probability from 0 to 1, got "${raw}"`);
      continue;
    }
    faults[fault] = p;
    sum += p;
  }
  if (sum > 1 + 1e-9) {
    const named = FAULT_FLAGS.filter(([key]) => flags[key] !== undefined).map(([, , flag]) => flag);
    errors.push(`fault probabilities (${named.join(', ')}) sum to ${round(sum)}; they must sum to at most 1`);
  }

  let latency: MockLlmOptions['latency'];
  if (flags.latency !== undefined) {
    const match = /^\s*(\d+)\s*(?:-\s*(\d+)\s*)?$/.exec(flags.latency);
    const minMs = match ? Number(match[1]) : NaN;
    const maxMs = match?.[2] !== undefined ? Number(match[2]) : minMs;
    if (!match || maxMs < minMs) errors.push(`--latency must be milliseconds "N" or a range "MIN-MAX" with MIN <= MAX, got "${flags.latency}"`);
    else latency = { minMs, maxMs };
  }

  const host = flags.host?.trim() ?? '127.0.0.1';
  if (host === '') errors.push('--host must not be empty');
  const options: MockLlmOptions = {
    host,
    port: integer('--port', flags.port, 0, 65_535) ?? DEFAULT_MOCK_LLM_PORT,
    seed: integer('--seed', flags.seed, 0, 2 ** 32 - 1) ?? 1,
    latency,
    faults,
    retryAfterSeconds: integer('--retry-after', flags.retryAfter, 0, 86_400) ?? 1,
    hangMs: integer('--hang-ms', flags.hangMs, 0, 3_600_000),
  };
  return errors.length > 0 ? { ok: false, errors } : { ok: true, options };
}

const signalIo: MockLlmCommandIo = {
  log: (line) => console.log(line),
  untilStopped: () =>
    new Promise((resolve) => {
      const stop = (): void => {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    }),
};

export function mockLlmCommand(io: MockLlmCommandIo = signalIo): Command {
  const probability = (what: string): string => `probability (0-1) that a request ${what}; default 0`;
  return new Command('mock-llm')
    .description('run a FAKE OpenAI-compatible model server for testing (canned replies, injectable faults); never a real model')
    .option('--host <host>', 'address to listen on (default 127.0.0.1)')
    .option('--port <port>', `port to listen on, 0 for any free port (default ${DEFAULT_MOCK_LLM_PORT})`)
    .option('--seed <n>', 'PRNG seed; the same seed and request sequence give the same faults (default 1)')
    .option('--latency <ms>', 'delay before each reply: fixed "50" or uniform range "20-80" in ms (default 0)')
    .option('--fault-5xx <p>', probability('gets a 500/502/503 error'))
    .option('--fault-429 <p>', probability('gets a 429 rate limit with Retry-After'))
    .option('--retry-after <s>', 'seconds sent in the Retry-After header of a 429 (default 1)')
    .option('--fault-hang <p>', probability('never gets an answer (see --hang-ms)'))
    .option('--hang-ms <ms>', 'answer hung requests normally after this many ms (default: hang until the client disconnects)')
    .option('--fault-malformed <p>', probability('gets syntactically broken JSON content'))
    .option('--fault-schema <p>', probability('gets valid JSON that violates the requested schema'))
    .option('--fault-truncated <p>', probability('gets content cut in half with finish_reason "length"'))
    .addHelpText(
      'after',
      '\nPer-request overrides: header x-mock-fault: none|5xx|429|hang|malformed|schema|truncated, x-mock-latency-ms: N.\nGET /_mock/stats returns outcome counts; POST /_mock/reset zeroes them and re-seeds.',
    )
    .action(async (flags: MockLlmFlags, command: Command) => {
      const parsed = parseMockLlmFlags(flags);
      if (!parsed.ok) command.error(parsed.errors.map((e) => `error: ${e}`).join('\n'), { exitCode: 2, code: 'groundwork.invalidFlags' });
      const { options } = parsed;
      const { startMockLlm } = await import('../../testing/index.js');
      let mock;
      try {
        mock = await startMockLlm(options);
      } catch (error) {
        command.error(`error: could not start mock-llm on ${options.host}:${options.port}: ${(error as Error).message}`, { exitCode: 1 });
      }
      io.log(banner(mock.url, options));
      await io.untilStopped();
      const stats = mock.stats();
      await mock.close();
      io.log(`mock-llm stopped after ${stats.total} chat completion request(s): ${describeOutcomes(stats)}`);
    });
}

function banner(url: string, options: MockLlmOptions): string {
  const latency = options.latency ? `${options.latency.minMs}${options.latency.maxMs !== options.latency.minMs ? `-${options.latency.maxMs}` : ''} ms` : '0 ms';
  const faults = FAULT_FLAGS.filter(([, fault]) => (options.faults?.[fault] ?? 0) > 0)
    .map(([, fault, flag]) => `${flag.slice('--fault-'.length)} ${round((options.faults?.[fault] ?? 0) * 100)}%`)
    .join(', ');
  return [
    'groundwork mock-llm: a FAKE OpenAI-compatible model server, for TESTING ONLY. Replies are canned, not from a model.',
    `  base URL  ${url}`,
    `  seed ${options.seed}, latency ${latency}, faults: ${faults || 'none'}`,
    '  Ctrl+C to stop.',
  ].join('\n');
}

function describeOutcomes(stats: MockStats): string {
  const parts = Object.entries(stats.outcomes)
    .filter(([, n]) => n > 0)
    .map(([outcome, n]) => `${outcome} ${n}`);
  return parts.length > 0 ? parts.join(', ') : 'none';
}

function round(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
