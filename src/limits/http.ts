import { isGroundworkError } from '../kernel/errors.js';
import type { RateDecision } from './ports.js';

/**
 * HTTP rendering of limit decisions: X-RateLimit-* on admitted requests, Retry-After (plus
 * X-RateLimit-* with nothing remaining) on RATE_LIMITED and QUOTA_EXCEEDED answers.
 * X-RateLimit-Reset is in seconds from now, as in the IETF RateLimit header draft.
 */

export function rateLimitHeaders(decision: RateDecision): Record<string, string> {
  return {
    'x-ratelimit-limit': String(decision.limit),
    'x-ratelimit-remaining': String(Math.max(0, decision.remaining)),
    'x-ratelimit-reset': String(Math.ceil(Math.max(0, decision.resetMs) / 1000)),
  };
}

/**
 * Whole seconds a client should wait before retrying, for RATE_LIMITED (the window) and
 * QUOTA_EXCEEDED (the period's reset); undefined for any other error.
 */
export function retryAfterSeconds(error: unknown, nowMs: number = Date.now()): number | undefined {
  if (!isGroundworkError(error)) return undefined;
  if (error.code === 'RATE_LIMITED') {
    const ms = Number(error.details.retry_after_ms);
    return Number.isFinite(ms) ? Math.max(1, Math.ceil(ms / 1000)) : undefined;
  }
  if (error.code === 'QUOTA_EXCEEDED') {
    const resetsAt = Date.parse(String(error.details.resets_at));
    return Number.isFinite(resetsAt) ? Math.max(1, Math.ceil((resetsAt - nowMs) / 1000)) : undefined;
  }
  return undefined;
}

/** Headers for a RATE_LIMITED / QUOTA_EXCEEDED response; {} for any other error. */
export function limitErrorHeaders(error: unknown, nowMs: number = Date.now()): Record<string, string> {
  const seconds = retryAfterSeconds(error, nowMs);
  if (seconds === undefined || !isGroundworkError(error)) return {};
  const headers: Record<string, string> = { 'retry-after': String(seconds) };
  if (error.code === 'RATE_LIMITED') {
    headers['x-ratelimit-limit'] = String(error.details.limit);
    headers['x-ratelimit-remaining'] = '0';
    headers['x-ratelimit-reset'] = String(seconds);
  }
  return headers;
}
