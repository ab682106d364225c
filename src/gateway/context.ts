import { BrokenCircuitError, IsolatedCircuitError } from 'cockatiel';
import type { Principal } from '../auth/principal.js';
import type { EmbedderRegistry } from '../embeddings/registry.js';
import { GroundworkError, isGroundworkError, type ErrorCode } from '../kernel/errors.js';
import type { Clock, IdGenerator } from '../kernel/ids.js';
import type { Limits, Reservation, UsageAmount } from '../limits/ports.js';
import { costUsd } from '../models/pricing.js';
import type { ModelRegistry } from '../models/registry.js';
import type { ProviderBreaker } from '../models/resilience/circuit-breaker.js';
import { ModelCallError, type TokenUsage } from '../models/spec.js';
import type { RunBatcher } from '../store/run-batcher.js';
import type { AttemptRecord, RunRecord } from '../store/ports.js';
import type { Plan, Plans, GatewayConfig, Tier } from './targets.js';
import type { Upstream } from './upstream.js';

/** What the gateway's request handlers share: dependencies, upstream HTTP, breakers, plans. */

export interface GatewayLogger {
  error(details: Record<string, unknown>, message: string): void;
  warn?(details: Record<string, unknown>, message: string): void;
}

export interface GatewayDeps {
  config: GatewayConfig;
  models: Pick<ModelRegistry, 'tier' | 'breaker'>;
  embedders: Pick<EmbedderRegistry, 'get' | 'names'>;
  /** Where run records go: the batching recorder (never a round trip on the response path). */
  runs: Pick<RunBatcher, 'add'>;
  /** Quotas: reserve before a model call, settle after. Absent: no quota accounting. */
  limits?: Pick<Limits, 'reserve'>;
  logger: GatewayLogger;
  newId: IdGenerator;
  now: Clock;
  /** Output tokens reserved when a request sets no max_tokens; default 4,096. */
  defaultMaxTokens?: number;
}

export interface GatewayContext {
  deps: GatewayDeps;
  plans: Plans;
  upstream: Upstream;
  breaker(provider: string): ProviderBreaker;
  defaultMaxTokens: number;
}

/** A breaker's refusal as the model port reports it. */
export function circuitOpen(error: unknown, tier: Tier): ModelCallError | undefined {
  if (!(error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError)) return undefined;
  return new ModelCallError({ model: tier.name, provider: tier.provider, outcome: 'circuit_open', retryable: false, message: `circuit open for provider ${tier.provider} after repeated failures` });
}

/** Anything a tier threw, as a ModelCallError under the tier's configured name (engines may call themselves otherwise). */
export function asModelCallError(error: unknown, tier: Tier): ModelCallError {
  if (error instanceof ModelCallError) {
    if (error.model === tier.name) return error;
    return new ModelCallError({ model: tier.name, provider: error.provider, outcome: error.outcome, retryable: error.retryable, status: error.status, message: error.message, detail: error.detail, cause: error });
  }
  return new ModelCallError({
    model: tier.name,
    provider: tier.provider,
    outcome: 'provider_error',
    message: `${tier.provider} call failed unexpectedly`,
    detail: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    cause: error,
  });
}

/**
 * One gateway call's run record, filled in as tiers are tried and written through the
 * batching recorder once the call has ended.
 */
export class GatewayRun {
  readonly id: string;
  readonly attempts: AttemptRecord[] = [];
  private readonly started = performance.now();
  private readonly createdAt: number;
  private escalation: string | undefined;

  private readonly logger: GatewayLogger;

  constructor(
    private readonly ctx: GatewayContext,
    private readonly principal: Principal,
    private readonly taskName: 'chat.completions' | 'embeddings',
    private readonly input: unknown,
    logger?: GatewayLogger,
  ) {
    this.createdAt = ctx.deps.now();
    this.id = ctx.deps.newId('run');
    this.logger = logger ?? ctx.deps.logger;
  }

  /** The reason the next attempt's tier was escalated to (recorded on its first attempt). */
  escalate(tierIndex: number, tier: Tier, failure: ModelCallError): void {
    this.escalation = `tier ${tierIndex} (${tier.name}): ${failure.outcome}: ${failure.message}`;
  }

  attempt(params: { tier: number; model: string; provider: string; outcome: AttemptRecord['outcome']; latencyMs: number; usage?: TokenUsage; costUsd?: number; error?: string; detail?: string }): void {
    // The failure in words is recorded; its detail (addresses, error codes) only goes to the log.
    if (params.detail) (this.logger.warn ?? this.logger.error).call(this.logger, { run_id: this.id, model: params.model, provider: params.provider, outcome: params.outcome, detail: params.detail }, 'model attempt failed');
    const attempt: AttemptRecord = {
      seq: this.attempts.length + 1,
      tier: params.tier,
      model: params.model,
      provider: params.provider,
      outcome: params.outcome,
      inputTokens: params.usage?.inputTokens ?? 0,
      outputTokens: params.usage?.outputTokens ?? 0,
      tokensEstimated: params.usage?.estimated === true,
      costUsd: params.costUsd ?? 0,
      latencyMs: params.latencyMs,
    };
    if (params.error !== undefined) attempt.error = params.error;
    if (this.escalation !== undefined) {
      attempt.escalationReason = this.escalation;
      this.escalation = undefined;
    }
    this.attempts.push(attempt);
  }

  /** Tokens and cost of every attempt so far (failed ones can have spent too). */
  spent(): UsageAmount & TokenUsage {
    let inputTokens = 0;
    let outputTokens = 0;
    let usd = 0;
    for (const a of this.attempts) {
      inputTokens += a.inputTokens;
      outputTokens += a.outputTokens;
      usd += a.costUsd;
    }
    return { inputTokens, outputTokens, tokens: inputTokens + outputTokens, usd };
  }

  succeed(params: { tier: number; model: string; output: unknown }): void {
    this.write({ status: 'ok', model: params.model, degraded: params.tier > 0, output: params.output });
  }

  fail(error: GroundworkError | { code: ErrorCode; message: string; details?: Record<string, unknown> }, output?: unknown): void {
    this.write({ status: 'error', degraded: false, output, error: { code: error.code, message: error.message, details: error.details ?? {} } });
  }

  private write(result: Pick<RunRecord, 'status' | 'model' | 'degraded' | 'output' | 'error'>): void {
    const spent = this.spent();
    const run: RunRecord = {
      id: this.id,
      taskName: this.taskName,
      taskVersion: 'gateway',
      status: result.status,
      degraded: result.degraded,
      input: this.input,
      inputTokens: spent.inputTokens,
      outputTokens: spent.outputTokens,
      costUsd: spent.usd,
      latencyMs: performance.now() - this.started,
      createdAt: new Date(this.createdAt),
      attempts: this.attempts,
      keyId: this.principal.keyId,
    };
    if (result.model !== undefined) run.model = result.model;
    if (result.output !== undefined) run.output = result.output;
    if (result.error !== undefined) run.error = result.error;
    this.ctx.deps.runs.add(this.principal.tenantId, run);
  }
}

/**
 * A call's hold on its tenant's quotas and its key's tokens per minute: what the first tier's
 * call can cost at most (its input tokens, estimated, and its own output limit), grown before
 * any later call (failover, port-tier retries) to cover what was spent plus that call's worst case.
 */
export interface Hold {
  reservation: Reservation;
  /** What is held so far. */
  held: UsageAmount;
  /** The request's input tokens (estimated) and output limit: each call's worst case is priced from these. */
  usage: TokenUsage;
}

/** Reserves the first tier's worst case against the tenant's quotas; records the run when refused. */
export async function reserve(ctx: GatewayContext, params: { principal: Principal; run: GatewayRun; plan: Plan; inputTokens: number; maxOutputTokens: number }): Promise<Hold | undefined> {
  const limits = ctx.deps.limits;
  if (!limits) return undefined;
  const usage = { inputTokens: params.inputTokens, outputTokens: params.maxOutputTokens };
  const first = { tokens: usage.inputTokens + usage.outputTokens, usd: costUsd(params.plan.tiers[0].price, usage) };
  try {
    return { reservation: await limits.reserve(params.principal, first), held: first, usage };
  } catch (error) {
    if (isGroundworkError(error)) params.run.fail(error);
    throw error;
  }
}

/** Before a further call on `tier`: grows the hold to cover what the run spent plus this call's worst case (QUOTA_EXCEEDED / RATE_LIMITED when it cannot). */
export async function cover(hold: Hold | undefined, run: GatewayRun, tier: Tier): Promise<void> {
  if (!hold) return;
  const spent = run.spent();
  const more = {
    tokens: Math.max(0, spent.tokens + hold.usage.inputTokens + hold.usage.outputTokens - hold.held.tokens),
    usd: Math.max(0, spent.usd + costUsd(tier.price, hold.usage) - hold.held.usd),
  };
  if (more.tokens === 0 && more.usd === 0) return;
  await hold.reservation.extend(more);
  hold.held = { tokens: hold.held.tokens + more.tokens, usd: hold.held.usd + more.usd };
}

/**
 * Settles a reservation with what the call actually used, off the response path (the
 * answer does not wait for the quota write); with nothing spent, releases it.
 */
export function settle(ctx: GatewayContext, hold: Hold | undefined, run: GatewayRun): void {
  if (!hold) return;
  const reservation = hold.reservation;
  const spent = run.spent();
  const done = spent.tokens === 0 && spent.usd === 0 ? reservation.release() : reservation.settle({ tokens: spent.tokens, usd: spent.usd });
  done.catch((error: unknown) => ctx.deps.logger.error({ err: error instanceof Error ? error.message : String(error), run_id: run.id }, 'could not settle a quota reservation'));
}

/** The error for a call where no tier answered. */
export function allTiersFailed(run: GatewayRun, plan: Plan, failures: ModelCallError[], aborted: boolean): GroundworkError {
  const attempts = failures.map((f) => ({ model: f.model, provider: f.provider, outcome: f.outcome, error: f.message }));
  const code: ErrorCode = 'MODEL_ALL_TIERS_FAILED';
  const message = aborted
    ? 'the client disconnected before a model answered'
    : `all ${plan.tiers.length} tier(s) of "${plan.name}" failed: ${attempts.map((a) => `${a.model}: ${a.outcome}`).join('; ')}`;
  return new GroundworkError(code, message, { details: { model: plan.name, attempts }, runId: run.id });
}
