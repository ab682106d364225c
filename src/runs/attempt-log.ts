import type { AttemptEvent, AttemptOutcome, TokenUsage } from '../models/spec.js';
import type { AttemptRecord } from '../store/ports.js';

/**
 * The one attempt recorder: every physical model call of a run (task, `ask`, chat,
 * embeddings) becomes one AttemptRecord here, costed one way, and the run's totals are one sum
 * of them. Failed attempts can have spent too, and they count.
 */

/** One physical call as the recorder takes it (from the model port's AttemptEvent, or the gateway). */
export interface AttemptInput {
  tier: number;
  model: string;
  provider: string;
  outcome: AttemptOutcome;
  latencyMs: number;
  usage?: TokenUsage;
  /** USD when the caller priced it already; otherwise priced from `usage` on `model`. */
  costUsd?: number;
  error?: string;
  validationErrors?: string[];
  escalationReason?: string;
  reask?: boolean;
  repaired?: boolean;
}

/** Tokens and USD a run has used so far. */
export interface Spent {
  inputTokens: number;
  outputTokens: number;
  tokens: number;
  usd: number;
}

export class AttemptLog {
  readonly records: AttemptRecord[] = [];
  private inputTokens = 0;
  private outputTokens = 0;
  private usd = 0;

  /**
   * `price`: USD for this usage on this model (0 when unknown). `logDetail`: where an
   * attempt's internal detail (addresses, error codes) goes: the server log, never the record.
   */
  constructor(
    private readonly price: (model: string, usage: TokenUsage) => number,
    private readonly logDetail?: (event: AttemptEvent & { detail: string }) => void,
  ) {}

  /** Records one attempt event as the model port reports it (the router has set its tier). */
  observe(event: AttemptEvent): AttemptRecord {
    if (event.detail !== undefined && this.logDetail) this.logDetail(event as AttemptEvent & { detail: string });
    return this.add({ ...event, tier: event.tier ?? 0 });
  }

  add(attempt: AttemptInput): AttemptRecord {
    const usage = attempt.usage ?? { inputTokens: 0, outputTokens: 0 };
    const record: AttemptRecord = {
      seq: this.records.length + 1,
      tier: attempt.tier,
      model: attempt.model,
      provider: attempt.provider,
      outcome: attempt.outcome,
      inputTokens: usage.inputTokens,
      outputTokens: usage.outputTokens,
      tokensEstimated: usage.estimated === true,
      costUsd: attempt.costUsd ?? (attempt.usage ? this.price(attempt.model, usage) : 0),
      latencyMs: Math.round(attempt.latencyMs * 1000) / 1000,
    };
    if (attempt.error !== undefined) record.error = attempt.error;
    if (attempt.validationErrors !== undefined) record.validationErrors = attempt.validationErrors;
    if (attempt.escalationReason !== undefined) record.escalationReason = attempt.escalationReason;
    if (attempt.reask !== undefined) record.reask = attempt.reask;
    if (attempt.repaired !== undefined) record.repaired = attempt.repaired;
    this.records.push(record);
    this.inputTokens += record.inputTokens;
    this.outputTokens += record.outputTokens;
    this.usd += record.costUsd;
    return record;
  }

  /** What the run has used so far: its attempts' tokens and cost, summed once. */
  spent(): Spent {
    return { inputTokens: this.inputTokens, outputTokens: this.outputTokens, tokens: this.inputTokens + this.outputTokens, usd: this.usd };
  }

  get count(): number {
    return this.records.length;
  }
}

/** Where attempts' internal details go: the request's (or the server's) logger. */
export interface DetailLogger {
  error(details: Record<string, unknown>, message: string): void;
  warn?(details: Record<string, unknown>, message: string): void;
}

/** An AttemptLog's `logDetail` that writes one warning line per failed attempt with a detail. */
export function attemptDetailTo(logger: DetailLogger, runId: string): (event: AttemptEvent & { detail: string }) => void {
  return (event) =>
    (logger.warn ?? logger.error).call(
      logger,
      { run_id: runId, model: event.model, provider: event.provider, outcome: event.outcome, detail: event.detail },
      'model attempt failed',
    );
}
