import { Counter, Gauge, Histogram, Registry } from 'prom-client';
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
  const httpDuration = new Histogram({
    name: 'groundwork_http_request_duration_seconds',
    help: 'HTTP requests by route template, method and status',
    labelNames: ['method', 'route', 'status_code'],
    buckets: HTTP_BUCKETS,
    ...r,
  });
  const operationDuration = new Histogram({
    name: 'gen_ai_client_operation_duration_seconds',
    help: 'GenAI operation duration (OpenTelemetry gen_ai.client.operation.duration): one per model call',
    labelNames: ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model', 'error_type'],
    buckets: DURATION_BUCKETS,
    ...r,
  });
  const tokenUsage = new Histogram({
    name: 'gen_ai_client_token_usage',
    help: 'Tokens used per model call (OpenTelemetry gen_ai.client.token.usage)',
    labelNames: ['gen_ai_operation_name', 'gen_ai_provider_name', 'gen_ai_request_model', 'gen_ai_token_type'],
    buckets: TOKEN_BUCKETS,
    ...r,
  });
  const runs = new Counter({
    name: 'groundwork_runs_total',
    help: 'Runs by task, version and outcome (ok or an error code)',
    labelNames: ['task', 'version', 'outcome'],
    ...r,
  });
  const attempts = new Counter({
    name: 'groundwork_attempts_total',
    help: 'Model calls by provider, model and outcome',
    labelNames: ['provider', 'model', 'outcome'],
    ...r,
  });
  const escalations = new Counter({
    name: 'groundwork_escalations_total',
    help: 'Calls made on a later tier, by task and reason',
    labelNames: ['task', 'reason'],
    ...r,
  });
  const repairs = new Counter({ name: 'groundwork_repairs_total', help: 'Outputs repaired into valid JSON, by task', labelNames: ['task'], ...r });
  const reasks = new Counter({ name: 'groundwork_reasks_total', help: 'Re-asks after invalid output, by task', labelNames: ['task'], ...r });
  const usd = new Counter({ name: 'groundwork_cost_usd_total', help: 'USD spent, by task, model and tenant', labelNames: ['task', 'model', 'tenant'], ...r });
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
  const added = new Histogram({
    name: 'groundwork_added_latency_seconds',
    help: "Groundwork's own time per run: its latency less its model calls' (the gateway's overhead per call)",
    labelNames: ['task'],
    buckets: ADDED_BUCKETS,
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

  // The series every run and every call touch, looked up once per label set: prom-client
  // hashes a label object on each call, which costs more than the observation itself.
  const perRun = cached((task: string, version: string, outcome: string) => ({
    runs: runs.labels({ task, version, outcome }),
    added: added.labels({ task }),
  }));
  const perCall = cached((operation: string, provider: string, model: string, outcome: string) => {
    const labels = { gen_ai_operation_name: operation, gen_ai_provider_name: provider, gen_ai_request_model: model };
    return {
      attempts: attempts.labels({ provider, model, outcome }),
      duration: operationDuration.labels({ ...labels, error_type: outcome === 'ok' ? '' : outcome }),
      input: tokenUsage.labels({ ...labels, gen_ai_token_type: 'input' }),
      output: tokenUsage.labels({ ...labels, gen_ai_token_type: 'output' }),
    };
  });
  const perRequest = cached((method: string, route: string, status: string) => httpDuration.labels({ method, route, status_code: status }));
  const perSpend = cached((task: string, model: string, tenant: string) => usd.labels({ task, model, tenant }));

  return {
    registry,
    run(tenantId, run) {
      const task = run.taskName;
      const series = perRun(task, run.taskVersion, run.status === 'ok' ? 'ok' : (run.error?.code ?? 'error'));
      series.runs.inc();
      const operation = task === 'embeddings' ? 'embeddings' : 'chat';
      let modelSeconds = 0;
      for (const a of run.attempts) {
        const call = perCall(operation, a.provider, a.model, a.outcome);
        call.attempts.inc();
        call.duration.observe(a.latencyMs / 1000);
        if (a.inputTokens > 0) call.input.observe(a.inputTokens);
        if (a.outputTokens > 0) call.output.observe(a.outputTokens);
        if (a.costUsd > 0) perSpend(task, a.model, tenantId).inc(a.costUsd);
        if (a.escalationReason) escalations.inc({ task, reason: a.escalationReason });
        if (a.repaired) repairs.inc({ task });
        if (a.reask) reasks.inc({ task });
        modelSeconds += a.latencyMs / 1000;
      }
      series.added.observe(Math.max(0, run.latencyMs / 1000 - modelSeconds));
      const g = run.grounding;
      if (g) {
        if (typeof g.citations_proposed === 'number') citations.inc({ task, state: 'proposed' }, g.citations_proposed);
        if (typeof g.citations_verified === 'number') citations.inc({ task, state: 'verified' }, g.citations_verified);
        grounded.inc({ task, result: g.ungrounded === true ? 'ungrounded' : g.abstained === true ? 'abstained' : 'answered' });
      }
    },
    request(method, route, status, seconds) {
      perRequest(method, route, String(status)).observe(seconds);
    },
    refusal(code) {
      refusals.inc({ code });
    },
    render: () => registry.metrics(),
  };
}

/**
 * `make` memoised by its string arguments (joined with NUL, which no label value holds here).
 * The label sets are bounded (see the module comment), so the cache is too.
 */
function cached<A extends string[], T>(make: (...args: A) => T): (...args: A) => T {
  const made = new Map<string, T>();
  return (...args: A) => {
    const key = args.join('\u0000');
    let found = made.get(key);
    if (found === undefined) {
      found = make(...args);
      made.set(key, found);
    }
    return found;
  };
}
