import { Counter, Gauge, Registry } from 'prom-client';
import { FastCounter, FastHistogram } from './series.js';
import type { RunRecord } from '../store/ports.js';

/**
 * Prometheus metrics (prom-client), one registry per app. Runs are counted from their records
 * as they are recorded (task runs, `ask`, the gateway, jobs, evals alike: every run passes the
 * recorder), so the hot path pays one call per run, after its answer. Labels are bounded: task
 * names, versions, models, providers, outcomes, error codes, tenants and route templates,
 * never an id. The OpenTelemetry GenAI client metrics follow the semantic conventions' names
 * (v1.41, experimental) in Prometheus form: `gen_ai.client.operation.duration` →
 * `gen_ai_client_operation_duration_seconds`, `gen_ai.client.token.usage` →
 * `gen_ai_client_token_usage`, attribute dots as underscores.
 */

export interface Metrics {
  readonly registry: Registry;
  /** A run as recorded (its attempts, tokens, cost and grounding). */
  run(tenantId: string, run: RunRecord): void;
  /** An HTTP answer: the route's template (not its path), the status. */
  request(method: string, route: string, status: number, seconds: number): void;
  /** A typed error answered (rate limits and quota refusals among them), by code. */
  refusal(code: string): void;
  /** The Prometheus text of every metric. */
  render(): Promise<string>;
}

/** Metrics switched off (`metrics.enabled: false`): nothing counted, nothing served. */
export function noMetrics(): Metrics {
  const registry = new Registry();
  return { registry, run: () => undefined, request: () => undefined, refusal: () => undefined, render: () => registry.metrics() };
}

export interface MetricsSources {
  /** Jobs by queue state and the age of the oldest queued one, read when the metrics are scraped. */
  jobs?(): Promise<{ byStatus: Record<string, number>; oldestQueuedSeconds: number; deadLetters: number }>;
}

// The semantic conventions' advised bucket boundaries.
const DURATION_BUCKETS = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
const TOKEN_BUCKETS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const ADDED_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];

export function createMetrics(sources: MetricsSources = {}): Metrics {
  const registry = new Registry();
  const r = { registers: [registry] };
  // The series every run and request touch: kept by hand (series.ts says why).
  const httpDuration = new FastHistogram(
    'groundwork_http_request_duration_seconds',
    'HTTP requests by route template, method and status',
    ['method', 'route', 'status_code'],
    HTTP_BUCKETS,
  );
  const operationDuration = new FastHistogram(
    'gen_ai_client_operation_duration_seconds',
    'GenAI operation duration (OpenTelemetry gen_ai.client.operation.duration): one per model call',
    ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model', 'error_type'],
    DURATION_BUCKETS,
  );
  const tokenUsage = new FastHistogram(
    'gen_ai_client_token_usage',
    'Tokens used per model call (OpenTelemetry gen_ai.client.token.usage)',
    ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model', 'gen_ai_token_type'],
    TOKEN_BUCKETS,
  );
  const runs = new FastCounter('groundwork_runs_total', 'Runs by task, version and outcome (ok or an error code)', ['task', 'version', 'outcome']);
  const attempts = new FastCounter('groundwork_attempts_total', 'Model calls by provider, model and outcome', ['provider', 'model', 'outcome']);
  const usd = new FastCounter('groundwork_cost_usd_total', 'USD spent, by task, model and tenant', ['task', 'model', 'tenant']);
  const added = new FastHistogram(
    'groundwork_added_latency_seconds',
    "Groundwork's own time per run: its latency less its model calls' (the gateway's overhead per call)",
    ['task'],
    ADDED_BUCKETS,
  );
  const handKept = [httpDuration, operationDuration, tokenUsage, runs, attempts, usd, added];
  const escalations = new Counter({
    name: 'groundwork_escalations_total',
    help: 'Calls made on a later tier, by task and reason',
    labelNames: ['task', 'reason'],
    ...r,
  });
  const repairs = new Counter({ name: 'groundwork_repairs_total', help: 'Outputs repaired into valid JSON, by task', labelNames: ['task'], ...r });
  const reasks = new Counter({ name: 'groundwork_reasks_total', help: 'Re-asks after invalid output, by task', labelNames: ['task'], ...r });
  const citations = new Counter({
    name: 'groundwork_citations_total',
    help: 'Citations of grounded runs: proposed and verified',
    labelNames: ['task', 'state'],
    ...r,
  });
  const grounded = new Counter({
    name: 'groundwork_grounded_runs_total',
    help: 'Grounded runs by result: answered, abstained, ungrounded',
    labelNames: ['task', 'result'],
    ...r,
  });
  const refusals = new Counter({
    name: 'groundwork_errors_total',
    help: 'Typed errors answered, by code (RATE_LIMITED and QUOTA_EXCEEDED are the refusals)',
    labelNames: ['code'],
    ...r,
  });
  if (sources.jobs) {
    const read = sources.jobs;
    type Snapshot = Awaited<ReturnType<typeof read>>;
    let last: Promise<Snapshot> | undefined;
    // One read per scrape for the three gauges; a read that fails (the store away) leaves them
    // at zero rather than failing the whole scrape.
    const empty: Snapshot = { byStatus: {}, oldestQueuedSeconds: 0, deadLetters: 0 };
    const snapshot = () =>
      (last ??= read()
        .catch(() => empty)
        .finally(() => setTimeout(() => (last = undefined), 0)));
    new Gauge({
      name: 'groundwork_jobs',
      help: 'Jobs by status',
      labelNames: ['status'],
      ...r,
      async collect() {
        this.reset();
        for (const [status, n] of Object.entries((await snapshot()).byStatus)) this.set({ status }, n);
      },
    });
    new Gauge({
      name: 'groundwork_jobs_oldest_queued_seconds',
      help: 'Age of the oldest queued job',
      ...r,
      async collect() {
        this.set((await snapshot()).oldestQueuedSeconds);
      },
    });
    new Gauge({
      name: 'groundwork_jobs_dead_letters',
      help: 'Jobs that ran out of tries (failed for good)',
      ...r,
      async collect() {
        this.set((await snapshot()).deadLetters);
      },
    });
  }

  return {
    registry,
    run(tenantId, run) {
      const task = run.taskName;
      runs.inc([task, run.taskVersion, run.status === 'ok' ? 'ok' : (run.error?.code ?? 'error')]);
      const operation = task === 'embeddings' ? 'embeddings' : 'chat';
      let modelSeconds = 0;
      for (const a of run.attempts) {
        attempts.inc([a.provider, a.model, a.outcome]);
        operationDuration.observe([operation, a.provider, a.model, a.outcome === 'ok' ? '' : a.outcome], a.latencyMs / 1000);
        if (a.inputTokens > 0) tokenUsage.observe([operation, a.provider, a.model, 'input'], a.inputTokens);
        if (a.outputTokens > 0) tokenUsage.observe([operation, a.provider, a.model, 'output'], a.outputTokens);
        if (a.costUsd > 0) usd.inc([task, a.model, tenantId], a.costUsd);
        if (a.escalationReason) escalations.inc({ task, reason: a.escalationReason });
        if (a.repaired) repairs.inc({ task });
        if (a.reask) reasks.inc({ task });
        modelSeconds += a.latencyMs / 1000;
      }
      added.observe([task], Math.max(0, run.latencyMs / 1000 - modelSeconds));
      const g = run.grounding;
      if (g) {
        if (typeof g.citations_proposed === 'number') citations.inc({ task, state: 'proposed' }, g.citations_proposed);
        if (typeof g.citations_verified === 'number') citations.inc({ task, state: 'verified' }, g.citations_verified);
        grounded.inc({ task, result: g.ungrounded === true ? 'ungrounded' : g.abstained === true ? 'abstained' : 'answered' });
      }
    },
    request(method, route, status, seconds) {
      httpDuration.observe([method, route, String(status)], seconds);
    },
    refusal(code) {
      refusals.inc({ code });
    },
    render: async () => (await registry.metrics()) + handKept.map((family) => family.render()).join(''),
  };
}
