/**
 * bench:eval — the eval runner's throughput and its own cost per case. The bundled
 * ticket-triage task (examples/ticket-triage) runs on the mock model (zero latency, and a
 * second mock at a fixed latency) in an embedded store; cases are drawn with a seeded
 * generator from examples/ticket-triage/evals/ticket-triage.jsonl. One eval is what
 * `groundwork eval` runs (app/evaluate.ts: the dataset parsed and checked, every case run
 * through the task, scored, the scorecard with its bootstrap intervals built).
 *
 * - cases/s at --concurrency at 0 ms and at --latency-ms, and at concurrency 1 at --latency-ms
 *   (on --serial-cases cases): with a model that takes time, cases overlap.
 * - The eval's own cost: the same number of plain runs of the same prepared task
 *   (app.runTask) at the same concurrency, at 0 ms; rounds interleaved, medians compared.
 *
 *   npm run bench:eval [-- --cases 400 --concurrency 8 --latency-ms 200 --serial-cases 40 --rounds 3 --seed 1]
 *
 * Last line: {"bench":"eval","cases":…,"concurrency":…,"cases_per_s_0ms":…,"cases_per_s_200ms":…,
 *   "cases_per_s_200ms_serial":…,"direct_runs_per_s_0ms":…,"overhead_ms_per_case":…,"overhead_ratio":…}
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createApp } from '../src/app/app.js';
import { evaluateTask } from '../src/app/evaluate.js';
import { loadConfig } from '../src/config/config.js';
import { mulberry32 } from '../src/kernel/random.js';
import { DEFAULT_TENANT } from '../src/store/ports.js';
import { loadTaskFiles } from '../src/tasks/task-files.js';
import { startMockLlm } from '../src/testing/index.js';
import { machine, percentile, writeResult } from './report.js';

const here = dirname(fileURLToPath(import.meta.url));
const example = join(here, here.includes(join('dist', 'bench')) ? '../..' : '..', 'examples', 'ticket-triage');
const { values } = parseArgs({
  options: {
    cases: { type: 'string', default: '400' },
    concurrency: { type: 'string', default: '8' },
    'latency-ms': { type: 'string', default: '200' },
    'serial-cases': { type: 'string', default: '40' },
    rounds: { type: 'string', default: '3' },
    seed: { type: 'string', default: '1' },
  },
});
const cases = whole(values.cases, 'cases');
const concurrency = whole(values.concurrency, 'concurrency');
const latencyMs = Number(values['latency-ms']);
const serialCases = Math.min(whole(values['serial-cases'], 'serial-cases'), cases);
const rounds = whole(values.rounds, 'rounds');
const seed = whole(values.seed, 'seed');
console.log(`bench:eval seed ${seed}: ${cases} cases at concurrency ${concurrency}, ${rounds} rounds at 0 ms; ${latencyMs} ms model latency`);

// The example's cases, drawn with replacement (seeded) into a dataset of `cases` lines with ids of their own.
const exampleCases = readFileSync(join(example, 'evals', 'ticket-triage.jsonl'), 'utf8')
  .split('\n')
  .filter((line) => line.trim() !== '')
  .map((line) => JSON.parse(line) as { input: Record<string, unknown>; [field: string]: unknown });
const random = mulberry32(seed);
const drawn = Array.from({ length: cases }, (_, i) => ({ ...exampleCases[Math.floor(random() * exampleCases.length)], id: `case-${i}` }));
const datasetOf = (n: number) => ({
  name: 'ticket-triage-drawn',
  text: drawn
    .slice(0, n)
    .map((c) => JSON.stringify(c))
    .join('\n'),
});

const fast = await startMockLlm({ seed });
const slow = await startMockLlm({ seed, latency: { minMs: latencyMs, maxMs: latencyMs } });
const dataDir = mkdtempSync(join(tmpdir(), 'gw-bench-eval-'));
const configDir = mkdtempSync(join(tmpdir(), 'gw-bench-cfg-'));
const config = loadConfig({ env: {}, cwd: configDir, overrides: { dataDir, logLevel: 'silent' } });
const price = { input_per_mtok: 0.1, output_per_mtok: 0.4 };
const withMocks = {
  ...config,
  providers: {
    fast: { name: 'fast', type: 'openai-compatible' as const, base_url: fast.url, native_structured_output: true },
    slow: { name: 'slow', type: 'openai-compatible' as const, base_url: slow.url, native_structured_output: true },
  },
  models: { 'mock-0ms': { name: 'mock-0ms', provider: 'fast', price }, 'mock-slow': { name: 'mock-slow', provider: 'slow', price } },
  // The task file names the route `local`: here it is the zero-latency mock.
  routes: { local: ['mock-0ms'] },
};
// The example's task as its file says it, but for its route: one task per mock.
const [{ definition }] = loadTaskFiles(join(example, 'tasks'), withMocks);
const FAST = definition.name;
const SLOW = `${definition.name}-slow`;

const app = await createApp(withMocks, { lock: { role: 'cli' }, logger: { error: (d, m) => console.error(m, d) } });
try {
  await app.tasks.push(DEFAULT_TENANT, [
    { ...definition, route: ['mock-0ms'] },
    { ...definition, name: SLOW, route: ['mock-slow'] },
  ]);
  const task = await app.tasks.resolve(DEFAULT_TENANT, FAST);

  /** One eval of the first `n` drawn cases; its wall time in seconds. */
  const evaluate = async (name: string, n: number, atOnce: number): Promise<number> => {
    const started = performance.now();
    const outcome = await evaluateTask(app, { tenantId: DEFAULT_TENANT, task: name, baseline: 'none', dataset: datasetOf(n), concurrency: atOnce });
    const seconds = (performance.now() - started) / 1000;
    const trials = outcome.report.trials;
    const failed = trials.filter((t) => t.result.status !== 'ok').length;
    if (trials.length !== n || failed > 0) throw new Error(`eval of ${name}: ${trials.length} trials of ${n} ran, ${failed} did not answer`);
    return seconds;
  };
  /** The same cases as plain runs of the same prepared task, `atOnce` in flight. */
  const direct = async (n: number, atOnce: number): Promise<number> => {
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < n) await app.runTask({ tenantId: DEFAULT_TENANT, task, input: drawn[next++].input });
    };
    await Promise.all(Array.from({ length: Math.min(atOnce, n) }, worker));
    return (performance.now() - started) / 1000;
  };

  await evaluate(FAST, Math.min(cases, 100), concurrency); // warm-up: JIT, caches, the mock's sockets
  await direct(Math.min(cases, 100), concurrency);
  // Interleaved, so drift on a noisy machine hits both sides alike.
  const evalSeconds: number[] = [];
  const directSeconds: number[] = [];
  for (let r = 0; r < rounds; r++) {
    directSeconds.push(await direct(cases, concurrency));
    evalSeconds.push(await evaluate(FAST, cases, concurrency));
  }
  const slowSeconds = await evaluate(SLOW, cases, concurrency);
  const serialSeconds = await evaluate(SLOW, serialCases, 1);

  const evalS = percentile(evalSeconds, 50);
  const directS = percentile(directSeconds, 50);
  writeResult('eval', {
    bench: 'eval',
    cases,
    concurrency,
    cases_per_s_0ms: Math.round(cases / evalS),
    [`cases_per_s_${latencyMs}ms`]: round(cases / slowSeconds),
    [`cases_per_s_${latencyMs}ms_serial`]: round(serialCases / serialSeconds),
    direct_runs_per_s_0ms: Math.round(cases / directS),
    overhead_ms_per_case: round(((evalS - directS) * 1000) / cases),
    overhead_ratio: round(evalS / directS),
    serial_cases: serialCases,
    rounds,
    seed,
    task: 'examples/ticket-triage (mock model, structured output)',
    store: 'embedded (PGlite)',
    machine: machine(),
  });
} finally {
  await app.close();
  await fast.close();
  await slow.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(configDir, { recursive: true, force: true });
}

function whole(text: string | boolean | undefined, name: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`--${name} must be a whole number ≥ 1`);
  return n;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
