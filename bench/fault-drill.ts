/**
 * The fault drill: N task runs through a route whose tier 1 is a faulty mock (5xx, 429 with
 * Retry-After, hangs, malformed JSON) and whose tier 2 is healthy. Used by the fault test
 * (asserts every run ends valid or typed, within its deadline) and by `npm run bench:faults`
 * (reports the counts and latency percentiles).
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '../src/app/app.js';
import { loadConfig, type Config } from '../src/config/config.js';
import { isGroundworkError } from '../src/kernel/errors.js';
import { DEFAULT_TENANT } from '../src/store/ports.js';
import { parseTaskDefinition, type TaskDefinition } from '../src/tasks/definition.js';
import { validateValue } from '../src/tasks/json-schema.js';
import { startMockLlm, type MockStats } from '../src/testing/index.js';
import { percentile } from './report.js';

export interface FaultDrillOptions {
  runs: number;
  concurrency: number;
  /** The run deadline (task limits.timeout_ms). */
  deadlineMs: number;
  seed: number;
  faults: { error5xx: number; rateLimit: number; hang: number; malformed: number };
}

export const DEFAULT_DRILL: FaultDrillOptions = {
  runs: 1_000,
  concurrency: 25,
  deadlineMs: 5_000,
  seed: 42,
  faults: { error5xx: 0.2, rateLimit: 0.1, hang: 0.05, malformed: 0.1 },
};

export interface RunOutcome {
  ok: boolean;
  /** Error code for typed failures; 'UNTYPED' would be a bug. */
  code?: string;
  latencyMs: number;
  degraded: boolean;
  outputValid: boolean;
}

export interface FaultDrillReport {
  runs: number;
  ok: number;
  degraded: number;
  typed_errors: Record<string, number>;
  untyped_errors: number;
  invalid_outputs_returned: number;
  over_deadline: number;
  attempts_by_outcome: Record<string, number>;
  tier1_mock: MockStats;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  wall_s: number;
}

const definitionSource = {
  name: 'ticket-triage',
  input_schema: { type: 'object', required: ['subject', 'body'], properties: { subject: { type: 'string' }, body: { type: 'string' } } },
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
  prompt: { system: 'Triage the ticket. Reply with JSON only.', user: 'Subject: {{subject}}\n\n{{body}}' },
  route: 'drill',
};

export async function runFaultDrill(options: FaultDrillOptions = DEFAULT_DRILL): Promise<{ report: FaultDrillReport; outcomes: RunOutcome[] }> {
  const flaky = await startMockLlm({ seed: options.seed, faults: options.faults, retryAfterSeconds: 1 });
  const healthy = await startMockLlm({ seed: options.seed + 1 });
  const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-drill-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
  const config: Config = {
    ...base,
    providers: {
      flaky: { name: 'flaky', type: 'openai-compatible', base_url: flaky.url, native_structured_output: true },
      healthy: { name: 'healthy', type: 'openai-compatible', base_url: healthy.url, native_structured_output: true },
    },
    models: {
      'tier1-model': { name: 'tier1-model', provider: 'flaky', price: { input_per_mtok: 0.15, output_per_mtok: 0.6 } },
      'tier2-model': { name: 'tier2-model', provider: 'healthy', price: { input_per_mtok: 2.5, output_per_mtok: 10 } },
    },
    routes: { drill: ['tier1-model', 'tier2-model'] },
    resilience: {
      retries: 2,
      backoff_base_ms: 25,
      backoff_max_ms: 400,
      retry_after_cap_ms: 1_000,
      attempt_timeout_ms: 400,
      breaker_failure_rate: 0.5,
      breaker_window: 100,
      breaker_min_calls: 20,
      breaker_half_open_after_ms: 500,
    },
  };
  const definition: TaskDefinition = parseTaskDefinition({ ...definitionSource, limits: { timeout_ms: options.deadlineMs, max_output_tokens: 256 } }, config);
  const app = await createApp(config, { lock: false, logger: { error: () => undefined } });
  const outcomes: RunOutcome[] = [];
  const started = performance.now();
  try {
    await app.tasks.push(DEFAULT_TENANT, [definition]);
    const task = await app.tasks.resolve(DEFAULT_TENANT, definition.name);
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < options.runs) {
        const i = next++;
        const t0 = performance.now();
        try {
          const result = await app.runTask({ tenantId: DEFAULT_TENANT, task, input: { subject: `Ticket ${i}`, body: 'My invoice is wrong.' } });
          outcomes.push({
            ok: true,
            latencyMs: performance.now() - t0,
            degraded: result.degraded,
            outputValid: validateValue(definition.output_schema, result.output).length === 0,
          });
        } catch (error) {
          outcomes.push({
            ok: false,
            code: isGroundworkError(error) ? error.code : 'UNTYPED',
            latencyMs: performance.now() - t0,
            degraded: false,
            outputValid: false,
          });
        }
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    const wallS = (performance.now() - started) / 1000;
    const rows = await app.store.db.query<{ outcome: string; n: number }>(
      'select outcome, count(*)::int as n from run_attempts group by outcome order by outcome',
    );
    const latencies = outcomes.map((o) => o.latencyMs);
    const typed: Record<string, number> = {};
    for (const o of outcomes) if (!o.ok && o.code !== 'UNTYPED') typed[o.code ?? '?'] = (typed[o.code ?? '?'] ?? 0) + 1;
    const report: FaultDrillReport = {
      runs: outcomes.length,
      ok: outcomes.filter((o) => o.ok).length,
      degraded: outcomes.filter((o) => o.degraded).length,
      typed_errors: typed,
      untyped_errors: outcomes.filter((o) => o.code === 'UNTYPED').length,
      invalid_outputs_returned: outcomes.filter((o) => o.ok && !o.outputValid).length,
      over_deadline: outcomes.filter((o) => o.latencyMs > options.deadlineMs + 250).length,
      attempts_by_outcome: Object.fromEntries(rows.map((r) => [r.outcome, r.n])),
      tier1_mock: flaky.stats(),
      p50_ms: round(percentile(latencies, 50)),
      p99_ms: round(percentile(latencies, 99)),
      max_ms: round(Math.max(...latencies)),
      wall_s: round(wallS),
    };
    return { report, outcomes };
  } finally {
    await app.close();
    await flaky.close();
    await healthy.close();
  }
}

const round = (n: number): number => Math.round(n * 10) / 10;
