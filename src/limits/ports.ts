import type { Principal } from '../auth/principal.js';

/**
 * The limits every model-using path goes through (DESIGN.md "Limits"): per-key rate limits
 * (requests/min, tokens/min) and per-tenant quotas (tokens and USD per day/month, hard or
 * soft) with reserve-before / settle-after accounting. Enforced across replicas: state is
 * in PostgreSQL (or Redis) in server mode, in process memory in the embedded mode where
 * one process owns the data folder.
 */

export interface RateDecision {
  /** The limit that decided (the tightest one). */
  limit: number;
  remaining: number;
  /** Ms until the window frees capacity again. */
  resetMs: number;
}

export interface UsageAmount {
  tokens: number;
  usd: number;
}

/**
 * Held capacity for one model-using request: its tenant's quotas and its key's tokens per
 * minute. Settle (or release) exactly once.
 */
export interface Reservation {
  /** True when a soft quota is over its limit: the request is allowed but flagged. */
  readonly overSoftQuota: boolean;
  /**
   * Holds `more` as well, before a further model call (a retry, a re-ask, the next tier) whose
   * worst case the reservation does not cover: QUOTA_EXCEEDED or RATE_LIMITED when it cannot.
   */
  extend(more: UsageAmount): Promise<void>;
  /** Replaces the reserved amount with what was actually used (the key's tokens/minute too). */
  settle(actual: UsageAmount): Promise<void>;
  /** Gives the reservation back unused (the request failed before calling a model). */
  release(): Promise<void>;
}

export type QuotaMetric = 'tokens' | 'usd';
export type QuotaPeriod = 'day' | 'month';
/** hard: reject with QUOTA_EXCEEDED; soft: allow, flag the reservation, log one alert per period. */
export type QuotaEnforcement = 'hard' | 'soft';

/** One quota of a tenant: at most one per (metric, period). */
export interface QuotaSetting {
  metric: QuotaMetric;
  period: QuotaPeriod;
  /** Tokens, or USD. */
  limit: number;
  enforcement: QuotaEnforcement;
}

/** A quota with where the tenant stands in its current period. */
export interface QuotaStatus extends QuotaSetting {
  /** Settled usage in the current period. */
  used: number;
  /** Held by requests in flight. */
  reserved: number;
  periodStart: Date;
  resetsAt: Date;
}

/** Quota definitions: an installation operator's job (CLI), readable by the tenant (GET /v1/quotas). */
export interface QuotaAdmin {
  /** Creates or replaces the tenant's quota for (metric, period). TENANT_NOT_FOUND for an unknown tenant. */
  setQuota(tenantId: string, quota: QuotaSetting): Promise<void>;
  /** Removes the tenant's quota for (metric, period); false when there was none. */
  removeQuota(tenantId: string, metric: QuotaMetric, period: QuotaPeriod): Promise<boolean>;
  /** Every quota of the tenant with its current usage, day before month, tokens before usd. */
  getQuotas(tenantId: string): Promise<QuotaStatus[]>;
}

export type UsageGroupBy = 'day' | 'task' | 'model' | 'key';

export interface UsageQuery {
  /** Inclusive. */
  from: Date;
  /** Exclusive. */
  to: Date;
  groupBy: UsageGroupBy;
}

export interface UsageRow {
  /** The day (YYYY-MM-DD, UTC), task name, model or key id; '(none)' where a run has none. */
  group: string;
  runs: number;
  errors: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
}

export interface UsageReport {
  from: Date;
  to: Date;
  groupBy: UsageGroupBy;
  rows: UsageRow[];
  totals: Omit<UsageRow, 'group'>;
}

export interface Limits {
  /**
   * Counts one request against the key's requests/minute, and checks that its
   * tokens/minute budget is not spent. Throws GroundworkError RATE_LIMITED (details:
   * limit, remaining, retry_after_ms, scope) when over; returns the decision for X-RateLimit-* headers.
   */
  admit(principal: Principal): Promise<RateDecision>;
  /**
   * Reserves the most a request's first model call can cost, before it is made: against its
   * tenant's quotas (QUOTA_EXCEEDED for a hard quota that would be passed) and its key's
   * tokens per minute (RATE_LIMITED when the tokens would not fit the current window).
   */
  reserve(principal: Principal, maximum: UsageAmount): Promise<Reservation>;
  /** Writes settled usage still held in memory (embedded mode) and closes limiter connections. */
  close(): Promise<void>;
}

/** What the app exposes as `app.limits`: the enforcement port plus quota administration and usage reports. */
export interface LimitsService extends Limits {
  /** Quota definitions and current standing. */
  readonly quotas: QuotaAdmin;
  /** Usage aggregated from the tenant's recorded runs. */
  usage(tenantId: string, query: UsageQuery): Promise<UsageReport>;
}
