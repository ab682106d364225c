import { checkModelUsable } from '../config/config.js';
import { GroundworkError, isGroundworkError } from '../kernel/errors.js';
import { MAX_JSON_DEPTH, valueTooDeep } from '../kernel/json.js';
import type { Clock, IdGenerator } from '../kernel/ids.js';
import { AllTiersFailedError, AttemptRefusedError, ModelCallError, type AttemptEvent, type GenerateRequest, type ModelPort, type OutputRejection, type TokenUsage } from '../models/spec.js';
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
  warn?(details: Record<string, unknown>, message: string): void;
}

/** Tokens and USD: what a call may cost at most, or what a run has spent. */
export interface CallAmount {
  tokens: number;
  usd: number;
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
  /**
   * Asked before every model call with the most that call can cost and what the run has spent
   * so far (quota: the reservation grows to cover it, or this throws QUOTA_EXCEEDED / RATE_LIMITED
   * and the run ends without making the call).
   */
  beforeCall?: (call: { worstCase: CallAmount; spent: CallAmount }) => Promise<void>;
  /** This request's logger (its lines carry the request id); defaults to the runner's. */
  logger?: RunLogger;
}

/**
 * How a grounded run differs (see src/grounding): either retrieval found nothing relevant and
 * no model is called (`abstain`), or the prompt carries numbered sources and every tier's
 * answer is checked against them (`check`). One abstention policy serves `ask` and grounded
 * tasks: `ask` answers "not answerable", a task fails with a typed 422; both are recorded runs.
 */
export type GroundingStep = GroundingAbstain | GroundingCheck;

/** What an abstaining run answers: `ask` an answer that says "not answerable", a task a typed error. */
export type Abstention = { answer: unknown } | { error: GroundworkError };

/** Retrieval found nothing relevant: the run abstains without calling a model. */
export interface GroundingAbstain {
  kind: 'abstain';
  abstention: Abstention;
  metrics: Record<string, unknown>;
}

/** A model's output checked against the sources. */
export interface GroundingVerdict {
  /** What the run answers with (unsupported citations removed). */
  output: unknown;
  metrics: Record<string, unknown>;
  /** At least one citation verified (or the model itself declined to answer): the answer may leave the server. */
  grounded: boolean;
}

export interface GroundingCheck {
  kind: 'check';
  /** The user prompt with the numbered sources (replaces the task's template). */
  userPrompt: string;
  /** The system prompt, when grounding changes it too (a template using {{{sources}}}). */
  systemPrompt?: string;
  /** Checks a tier's schema-valid output against the sources. An ungrounded answer fails its tier. */
  verify(modelOutput: unknown): GroundingVerdict;
  /** When no tier grounded its answer: what the run answers instead. */
  whenUngrounded(last: GroundingVerdict): Abstention;
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
    assertInputDepth(definition.name, params.input);
    const inputIssues = validateValue(definition.input_schema, params.input);
    if (inputIssues.length > 0) {
      throw new GroundworkError('TASK_INPUT_INVALID', `input does not match the input schema of task "${definition.name}"`, {
        details: { issues: inputIssues },
      });
    }

    const startedAt = deps.now();
    const started = performance.now();
    const runId = params.runId ?? deps.newId('run');
    const logger = params.logger ?? deps.logger;
    const attempts: AttemptRecord[] = [];
    const spent: CallAmount = { tokens: 0, usd: 0 };
    const budget = new AbortController();
    const deadline = AbortSignal.timeout(definition.limits.timeout_ms);
    const signal = AbortSignal.any(params.signal ? [deadline, budget.signal, params.signal] : [deadline, budget.signal]);

    const onAttempt = (event: AttemptEvent): void => {
      const record = toAttemptRecord(event, attempts.length + 1, deps.models);
      attempts.push(record);
      spent.tokens += record.inputTokens + record.outputTokens;
      spent.usd += record.costUsd;
      // The failure in words is recorded; its detail (addresses, error codes) only goes to the log.
      if (event.detail) (logger.warn ?? logger.error).call(logger, { run_id: runId, model: event.model, provider: event.provider, outcome: event.outcome, detail: event.detail }, 'model attempt failed');
      const max = definition.limits.max_cost_usd;
      if (max !== undefined && spent.usd >= max && !budget.signal.aborted) budget.abort();
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
    const latency = () => performance.now() - started;
    const grounding = params.grounding;

    if (grounding?.kind === 'abstain') return abstain(grounding.abstention, { model: 'none', metrics: grounding.metrics });

    // Grounded runs: every tier's answer is checked; an ungrounded one fails its tier and is kept here.
    let ungrounded: { modelOutput: unknown; verdict: GroundingVerdict } | undefined;
    const verify =
      grounding?.kind === 'check'
        ? (value: unknown): OutputRejection | undefined => {
            const verdict = grounding.verify(value);
            if (verdict.grounded) return undefined;
            ungrounded = { modelOutput: value, verdict };
            return { outcome: 'ungrounded', message: 'none of the answer\'s citations was found in the cited sources' };
          }
        : undefined;

    try {
      const result = await routerFor(definition).generate({
        system: grounding?.kind === 'check' && grounding.systemPrompt !== undefined ? grounding.systemPrompt : definition.prompt.system === undefined ? undefined : renderTemplate(definition.prompt.system, params.input),
        messages: [{ role: 'user', content: grounding?.kind === 'check' ? grounding.userPrompt : renderTemplate(definition.prompt.user, params.input) }],
        responseFormat: { type: 'json', schema: definition.output_schema, name: definition.name, ...(verify ? { verify } : {}) },
        maxOutputTokens: definition.limits.max_output_tokens,
        temperature: definition.temperature,
        signal,
        deadlineAt: startedAt + definition.limits.timeout_ms,
        onAttempt,
        ...(params.beforeCall ? { beforeAttempt: (call) => params.beforeCall!({ worstCase: worstCase(call, definition.limits.max_output_tokens, deps.models), spent: { ...spent } }) } : {}),
      });
      const totals = sumAttempts(attempts);
      const verdict = grounding?.kind === 'check' ? grounding.verify(result.object) : undefined;
      const output = verdict ? verdict.output : result.object;
      const latencyMs = latency();
      const degraded = (result.tier ?? 0) > 0;
      await record(deps, params, logger, {
        ...base,
        status: 'ok',
        model: result.model,
        degraded,
        output,
        ...totals,
        latencyMs,
        grounding: verdict?.metrics,
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
        ...(verdict ? { grounding: verdict.metrics } : {}),
      };
    } catch (cause) {
      // No tier grounded its answer (and the run was not stopped for budget or cancellation):
      // abstain. The unverified answer stays in the run record only.
      if (grounding?.kind === 'check' && ungrounded && cause instanceof AllTiersFailedError && !budget.signal.aborted && params.signal?.aborted !== true) {
        const metrics = { ...ungrounded.verdict.metrics, abstained: true, ungrounded: true, reason: 'ungrounded' };
        return abstain(grounding.whenUngrounded(ungrounded.verdict), { metrics, unverified: ungrounded.modelOutput });
      }
      const error = toRunError(cause, { budgetExceeded: budget.signal.aborted, cancelled: params.signal?.aborted === true, attempts, spentUsd: spent.usd });
      error.runId = runId;
      await record(deps, params, logger, {
        ...base,
        status: 'error',
        degraded: false,
        error: { code: error.code, message: error.message, details: error.details },
        ...sumAttempts(attempts),
        latencyMs: latency(),
      });
      throw error;
    }

    /** Records an abstention as a run (answered, or failed with its typed error) and answers it. */
    async function abstain(abstention: Abstention, how: { model?: string; metrics: Record<string, unknown>; unverified?: unknown }): Promise<RunResult> {
      const totals = sumAttempts(attempts);
      const stored = how.unverified === undefined ? how.metrics : { ...how.metrics, unverified_output: how.unverified };
      const common = { ...base, degraded: false, ...totals, latencyMs: latency(), grounding: stored };
      if ('error' in abstention) {
        const error = abstention.error;
        error.runId = runId;
        await record(deps, params, logger, { ...common, status: 'error', output: how.unverified, error: { code: error.code, message: error.message, details: error.details } });
        throw error;
      }
      const model = how.model ?? 'none';
      await record(deps, params, logger, { ...common, status: 'ok', model, output: abstention.answer });
      return {
        output: abstention.answer,
        run_id: runId,
        task_version: params.task.version,
        model,
        attempts: attempts.length,
        usage: { input_tokens: totals.inputTokens, output_tokens: totals.outputTokens, cost_usd: totals.costUsd },
        degraded: false,
        latency_ms: round(common.latencyMs),
        grounding: how.metrics,
      };
    }
  };
}

// A generous characters-per-token ratio, so a call's worst case is not below its real cost.
const CHARS_PER_TOKEN = 3;

/** The most one call can cost: its prompt's tokens (estimated from characters) and its output limit, at its model's price. */
function worstCase(call: { model: string; request: GenerateRequest }, defaultMaxOutput: number, models: ModelGateway): CallAmount {
  let chars = call.request.system?.length ?? 0;
  for (const message of call.request.messages) chars += message.content.length + 16;
  const usage = { inputTokens: Math.ceil(chars / CHARS_PER_TOKEN) + 8, outputTokens: call.request.maxOutputTokens ?? defaultMaxOutput };
  return { tokens: usage.inputTokens + usage.outputTokens, usd: models.cost(call.model, usage) };
}

/**
 * HTTP bodies nested deeper than MAX_JSON_DEPTH are refused at the edge; in-process callers
 * (the CLI, the metering around a run) get the same limit, before anything serialises the input.
 */
export function assertInputDepth(taskName: string, input: unknown): void {
  if (!valueTooDeep(input)) return;
  throw new GroundworkError('REQUEST_TOO_DEEP', `input of task "${taskName}" nests deeper than ${MAX_JSON_DEPTH} levels`, {
    details: { issues: [{ path: 'input', message: `nested deeper than ${MAX_JSON_DEPTH} levels` }], max_depth: MAX_JSON_DEPTH },
  });
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
  // A call refused before it was made (quota, tokens per minute): that refusal is the answer.
  if (cause instanceof AttemptRefusedError && isGroundworkError(cause.reason)) return cause.reason;
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

async function record(deps: RunTaskDeps, params: RunTaskParams, logger: RunLogger, run: RunRecord): Promise<void> {
  params.onUsage?.({ inputTokens: run.inputTokens, outputTokens: run.outputTokens, costUsd: run.costUsd });
  try {
    await deps.runs.record(params.tenantId, run);
  } catch (error) {
    // The model work is done and paid for: answer the caller even if the trace write failed.
    logger.error({ err: error, run_id: run.id }, 'failed to record run');
  }
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;
