import type { AttemptRecord, RunRecord, RunSummary, TaskSummary, TaskVersionRecord } from '../store/ports.js';

/** Store records → API JSON (snake_case, ISO dates). Shared by the HTTP API and the CLI. */

export function presentTaskSummary(task: TaskSummary) {
  return {
    name: task.name,
    description: task.description,
    active_version: task.activeVersion,
    version_count: task.versionCount,
    updated_at: task.updatedAt.toISOString(),
  };
}

export function presentTaskVersion(task: TaskVersionRecord) {
  return {
    name: task.name,
    version: task.version,
    created_at: task.createdAt.toISOString(),
    definition: task.definition as Record<string, unknown>,
  };
}

export function presentRunSummary(run: RunSummary) {
  return { ...runBase(run), attempt_count: run.attemptCount };
}

export function presentRun(run: RunRecord) {
  return { ...runBase(run), input: run.input, output: run.output, attempts: run.attempts.map(presentAttempt) };
}

function runBase(run: RunSummary | RunRecord) {
  return {
    id: run.id,
    task: run.taskName,
    task_version: run.taskVersion,
    status: run.status,
    model: run.model,
    degraded: run.degraded,
    usage: { input_tokens: run.inputTokens, output_tokens: run.outputTokens, cost_usd: run.costUsd },
    latency_ms: run.latencyMs,
    created_at: run.createdAt.toISOString(),
    error: run.error,
  };
}

function presentAttempt(a: AttemptRecord) {
  return {
    seq: a.seq,
    tier: a.tier,
    model: a.model,
    provider: a.provider,
    outcome: a.outcome,
    input_tokens: a.inputTokens,
    output_tokens: a.outputTokens,
    tokens_estimated: a.tokensEstimated,
    cost_usd: a.costUsd,
    latency_ms: a.latencyMs,
    error: a.error,
    validation_errors: a.validationErrors,
    escalation_reason: a.escalationReason,
    reask: a.reask,
    repaired: a.repaired,
  };
}
