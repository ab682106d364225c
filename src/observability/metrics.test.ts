import { describe, expect, it } from 'vitest';
import type { RunRecord } from '../store/ports.js';
import { createMetrics, noMetrics } from './metrics.js';

/** What a recorded run becomes in the Prometheus text: names, labels and values, never an id. */

const run = (overrides: Partial<RunRecord> = {}): RunRecord => ({
  id: 'run_secret_id',
  taskName: 'triage',
  taskVersion: 'abcdef0123456789',
  status: 'ok',
  model: 'small',
  degraded: true,
  input: {},
  output: {},
  inputTokens: 30,
  outputTokens: 12,
  costUsd: 0.003,
  latencyMs: 250,
  createdAt: new Date(0),
  keyId: 'key_secret',
  attempts: [
    {
      seq: 1,
      tier: 0,
      model: 'small',
      provider: 'mock',
      outcome: 'invalid_output',
      inputTokens: 10,
      outputTokens: 4,
      tokensEstimated: false,
      costUsd: 0.001,
      latencyMs: 100,
      reask: false,
      repaired: true,
    },
    {
      seq: 2,
      tier: 1,
      model: 'large',
      provider: 'mock',
      outcome: 'ok',
      inputTokens: 20,
      outputTokens: 8,
      tokensEstimated: false,
      costUsd: 0.002,
      latencyMs: 120,
      escalationReason: 'invalid_output',
    },
  ],
  grounding: { citations_proposed: 3, citations_verified: 2, abstained: false, ungrounded: false },
  ...overrides,
});

describe('metrics', () => {
  it('counts a run, its model calls (GenAI conventions), tokens, cost, escalation, repair and grounding', async () => {
    const metrics = createMetrics();
    metrics.run('acme', run());
    metrics.run('acme', run({ status: 'error', error: { code: 'MODEL_ALL_TIERS_FAILED', message: 'x', details: {} }, attempts: [], grounding: undefined }));
    const text = await metrics.render();
    expect(text).toContain('groundwork_runs_total{task="triage",version="abcdef0123456789",outcome="ok"} 1');
    expect(text).toContain('groundwork_runs_total{task="triage",version="abcdef0123456789",outcome="MODEL_ALL_TIERS_FAILED"} 1');
    expect(text).toContain('groundwork_attempts_total{provider="mock",model="large",outcome="ok"} 1');
    expect(text).toContain(
      'gen_ai_client_operation_duration_seconds_count{gen_ai_operation_name="chat",gen_ai_provider_name="mock",gen_ai_request_model="small",error_type="invalid_output"} 1',
    );
    expect(text).toContain(
      'gen_ai_client_token_usage_sum{gen_ai_operation_name="chat",gen_ai_provider_name="mock",gen_ai_request_model="large",gen_ai_token_type="output"} 8',
    );
    expect(text).toContain('groundwork_cost_usd_total{task="triage",model="large",tenant="acme"} 0.002');
    expect(text).toContain('groundwork_escalations_total{task="triage",reason="invalid_output"} 1');
    expect(text).toContain('groundwork_repairs_total{task="triage"} 1');
    expect(text).toContain('groundwork_citations_total{task="triage",state="verified"} 2');
    expect(text).toContain('groundwork_grounded_runs_total{task="triage",result="answered"} 1');
    // 250 ms of run, 220 ms of model calls: 30 ms Groundwork's own (the failed run, with no calls, all 250 ms).
    expect(Number(/groundwork_added_latency_seconds_sum\{task="triage"\} (\S+)/.exec(text)?.[1])).toBeCloseTo(0.28, 10);
    // Bounded labels: no run, key or request ids.
    expect(text).not.toMatch(/run_secret_id|key_secret/);
  });

  it('times HTTP answers by route template and counts typed errors by code', async () => {
    const metrics = createMetrics();
    metrics.request('POST', '/v1/tasks/:name/run', 200, 0.004);
    metrics.refusal('RATE_LIMITED');
    const text = await metrics.render();
    expect(text).toContain('groundwork_http_request_duration_seconds_count{method="POST",route="/v1/tasks/:name/run",status_code="200"} 1');
    expect(text).toContain('groundwork_errors_total{code="RATE_LIMITED"} 1');
  });

  it('counts nothing when switched off', async () => {
    const metrics = noMetrics();
    metrics.run('acme', run());
    metrics.request('GET', '/v1/tasks', 200, 0.001);
    expect(await metrics.render()).toBe('\n');
  });

  it('reads the job queue when scraped', async () => {
    const metrics = createMetrics({ jobs: async () => ({ byStatus: { queued: 3, failed: 1 }, oldestQueuedSeconds: 42, deadLetters: 1 }) });
    const text = await metrics.render();
    expect(text).toContain('groundwork_jobs{status="queued"} 3');
    expect(text).toContain('groundwork_jobs_oldest_queued_seconds 42');
    expect(text).toContain('groundwork_jobs_dead_letters 1');
  });
});
