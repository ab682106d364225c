import type { Principal } from '../auth/principal.js';
import type { EmbedderRegistry } from '../embeddings/registry.js';
import { GroundworkError, isGroundworkError } from '../kernel/errors.js';
import type { Clock, IdGenerator } from '../kernel/ids.js';
import type { Limits } from '../limits/ports.js';
import { costUsd, type ResolvedPrice } from '../models/pricing.js';
import type { ModelRegistry } from '../models/registry.js';
import { AllTiersFailedError, AttemptRefusedError, ModelCallError, type AttemptEvent, type TokenUsage } from '../models/spec.js';
import { AttemptLog, attemptDetailTo, type DetailLogger } from '../runs/attempt-log.js';
import { runMeter, type CallAmount, type RunMeter } from '../runs/meter.js';
import { noAnswerError } from '../runs/no-answer.js';
import type { RunBatcher } from '../store/run-batcher.js';
import type { RunRecord } from '../store/ports.js';
import type { GatewayConfig, Plan, Plans } from './targets.js';

/** What the gateway's request handlers share: dependencies and plans. */

export type GatewayLogger = DetailLogger;

export interface GatewayDeps {
  config: GatewayConfig;
  /** The model registry: every tier is one of its ports (pass-through or not), behind the same wrappers. */
  models: Pick<ModelRegistry, 'tier' | 'resilient' | 'passThrough'>;
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
  defaultMaxTokens: number;
}

/**
 * One gateway call's run record: its attempts come from the router's attempt events into the
 * same AttemptLog task runs use (one recorder, one cost sum), and it is written through the
 * batching recorder once the call has ended.
 */
export class GatewayRun {
  readonly id: string;
  readonly log: AttemptLog;
  private readonly started = performance.now();
  private readonly createdAt: number;
  private plan: Plan | undefined;

  constructor(
    private readonly ctx: GatewayContext,
    private readonly principal: Principal,
    private readonly taskName: 'chat.completions' | 'embeddings',
    private readonly input: unknown,
    logger?: GatewayLogger,
  ) {
    this.createdAt = ctx.deps.now();
    this.id = ctx.deps.newId('run');
    this.log = new AttemptLog((model, usage) => (this.plan ? costUsd(this.plan.price(model), usage) : 0), attemptDetailTo(logger ?? ctx.deps.logger, this.id));
  }

  /** The plan the call resolved to: its tiers' prices cost the attempts. */
  planned(plan: Plan): void {
    this.plan = plan;
  }

  /** The router's observer: one record per physical call. */
  readonly attempt = (event: AttemptEvent): void => {
    this.log.observe(event);
  };

  succeed(params: { tier: number; model: string; output: unknown }): void {
    this.write({ status: 'ok', model: params.model, degraded: params.tier > 0, output: params.output });
  }

  /** Records a call refused before any model was asked (unknown model, quota): returns the error to throw. */
  failWith(error: unknown): unknown {
    if (isGroundworkError(error)) this.fail(error);
    return error;
  }

  /** Only a registered error: its code, message and details are what the record keeps. */
  fail(error: GroundworkError, output?: unknown): void {
    this.write({ status: 'error', degraded: false, output, error: { code: error.code, message: error.message, details: error.details } });
  }

  private write(result: Pick<RunRecord, 'status' | 'model' | 'degraded' | 'output' | 'error'>): void {
    const spent = this.log.spent();
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
      attempts: this.log.records,
      keyId: this.principal.keyId,
    };
    if (result.model !== undefined) run.model = result.model;
    if (result.output !== undefined) run.output = result.output;
    if (result.error !== undefined) run.error = result.error;
    this.ctx.deps.runs.add(this.principal.tenantId, run);
  }
}

/**
 * A call's hold on its tenant's quotas and its key's tokens per minute, through the same
 * RunMeter task runs use (src/runs/meter.ts): what the first tier's call can cost at most (its
 * input tokens, estimated, and its own output limit), grown before any later call (retries,
 * failover) to cover what was spent plus that call's worst case.
 */
export interface Hold {
  meter: RunMeter;
  /** The request's input tokens (estimated) and output limit: each call's worst case is priced from these. */
  usage: TokenUsage;
  /** The tenant is over a soft quota: allowed, and flagged to the client. */
  overSoftQuota: boolean;
}

/** A call's worst case on a tier with this price. */
const worstCase = (price: ResolvedPrice, usage: TokenUsage): CallAmount => ({ tokens: usage.inputTokens + usage.outputTokens, usd: costUsd(price, usage) });

/** Reserves the first tier's worst case against the tenant's quotas; records the run when refused. */
export async function reserve(
  ctx: GatewayContext,
  params: { principal: Principal; run: GatewayRun; plan: Plan; inputTokens: number; maxOutputTokens: number },
): Promise<Hold | undefined> {
  const limits = ctx.deps.limits;
  if (!limits) return undefined;
  const usage = { inputTokens: params.inputTokens, outputTokens: params.maxOutputTokens };
  const hold: Hold = {
    usage,
    overSoftQuota: false,
    meter: runMeter({ limits, principal: params.principal, logger: ctx.deps.logger, onSoftQuota: () => (hold.overSoftQuota = true) }),
  };
  try {
    await hold.meter.reserve(worstCase(params.plan.tiers[0].price, usage));
    return hold;
  } catch (error) {
    throw params.run.failWith(error);
  }
}

/**
 * The port's `beforeAttempt`: before every physical call, grows the hold to cover what the run
 * spent plus this call's worst case on `model` (QUOTA_EXCEEDED / RATE_LIMITED when it cannot).
 * The first call is covered by the reservation already, so it costs nothing here.
 */
export function coverEach(hold: Hold | undefined, run: GatewayRun, plan: Plan): ((attempt: { model: string }) => Promise<void> | undefined) | undefined {
  if (!hold) return undefined;
  return (attempt) => hold.meter.beforeCall({ worstCase: worstCase(plan.price(attempt.model), hold.usage), spent: run.log.spent() });
}

/**
 * Settles the hold with what the call actually used, off the response path (the answer does
 * not wait for the quota write; the meter logs a failed write); with nothing spent, releases it.
 */
export function settle(hold: Hold | undefined, run: GatewayRun): void {
  if (!hold) return;
  const spent = run.log.spent();
  void hold.meter.settle({ tokens: spent.tokens, usd: spent.usd });
}

/**
 * What a call that got no answer tells its client, with the same codes a task run uses
 * (src/runs/no-answer.ts): the quota refusal that stopped it, the provider's refusal of the
 * request (400 GATEWAY_REQUEST_INVALID, no failover), the client's own disconnect, else 503
 * MODEL_UNAVAILABLE (or 502 when output was invalid). Anything else is a bug: INTERNAL.
 */
export function noAnswer(error: unknown, run: GatewayRun, plan: Plan, signal: { aborted: boolean; reason?: unknown }): GroundworkError {
  if (isGroundworkError(error)) return error;
  if (error instanceof AttemptRefusedError && isGroundworkError(error.reason)) return error.reason;
  if (error instanceof ModelCallError && error.rejectsRequest) {
    return new GroundworkError('GATEWAY_REQUEST_INVALID', error.message, {
      details: { model: error.model, provider: error.provider, ...(error.status === undefined ? {} : { upstream_status: error.status }) },
      runId: run.id,
    });
  }
  const failures = error instanceof AllTiersFailedError ? error.failures : error instanceof ModelCallError ? [error] : undefined;
  if (!failures) return new GroundworkError('INTERNAL', 'the call failed unexpectedly', { runId: run.id, cause: error });
  const answer = noAnswerError({
    route: plan.name,
    failures,
    attempts: run.log.records.map((a) => ({ tier: a.tier, model: a.model, outcome: a.outcome, ...(a.error === undefined ? {} : { error: a.error }) })),
    deadlineExceeded: false,
    cancelled: signal.aborted ? { reason: clientGone(signal.reason) } : undefined,
    cause: error,
  });
  answer.runId ??= run.id;
  return answer;
}

/** The disconnect's reason when it is already the typed error (the HTTP layer's), else one. */
export function clientGone(reason: unknown): GroundworkError {
  return isGroundworkError(reason) && reason.code === 'CLIENT_DISCONNECTED'
    ? reason
    : new GroundworkError('CLIENT_DISCONNECTED', 'the client disconnected before a model answered');
}
