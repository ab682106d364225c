import { checkModelUsable } from '../config/config.js';
import { GroundworkError, isGroundworkError } from '../kernel/errors.js';
import { Cancellation } from '../kernel/cancellation.js';
import type { Clock, IdGenerator } from '../kernel/ids.js';
import {
  AllTiersFailedError,
  AttemptRefusedError,
  ModelCallError,
  type AttemptEvent,
  type GenerateRequest,
  type ModelPort,
  type OutputRejection,
  type TokenUsage,
} from '../models/spec.js';
import type { RetrievalService } from '../retrieval/retrieval-service.js';
import { AttemptLog, attemptDetailTo } from '../runs/attempt-log.js';
import type { CallAmount, RunMeter } from '../runs/meter.js';
import { noAnswerError } from '../runs/no-answer.js';
import type { AttemptRecord, RunRecord, RunRepository } from '../store/ports.js';
import type { RouteConfig } from './definition.js';
import { groundTask } from './grounded-task.js';
import type { Abstention, GroundingStep, GroundingVerdict } from './grounding-step.js';
import type { PreparedTask } from './prepared-task.js';
import { renderTemplate } from './template.js';

export type { Abstention, GroundingAbstain, GroundingCheck, GroundingStep, GroundingVerdict } from './grounding-step.js';

/**
 * The one run path of a task, `ask` included (DESIGN.md "Run path"): check the input before
 * any side effect → hold its first call's cost against the caller's quotas → retrieve (grounded
 * runs) → render → call the route (structured output, repair, retries, escalation and each
 * tier's grounding check live in the model wrappers; the quota hold grows before each further
 * call) → cost every attempt → record the run → settle → a domain outcome or a typed error.
 * The HTTP shape of the outcome is the api layer's business (api/presenters.ts).
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

/** Where a run record goes when it need not be durable before the answer: the batching recorder. */
export interface RunQueue {
  add(tenantId: string, run: RunRecord): void;
}

export interface RunTaskDeps {
  /** Durable writes (one statement per run): jobs, and runs when there is no queue. */
  runs: Pick<RunRepository, 'record'>;
  /** Batched writes off the response path (readers flush it first); absent: every run is written durably. */
  queue?: RunQueue;
  models: ModelGateway;
  config: RouteConfig;
  /** Grounded tasks retrieve their sources through it. */
  retrieval?: RetrievalService;
  newId: IdGenerator;
  now: Clock;
  logger: RunLogger;
}

export interface RunTaskParams {
  tenantId: string;
  task: PreparedTask;
  input: unknown;
  /** Cancellation from the caller (client went away, job cancelled); its reason is recorded. */
  signal?: AbortSignal;
  /** The API key the run is made with (recorded for usage by key). */
  keyId?: string;
  /** The eval this run is a case of (recorded with the run). */
  evalId?: string;
  /** A caller-chosen run id (jobs key runs by job and attempt, so a re-delivered job finds its run). */
  runId?: string;
  /** Quota for this run; absent: not metered (in-process callers with no key). */
  meter?: RunMeter;
  /**
   * How the run finds its sources when it is not the task's own retrieval spec: the built-in
   * `ask` passes its own. Called after the input check and the quota hold.
   */
  ground?: (signal: AbortSignal | undefined) => Promise<GroundingStep>;
  /** Prompt characters the run adds beyond the task's templates (ask's sources), for the first call's estimate. */
  extraPromptChars?: number;
  /** This request's logger (its lines carry the request id); defaults to the runner's. */
  logger?: RunLogger;
  /**
   * Write the run record before answering (jobs: a redelivered try must find the run an earlier
   * try made). Otherwise it goes through the batching queue, off the response path.
   */
  durable?: boolean;
}

/** What a finished run produced: the domain result (the api layer presents it). */
export interface RunOutcome {
  runId: string;
  taskVersion: string;
  output: unknown;
  /** The model that answered; "none" when the run abstained without an answer from one. */
  model: string;
  /** Physical model calls made, retries, re-asks and escalations included. */
  attempts: number;
  usage: { inputTokens: number; outputTokens: number; costUsd: number };
  /** A fallback tier (not the first) answered. */
  degraded: boolean;
  latencyMs: number;
  /** Grounded runs: how well the answer is supported. */
  grounding?: Record<string, unknown>;
}

/** Abort reasons of a run's own cancellation (the caller's keeps its own reason). */
const RUN_DEADLINE = Symbol('run deadline');
const BUDGET_SPENT = Symbol('max_cost_usd reached');

// A generous characters-per-token ratio, so a call's worst case is not below its real cost.
const CHARS_PER_TOKEN = 3;
const SOURCE_CHARS_PER_TOKEN = 4;

export type TaskRunner = (params: RunTaskParams) => Promise<RunOutcome>;

export function createTaskRunner(deps: RunTaskDeps): TaskRunner {
  const routers = new Map<string, ModelPort>();

  function routerFor(task: PreparedTask): ModelPort {
    const key = task.models.join('\u0000');
    let router = routers.get(key);
    if (!router) {
      // A stored version may name a route or model this installation's config lacks.
      const problems =
        task.models.length === 0
          ? [`route "${task.route}" is not configured`]
          : task.models.flatMap((m) => checkModelUsable(m, deps.config.models, deps.config.providers) ?? []);
      if (problems.length > 0) {
        throw new GroundworkError('MODEL_UNAVAILABLE', `task "${task.name}" cannot run with this configuration: ${problems.join('; ')}`, {
          details: { problems },
        });
      }
      router = deps.models.route([...task.models]);
      routers.set(key, router);
    }
    return router;
  }

  return async function runTask(params: RunTaskParams): Promise<RunOutcome> {
    const { task } = params;
    // 1. The input, before any side effect (no quota held, no retrieval paid for, nothing recorded).
    task.checkInput(params.input);
    // 2. The first call's worst case held against the caller's quotas.
    if (params.meter) await params.meter.reserve(firstCallWorstCase(params, deps.models));
    const runId = params.runId ?? deps.newId('run');
    const logger = params.logger ?? deps.logger;
    // The failure in words is recorded; its detail (addresses, error codes) only goes to the log.
    const log = new AttemptLog((model, usage) => deps.models.cost(model, usage), attemptDetailTo(logger, runId));
    try {
      return await run(params, log, runId, logger);
    } finally {
      const spent = log.spent();
      await params.meter?.settle({ tokens: spent.tokens, usd: spent.usd });
    }
  };

  async function run(params: RunTaskParams, log: AttemptLog, runId: string, logger: RunLogger): Promise<RunOutcome> {
    const { task } = params;
    const { definition } = task;
    const startedAt = deps.now();
    const started = performance.now();
    // One cheap cancellation for the whole run: the caller's, the run's deadline, the cost budget.
    let budgetSpent = false;
    const signal = new Cancellation().follow(params.signal).timeout(definition.limits.timeout_ms, () => RUN_DEADLINE);
    const latency = () => performance.now() - started;
    const base = {
      id: runId,
      taskName: definition.name,
      taskVersion: task.version,
      input: params.input,
      createdAt: new Date(startedAt),
      attempts: log.records,
      keyId: params.keyId,
      ...(params.evalId === undefined ? {} : { evalId: params.evalId }),
    };
    const totals = () => {
      const spent = log.spent();
      return { inputTokens: spent.inputTokens, outputTokens: spent.outputTokens, costUsd: spent.usd };
    };
    const outcome = (result: Omit<RunOutcome, 'runId' | 'taskVersion' | 'attempts' | 'usage' | 'latencyMs'>, latencyMs: number): RunOutcome => ({
      runId,
      taskVersion: task.version,
      ...result,
      attempts: log.count,
      usage: totals(),
      latencyMs: round(latencyMs),
    });

    // 3. Sources, for grounded runs (retrieval may pay for a query embedding: after the hold).
    const ground =
      params.ground ??
      (definition.retrieval && deps.retrieval
        ? (s: AbortSignal | undefined) => groundTask(deps.retrieval!, { tenantId: params.tenantId, task, input: params.input, signal: s })
        : undefined);
    const grounding: GroundingStep | undefined = ground ? await ground(params.signal) : undefined;
    if (grounding?.kind === 'abstain') return abstain(grounding.abstention, { metrics: grounding.metrics });

    const onAttempt = (event: AttemptEvent): void => {
      log.observe(event);
      const max = definition.limits.max_cost_usd;
      if (max !== undefined && log.spent().usd >= max && !budgetSpent) {
        budgetSpent = true;
        signal.abort(BUDGET_SPENT);
      }
    };

    // Grounded runs: every tier's answer is checked; an ungrounded one fails its tier and is kept here.
    let ungrounded: { modelOutput: unknown; verdict: GroundingVerdict } | undefined;
    const verify =
      grounding?.kind === 'check'
        ? (value: unknown): OutputRejection | undefined => {
            const verdict = grounding.verify(value);
            if (verdict.grounded) return undefined;
            ungrounded = { modelOutput: value, verdict };
            return { outcome: 'ungrounded', message: "none of the answer's citations was found in the cited sources" };
          }
        : undefined;
    const meter = params.meter;

    try {
      return await callRoute();
    } finally {
      signal.dispose();
    }

    async function callRoute(): Promise<RunOutcome> {
      try {
        // 4–6. Render, call the route.
        const result = await routerFor(task).generate({
          system:
            grounding?.kind === 'check' && grounding.systemPrompt !== undefined
              ? grounding.systemPrompt
              : definition.prompt.system === undefined
                ? undefined
                : renderTemplate(definition.prompt.system, params.input),
          messages: [{ role: 'user', content: grounding?.kind === 'check' ? grounding.userPrompt : renderTemplate(definition.prompt.user, params.input) }],
          responseFormat: { type: 'json', schema: definition.output_schema, name: definition.name, ...(verify ? { verify } : {}) },
          maxOutputTokens: definition.limits.max_output_tokens,
          temperature: definition.temperature,
          signal,
          deadlineAt: startedAt + definition.limits.timeout_ms,
          onAttempt,
          ...(meter
            ? {
                beforeAttempt: (call) =>
                  meter.beforeCall({
                    worstCase: worstCase(call, definition.limits.max_output_tokens, deps.models),
                    spent: log.spent(),
                  }),
              }
            : {}),
        });
        // 7. Grounded: the answer that leaves is the verified one.
        const verdict = grounding?.kind === 'check' ? grounding.verify(result.object) : undefined;
        const output = verdict ? verdict.output : result.object;
        const latencyMs = latency();
        const degraded = (result.tier ?? 0) > 0;
        // 8. Record.
        await record(deps, params, logger, {
          ...base,
          status: 'ok',
          model: result.model,
          degraded,
          output,
          ...totals(),
          latencyMs,
          grounding: verdict?.metrics,
        });
        return outcome({ output, model: result.model, degraded, ...(verdict ? { grounding: verdict.metrics } : {}) }, latencyMs);
      } catch (cause) {
        // No tier grounded its answer (and the run was not stopped for budget or cancellation):
        // abstain. The unverified answer stays in the run record only.
        if (grounding?.kind === 'check' && ungrounded && cause instanceof AllTiersFailedError && !budgetSpent && params.signal?.aborted !== true) {
          const metrics = { ...ungrounded.verdict.metrics, abstained: true, ungrounded: true, reason: 'ungrounded' };
          return abstain(grounding.whenUngrounded(ungrounded.verdict), { metrics, unverified: ungrounded.modelOutput });
        }
        const error = toRunError(cause, {
          route: task.route,
          budgetExceeded: budgetSpent,
          cancelled: params.signal?.aborted ? { reason: params.signal.reason } : undefined,
          attempts: log.records,
          spentUsd: log.spent().usd,
        });
        error.runId = runId;
        await record(deps, params, logger, {
          ...base,
          status: 'error',
          degraded: false,
          error: { code: error.code, message: error.message, details: error.details },
          ...totals(),
          latencyMs: latency(),
        });
        throw error;
      }
    }

    /** Records an abstention as a run (answered, or failed with its typed error) and answers it. */
    async function abstain(abstention: Abstention, how: { metrics: Record<string, unknown>; unverified?: unknown }): Promise<RunOutcome> {
      const stored = how.unverified === undefined ? how.metrics : { ...how.metrics, unverified_output: how.unverified };
      const latencyMs = latency();
      const common = { ...base, degraded: false, ...totals(), latencyMs, grounding: stored };
      if ('error' in abstention) {
        const error = abstention.error;
        error.runId = runId;
        await record(deps, params, logger, {
          ...common,
          status: 'error',
          output: how.unverified,
          error: { code: error.code, message: error.message, details: error.details },
        });
        throw error;
      }
      await record(deps, params, logger, { ...common, status: 'ok', model: 'none', output: abstention.answer });
      return outcome({ output: abstention.answer, model: 'none', degraded: false, grounding: how.metrics }, latencyMs);
    }
  }
}

/**
 * The most a run's first call can cost: its input and templates (and sources) estimated, its
 * output limit, on the first tier. The quota hold before a run, and an eval's `--dry-run`.
 */
export function firstCallWorstCase(params: Pick<RunTaskParams, 'task' | 'input' | 'extraPromptChars'>, models: Pick<ModelGateway, 'cost'>): CallAmount {
  const { definition } = params.task;
  const sources = definition.retrieval ? definition.retrieval.max_source_tokens * SOURCE_CHARS_PER_TOKEN : 0;
  const chars =
    JSON.stringify(params.input ?? null).length +
    definition.prompt.user.length +
    (definition.prompt.system?.length ?? 0) +
    sources +
    (params.extraPromptChars ?? 0);
  const usage = { inputTokens: Math.ceil(chars / CHARS_PER_TOKEN), outputTokens: definition.limits.max_output_tokens };
  const model = params.task.models[0];
  return { tokens: usage.inputTokens + usage.outputTokens, usd: model === undefined ? 0 : models.cost(model, usage) };
}

/** The most one call can cost: its prompt's tokens (estimated from characters) and its output limit, at its model's price. */
function worstCase(call: { model: string; request: GenerateRequest }, defaultMaxOutput: number, models: ModelGateway): CallAmount {
  let chars = call.request.system?.length ?? 0;
  for (const message of call.request.messages) chars += message.content.length + 16;
  const usage = { inputTokens: Math.ceil(chars / CHARS_PER_TOKEN) + 8, outputTokens: call.request.maxOutputTokens ?? defaultMaxOutput };
  return { tokens: usage.inputTokens + usage.outputTokens, usd: models.cost(call.model, usage) };
}

/** Maps whatever ended a run to one typed error listing every attempt's outcome. */
function toRunError(
  cause: unknown,
  context: { route: string; budgetExceeded: boolean; cancelled?: { reason: unknown }; attempts: AttemptRecord[]; spentUsd: number },
): GroundworkError {
  if (isGroundworkError(cause)) return cause;
  // A call refused before it was made (quota, tokens per minute): that refusal is the answer.
  if (cause instanceof AttemptRefusedError && isGroundworkError(cause.reason)) return cause.reason;
  if (context.budgetExceeded) {
    const attempts = noAnswerError({ route: context.route, failures: [], attempts: context.attempts, deadlineExceeded: false }).details.attempts;
    return new GroundworkError(
      'MODEL_BUDGET_EXCEEDED',
      `the run spent $${context.spentUsd.toFixed(6)}, reaching the task's max_cost_usd before producing valid output`,
      {
        details: { attempts, spent_usd: context.spentUsd },
        cause,
      },
    );
  }
  if (cause instanceof AllTiersFailedError || cause instanceof ModelCallError) {
    const failures = cause instanceof AllTiersFailedError ? cause.failures : [cause];
    const deadlineExceeded = cause instanceof AllTiersFailedError ? cause.deadlineExceeded : cause.outcome === 'timeout' && !cause.retryable;
    return noAnswerError({ route: context.route, failures, attempts: context.attempts, deadlineExceeded, cancelled: context.cancelled, cause });
  }
  return new GroundworkError('INTERNAL', 'the run failed unexpectedly', {
    details: { attempts: context.attempts.map((a) => ({ tier: a.tier, model: a.model, outcome: a.outcome })) },
    cause,
  });
}

async function record(deps: RunTaskDeps, params: RunTaskParams, logger: RunLogger, run: RunRecord): Promise<void> {
  // Off the response path: the queue writes batches every ~50 ms, and run readers flush it first.
  if (deps.queue && !params.durable) {
    deps.queue.add(params.tenantId, run);
    return;
  }
  try {
    await deps.runs.record(params.tenantId, run);
  } catch (error) {
    // The model work is done and paid for: answer the caller even if the trace write failed.
    logger.error({ err: error, run_id: run.id }, 'failed to record run');
  }
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;
