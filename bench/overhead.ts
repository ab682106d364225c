/**
 * bench:overhead — Groundwork's own cost per task run: everything but the model (validate
 * input, render, route + structured output, call the mock with zero latency, parse and
 * validate output, cost, record the run in the embedded store), compared in the same
 * process with calling the mock directly with the same request; and the same task path with
 * metrics off (metrics.enabled: false) in the same rounds: what recording metrics costs.
 *
 *   npm run bench:overhead [-- --runs 3000 --warmup 300]
 *
 * Last line: {"bench":"overhead","added_p50_ms":…,"added_p99_ms":…,"runs_per_s":…,"direct_runs_per_s":…}
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createApp } from '../src/app/app.js';
import { loadConfig } from '../src/config/config.js';
import { DEFAULT_TENANT } from '../src/store/ports.js';
import { parseTaskDefinition } from '../src/tasks/definition.js';
import { startMockLlm } from '../src/testing/index.js';
import { machine, percentile, writeResult } from './report.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3000' }, warmup: { type: 'string', default: '300' } } });
const runs = Number(values.runs);
const warmup = Number(values.warmup);

const mock = await startMockLlm({ seed: 1 });
const dataDir = mkdtempSync(join(tmpdir(), 'gw-bench-overhead-'));
const configDir = mkdtempSync(join(tmpdir(), 'gw-bench-config-'));
const config = loadConfig({
  env: {},
  cwd: configDir,
  overrides: { dataDir, logLevel: 'silent' },
});
const withMock = {
  ...config,
  providers: { mock: { name: 'mock', type: 'openai-compatible' as const, base_url: mock.url, native_structured_output: true } },
  models: { 'mock-model': { name: 'mock-model', provider: 'mock', price: { input_per_mtok: 0.15, output_per_mtok: 0.6 } } },
  routes: { default: ['mock-model'] },
};

const definition = parseTaskDefinition(
  {
    name: 'ticket-triage',
    input_schema: {
      type: 'object',
      additionalProperties: false,
      required: ['subject', 'body'],
      properties: {
        subject: { type: 'string', maxLength: 300 },
        body: { type: 'string', maxLength: 20_000 },
        customer: { type: 'object', properties: { name: { type: 'string' } } },
      },
    },
    output_schema: {
      type: 'object',
      additionalProperties: false,
      required: ['category', 'priority', 'summary'],
      properties: {
        category: { enum: ['billing', 'bug', 'account', 'other'] },
        priority: { enum: ['low', 'normal', 'high'] },
        summary: { type: 'string', maxLength: 160 },
      },
    },
    prompt: { system: 'You triage support tickets. Reply with JSON only.', user: 'Customer: {{customer.name}}\nSubject: {{subject}}\n\n{{body}}' },
    route: 'default',
  },
  withMock,
);
const input = {
  subject: 'Charged twice for order 88123',
  body: 'My card was charged twice for order #88123 yesterday. Please refund the duplicate.',
  customer: { name: 'Dana' },
};

// Direct: the same chat-completions request the provider sends, straight to the mock.
const directBody = JSON.stringify({
  model: 'mock-model',
  messages: [
    { role: 'system', content: definition.prompt.system },
    { role: 'user', content: `Customer: Dana\nSubject: ${input.subject}\n\n${input.body}` },
  ],
  max_tokens: 1024,
  response_format: { type: 'json_schema', json_schema: { name: 'ticket-triage', schema: definition.output_schema, strict: true } },
});
async function direct(): Promise<void> {
  const response = await fetch(`${mock.url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: directBody });
  const json = (await response.json()) as { choices: Array<{ message: { content: string } }> };
  JSON.parse(json.choices[0].message.content);
}

const app = await createApp(withMock, { lock: { role: 'cli' }, logger: { error: (d, m) => console.error(m, d) } });
await app.tasks.push(DEFAULT_TENANT, [definition]);
// The same task path with metrics off (nothing counted), in the same run: what recording metrics costs.
const quietDir = mkdtempSync(join(tmpdir(), 'gw-bench-overhead-quiet-'));
const quiet = await createApp(
  { ...withMock, dataDir: quietDir, metrics: { enabled: false } },
  { lock: { role: 'cli' }, logger: { error: (d, m) => console.error(m, d) } },
);
await quiet.tasks.push(DEFAULT_TENANT, [definition]);
const runOn = (target: typeof app) => async (): Promise<void> => {
  const task = await target.tasks.resolve(DEFAULT_TENANT, definition.name);
  await target.runTask({ tenantId: DEFAULT_TENANT, task, input });
};
const throughGroundwork = runOn(app);
const withoutMetrics = runOn(quiet);

async function measure(fn: () => Promise<void>): Promise<{ latencies: number[]; perSecond: number }> {
  for (let i = 0; i < warmup; i++) await fn();
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn();
    latencies.push(performance.now() - t0);
  }
  return { latencies, perSecond: runs / ((performance.now() - started) / 1000) };
}

// Interleave two rounds of each so drift on a noisy machine hits both sides alike.
const directRounds = [await measure(direct)];
const quietRounds = [await measure(withoutMetrics)];
const gwRounds = [await measure(throughGroundwork)];
directRounds.push(await measure(direct));
// Metrics off before on in the first round, after it in the second: the order's drift cancels.
gwRounds.push(await measure(throughGroundwork));
quietRounds.push(await measure(withoutMetrics));
const directLat = directRounds.flatMap((r) => r.latencies);
const gwLat = gwRounds.flatMap((r) => r.latencies);

const result = {
  bench: 'overhead',
  added_p50_ms: round(percentile(gwLat, 50) - percentile(directLat, 50)),
  added_p99_ms: round(percentile(gwLat, 99) - percentile(directLat, 99)),
  runs_per_s: Math.round(Math.min(...gwRounds.map((r) => r.perSecond))),
  direct_runs_per_s: Math.round(Math.min(...directRounds.map((r) => r.perSecond))),
  groundwork_p50_ms: round(percentile(gwLat, 50)),
  groundwork_p99_ms: round(percentile(gwLat, 99)),
  direct_p50_ms: round(percentile(directLat, 50)),
  direct_p99_ms: round(percentile(directLat, 99)),
  metrics_off_runs_per_s: Math.round(Math.min(...quietRounds.map((r) => r.perSecond))),
  metrics_off_p50_ms: round(
    percentile(
      quietRounds.flatMap((r) => r.latencies),
      50,
    ),
  ),
  metrics_on_vs_off_runs_per_s: round(Math.min(...gwRounds.map((r) => r.perSecond)) / Math.min(...quietRounds.map((r) => r.perSecond))),
  runs_measured: gwLat.length,
  store: 'embedded (PGlite)',
  machine: machine(),
};

await app.close();
await quiet.close();
await mock.close();
rmSync(dataDir, { recursive: true, force: true });
rmSync(quietDir, { recursive: true, force: true });
writeResult('overhead', result);

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
