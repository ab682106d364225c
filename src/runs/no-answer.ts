import { GroundworkError, isGroundworkError } from '../kernel/errors.js';
import type { AttemptOutcome } from '../models/spec.js';

/**
 * The one typed error for a call no tier of its route answered, shared by task runs, `ask`
 * and the gateway, so the same failures mean the same code everywhere:
 * - stopped by its caller → the reason it was given (CLIENT_DISCONNECTED, JOB_…), else RUN_CANCELLED;
 * - the run's deadline passed → 504 MODEL_DEADLINE_EXCEEDED;
 * - some tier answered but its output never validated → 502 MODEL_ALL_TIERS_FAILED;
 * - no tier could answer at all (down, rate-limited, circuit open, unreachable) → 503 MODEL_UNAVAILABLE.
 */

/** One failed attempt as errors list it. */
export interface FailedAttempt {
  tier?: number;
  model: string;
  outcome: AttemptOutcome;
  error?: string;
  validationErrors?: string[];
}

export interface NoAnswer {
  /** The route (or model) the caller named. */
  route: string;
  /** Why each tier stopped (the last failure of each). */
  failures: ReadonlyArray<{ model: string; outcome: AttemptOutcome }>;
  /** Every attempt, as the error's details list them. */
  attempts: readonly FailedAttempt[];
  deadlineExceeded: boolean;
  /** Set when the caller stopped the call: its abort reason. */
  cancelled?: { reason: unknown };
  cause?: unknown;
}

export function noAnswerError(params: NoAnswer): GroundworkError {
  const attempts = params.attempts.map((a) => ({
    ...(a.tier === undefined ? {} : { tier: a.tier }),
    model: a.model,
    outcome: a.outcome,
    ...(a.error ? { error: a.error } : {}),
    ...(a.validationErrors ? { validation_errors: a.validationErrors } : {}),
  }));
  const details = { model: params.route, attempts };
  if (params.cancelled) {
    if (isGroundworkError(params.cancelled.reason)) return params.cancelled.reason;
    return new GroundworkError('RUN_CANCELLED', `the run was stopped before a model answered (${String(params.cancelled.reason ?? 'cancelled')})`, {
      details,
      cause: params.cause,
    });
  }
  if (params.deadlineExceeded) {
    return new GroundworkError('MODEL_DEADLINE_EXCEEDED', `the run deadline passed before any tier of "${params.route}" produced valid output`, {
      details,
      cause: params.cause,
    });
  }
  const summary = params.failures.map((f) => `${f.model}: ${f.outcome}`).join('; ');
  if (params.failures.some((f) => f.outcome === 'invalid_output')) {
    return new GroundworkError(
      'MODEL_ALL_TIERS_FAILED',
      `all ${params.failures.length} tier(s) of "${params.route}" failed to produce valid output: ${summary}`,
      { details, cause: params.cause },
    );
  }
  return new GroundworkError('MODEL_UNAVAILABLE', `no model of "${params.route}" is available: ${summary}`, { details, cause: params.cause });
}
