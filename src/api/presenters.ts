import type { AskOutput } from '../grounding/ask.js';
import type { Collection, DocumentRecord, SearchHit } from '../retrieval/ports.js';
import type { RunOutcome } from '../tasks/run-task.js';
import type { EvalPlan } from '../app/eval-service.js';
import type { ReleaseOutcome } from '../tasks/release-service.js';
import type { AttemptRecord, DatasetRecord, EvalRecord, ReleaseRecord, RunRecord, RunSummary, TaskSummary, TaskVersionRecord } from '../store/ports.js';

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
    grounding: run.grounding,
    key_id: run.keyId,
    eval_id: run.evalId,
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

export function presentCollection(c: Collection) {
  return {
    name: c.name,
    description: c.description,
    embedder: c.embedder,
    dimensions: c.dimensions,
    document_count: c.documentCount,
    chunk_count: c.chunkCount,
    created_at: c.createdAt.toISOString(),
  };
}

export function presentDocument(d: DocumentRecord) {
  return {
    id: d.id,
    collection: d.collection,
    source: d.source,
    title: d.title,
    format: d.format,
    content_hash: d.contentHash,
    metadata: d.metadata,
    status: d.status,
    error: d.error,
    chunk_count: d.chunkCount,
    bytes: d.bytes,
    created_at: d.createdAt.toISOString(),
    updated_at: d.updatedAt.toISOString(),
  };
}

export function presentHit(h: SearchHit) {
  return {
    chunk_id: h.chunkId,
    document_id: h.documentId,
    source: h.source,
    title: h.title,
    text: h.text,
    heading_path: h.headingPath,
    page: h.page,
    position: h.position,
    metadata: h.metadata,
    score: h.score,
    lexical_rank: h.lexicalRank,
    vector_rank: h.vectorRank,
  };
}

/** The ask response: the answer fields at the top, then the run's metadata and grounding metrics. */
/** A run's outcome as `POST /v1/tasks/{name}/run` answers it (and a task job's `result`). */
export function presentRunOutcome(outcome: RunOutcome) {
  return {
    output: outcome.output,
    run_id: outcome.runId,
    task_version: outcome.taskVersion,
    model: outcome.model,
    attempts: outcome.attempts,
    usage: { input_tokens: outcome.usage.inputTokens, output_tokens: outcome.usage.outputTokens, cost_usd: outcome.usage.costUsd },
    degraded: outcome.degraded,
    latency_ms: outcome.latencyMs,
    ...(outcome.grounding ? { grounding: outcome.grounding } : {}),
  };
}

/** The answer of `POST /v1/ask`: the verified answer's fields beside the run's. */
export function presentAsk(outcome: RunOutcome) {
  const { output, grounding, ...run } = presentRunOutcome(outcome);
  return { ...(output as AskOutput), ...run, grounding: grounding ?? {} };
}

export function presentRelease(release: ReleaseRecord) {
  return {
    seq: release.seq,
    action: release.action,
    from_version: release.fromVersion ?? null,
    to_version: release.toVersion,
    actor: release.actor,
    reason: release.reason ?? null,
    eval_id: release.evalId ?? null,
    evidence: release.evidence ?? null,
    created_at: release.createdAt.toISOString(),
  };
}

export function presentReleaseOutcome(outcome: ReleaseOutcome) {
  return {
    task: outcome.task,
    active_version: outcome.activeVersion,
    changed: outcome.release !== undefined,
    release: outcome.release ? presentRelease(outcome.release) : null,
  };
}

export function presentDataset(dataset: Omit<DatasetRecord, 'cases'>) {
  return { name: dataset.name, version: dataset.version, task: dataset.task, cases: dataset.caseCount, created_at: dataset.createdAt.toISOString() };
}

export function presentEvalPlan(plan: EvalPlan) {
  return {
    task: plan.task,
    version: plan.version,
    baseline_version: plan.baselineVersion ?? null,
    dataset: { name: plan.dataset.name, version: plan.dataset.hash, cases: plan.dataset.cases },
    trials: plan.trials,
    calls: plan.calls,
    estimated_usd: plan.estimatedUsd,
  };
}

export function presentEvalSummary(record: Omit<EvalRecord, 'report'>) {
  return {
    id: record.id,
    task: record.task,
    version: record.version,
    baseline_version: record.baselineVersion ?? null,
    dataset: { name: record.datasetName, version: record.datasetVersion },
    status: record.status,
    gate_passed: record.gatePassed ?? null,
    error: record.error ?? null,
    created_by: record.createdBy,
    created_at: record.createdAt.toISOString(),
    finished_at: record.finishedAt?.toISOString() ?? null,
  };
}

export function presentEval(record: EvalRecord) {
  return { ...presentEvalSummary(record), report: record.report ?? null };
}
