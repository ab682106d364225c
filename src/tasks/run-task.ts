import { checkModelUsable } from '../config/config.js';
import { GroundworkError, isGroundworkError } from '../kernel/errors.js';
import type { Clock, IdGenerator } from '../kernel/ids.js';
import { AllTiersFailedError, ModelCallError, type AttemptEvent, type ModelPort, type TokenUsage } from '../models/spec.js';
import type { AttemptRecord, RunRecord, RunRepository, TaskVersionRecord } from '../store/ports.js';
import { resolveRoute, type RouteConfig, type TaskDefinition } from './definition.js';
import { validateValue } from './json-schema.js';
import { renderTemplate } from './template.js';

/**
 * The run path of a task (DESIGN.md steps 2, 4–6, 8–9): validate input → render prompt →
 * call the route (structured output, repair, retries, escalation live in the model
 * wrappers) → cost every attempt → record the run → respond or throw a typed error.
 */

/** What the run pipeline needs from the model gateway. */
export interface ModelGateway {
  route(models: string[]): ModelPort;
  /** USD for this usage on this model (0 when the price is unknown). */
  cost(model: string, usage: TokenUsage): number;
}

export interface RunLogger {
  error(details: Record<string, unknown>, message: string): void;
}

export interface RunTaskDeps {
  runs: RunRepository;
  models: ModelGateway;
  config: RouteConfig;
  newId: IdGenerator;
  now: Clock;
  logger: RunLogger;
}

export interface RunTaskParams {
  tenantId: string;
  task: TaskVersionRecord;
  input: unknown;
  /** Cancellation from the caller (client went away, job cancelled). */
  signal?: AbortSignal;
  /** Grounded runs: the prompt comes with retrieved sources and the output is checked against them. */
  grounding?: GroundingStep;
  /** The API key the run is made with (recorded for usage by key). */
  keyId?: string;
  /** A caller-chosen run id (jobs key runs by job and attempt, so a re-delivered job finds its run). */
  runId?: string;
  /** Told the run's total usage once it is recorded, success or failure (quota settlement). */
  onUsage?: (usage: { inputTokens: number; outputTokens: number; costUsd: number }) => void;
}

/** How a grounded run differs: its user prompt, its abstention, its output check (see src/grounding). */
export interface GroundingStep {
  /** The user prompt with the numbered sources (replaces the task's template). */
  userPrompt: string;
  /** The system prompt, when grounding changes it too (a template using {{{sources}}}). */
  systemPrompt?: string;
  /** Set when retrieval found nothing relevant: answer this without calling a model. */
  abstention?: { output: unknown; metrics: Record<string, unknown> };
  /** Verifies the model's output against the sources: the response output and metrics. */
  finalize(modelOutput: unknown): { output: unknown; metrics: Record<string, unknown> };
}

/** The body of a successful run (snake_case: it is the HTTP contract). */
export interface RunResult {
  output: unknown;
  run_id: string;
  task_version: string;
  model: string;
  attempts: number;
  usage: { input_tokens: number; output_tokens: number; cost_usd: number };
  degraded: boolean;
  latency_ms: number;
  /** Grounded runs: how well the answer is supported. */
  grounding?: Record<string, unknown>;
}

export function createTaskRunner(deps: RunTaskDeps) {
  const routers = new Map<string, ModelPort>();

  function routerFor(definition: TaskDefinition): ModelPort {
    const models = resolveRoute(definition.route, deps.config);
    const key = models.join('\u0000');
    let router = routers.get(key);
    if (!router) {
      // A stored version may name a route or model this installation's config lacks.
      const problems = models.length === 0 ? [`route "${String(definition.route)}" is not configured`] : models.flatMap((m) => checkModelUsable(m, deps.config.models, deps.config.providers) ?? []);
      if (problems.length > 0) {
        throw new GroundworkError('MODEL_UNAVAILABLE', `task "${definition.name}" cannot run with this configuration: ${problems.join('; ')}`, { details: { problems } });
      }
      router = deps.models.route(models);
      routers.set(key, router);
    }
    return router;
  }

  // Versions are immutable: keep one definition object per version so compiled
  // validators (cached per schema object) are built once, not on every run.
  const definitions = new Map<string, TaskDefinition>();
  function definitionOf(task: TaskVersionRecord): TaskDefinition {
    const key = `${task.name}\u0000${task.version}`;
    let definition = definitions.get(key);
    if (!definition) {
      definition = task.definition as TaskDefinition;
      definitions.set(key, definition);
    }
    return definition;
  }

  return async function runTask(params: RunTaskParams): Promise<RunResult> {
    const definition = definitionOf(params.task);
    const inputIssues = validateValue(definition.input_schema, params.input);
    if (inputIssues.length > 0) {
      throw new GroundworkError('TASK_INPUT_INVALID', `input does not match the input schema of task "${definition.name}"`, {
        details: { issues: inputIssues },
      });
    }

    const startedAt = deps.now();
    const started = performance.now();
    const runId = params.runId ?? deps.newId('run');
    const attempts: AttemptRecord[] = [];
    let spentUsd = 0;
    const budget = new AbortController();
    const deadline = AbortSignal.timeout(definition.limits.timeout_ms);
    const signal = AbortSignal.any(params.signal ? [deadline, budget.signal, params.signal] : [deadline, budget.signal]);

    const onAttempt = (event: AttemptEvent): void => {
      const record = toAttemptRecord(event, attempts.length + 1, deps.models);
      attempts.push(record);
      spentUsd += record.costUsd;
      const max = definition.limits.max_cost_usd;
      if (max !== undefined && spentUsd >= max && !budget.signal.aborted) budget.abort();
    };

    const base = {
      id: runId,
      taskName: definition.name,
      taskVersion: params.task.version,
      input: params.input,
      createdAt: new Date(startedAt),
      attempts,
      keyId: params.keyId,
    };

    if (params.grounding?.abstention) {
      const { output, metrics } = params.grounding.abstention;
      const latencyMs = performance.now() - started;
      await record(deps, params, { ...base, status: 'ok', model: 'none', degraded: false, output, inputTokens: 0, outputTokens: 0, costUsd: 0, latencyMs, grounding: metrics });
      return {
        output,
        run_id: runId,
        task_version: params.task.version,
        model: 'none',
        attempts: 0,
        usage: { input_tokens: 0, output_tokens: 0, cost_usd: 0 },
        degraded: false,
        latency_ms: round(latencyMs),
        grounding: metrics,
      };
    }

    try {
      const result = await routerFor(definition).generate({
        system: params.grounding?.systemPrompt ?? (definition.prompt.system === undefined ? undefined : renderTemplate(definition.prompt.system, params.input)),
        messages: [{ role: 'user', content: params.grounding?.userPrompt ?? renderTemplate(definition.prompt.user, params.input) }],
        responseFormat: { type: 'json', schema: definition.output_schema, name: definition.name },
        maxOutputTokens: definition.limits.max_output_tokens,
        temperature: definition.temperature,
        signal,
        onAttempt,
      });
      const totals = sumAttempts(attempts);
      const finalized = params.grounding?.finalize(result.object);
      const output = finalized ? finalized.output : result.object;
      const latencyMs = performance.now() - started;
      const degraded = (result.tier ?? 0) > 0;
      await record(deps, params, {
        ...base,
        status: 'ok',
        model: result.model,
        degraded,
        output,
        ...totals,
        latencyMs,
        grounding: finalized?.metrics,
      });
      return {
        output,
        run_id: runId,
        task_version: params.task.version,
        model: result.model,
        attempts: attempts.length,
        usage: { input_tokens: totals.inputTokens, output_tokens: totals.outputTokens, cost_usd: totals.costUsd },
        degraded,
        latency_ms: round(latencyMs),
        ...(finalized ? { grounding: finalized.metrics } : {}),
      };
    } catch (cause) {
      const error = toRunError(cause, { budgetExceeded: budget.signal.aborted, cancelled: params.signal?.aborted === true, attempts, spentUsd });
      error.runId = runId;
      await record(deps, params, {
        ...base,
        status: 'error',
        degraded: false,
        error: { code: error.code, message: error.message, details: error.details },
        ...sumAttempts(attempts),
        latencyMs: performance.now() - started,
      });
      throw error;
    }
  };
}

function toAttemptRecord(event: AttemptEvent, seq: number, models: ModelGateway): AttemptRecord {
  const usage = event.usage ?? { inputTokens: 0, outputTokens: 0 };
  return {
    seq,
    tier: event.tier ?? 0,
    model: event.model,
    provider: event.provider,
    outcome: event.outcome,
    inputTokens: usage.inputTokens,
    outputTokens: usage.outputTokens,
    tokensEstimated: usage.estimated === true,
    costUsd: event.usage ? models.cost(event.model, usage) : 0,
    latencyMs: round(event.latencyMs),
    error: event.error,
    validationErrors: event.validationErrors,
    escalationReason: event.escalationReason,
    reask: event.reask,
    repaired: event.repaired,
  };
}

function sumAttempts(attempts: AttemptRecord[]): { inputTokens: number; outputTokens: number; costUsd: number } {
  let inputTokens = 0;
  let outputTokens = 0;
  let costUsd = 0;
  for (const a of attempts) {
    inputTokens += a.inputTokens;
    outputTokens += a.outputTokens;
    costUsd += a.costUsd;
  }
  return { inputTokens, outputTokens, costUsd };
}

/** Maps whatever ended a run to one typed error listing every attempt's outcome. */
function toRunError(
  cause: unknown,
  context: { budgetExceeded: boolean; cancelled: boolean; attempts: AttemptRecord[]; spentUsd: number },
): GroundworkError {
  if (isGroundworkError(cause)) return cause;
  const attempts = context.attempts.map((a) => ({
    tier: a.tier,
    model: a.model,
    outcome: a.outcome,
    ...(a.error ? { error: a.error } : {}),
    ...(a.validationErrors ? { validation_errors: a.validationErrors } : {}),
  }));
  if (context.budgetExceeded) {
    return new GroundworkError('MODEL_BUDGET_EXCEEDED', `the run spent $${context.spentUsd.toFixed(6)}, reaching the task's max_cost_usd before producing valid output`, {
      details: { attempts, spent_usd: context.spentUsd },
      cause,
    });
  }
  if (cause instanceof AllTiersFailedError) {
    if (cause.deadlineExceeded || context.cancelled) {
      return new GroundworkError('MODEL_DEADLINE_EXCEEDED', context.cancelled ? 'the run was cancelled' : cause.message, { details: { attempts }, cause });
    }
    const anyInvalid = cause.failures.some((f) => f.outcome === 'invalid_output');
    return new GroundworkError(
      anyInvalid ? 'MODEL_ALL_TIERS_FAILED' : 'MODEL_UNAVAILABLE',
      anyInvalid ? cause.message : `no model of the route is available: ${cause.failures.map((f) => `${f.model}: ${f.outcome}`).join(', ')}`,
      { details: { attempts }, cause },
    );
  }
  if (cause instanceof ModelCallError) {
    const code = cause.outcome === 'invalid_output' ? 'MODEL_ALL_TIERS_FAILED' : cause.outcome === 'timeout' ? 'MODEL_DEADLINE_EXCEEDED' : 'MODEL_UNAVAILABLE';
    return new GroundworkError(code, cause.message, { details: { attempts }, cause });
  }
  return new GroundworkError('INTERNAL', 'the run failed unexpectedly', { details: { attempts }, cause });
}

async function record(deps: RunTaskDeps, params: RunTaskParams, run: RunRecord): Promise<void> {
  params.onUsage?.({ inputTokens: run.inputTokens, outputTokens: run.outputTokens, costUsd: run.costUsd });
  try {
    await deps.runs.record(params.tenantId, run);
  } catch (error) {
    // The model work is done and paid for: answer the caller even if the trace write failed.
    deps.logger.error({ err: error, run_id: run.id }, 'failed to record run');
  }
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;
