import { BrokenCircuitError, CircuitBreakerPolicy, CountBreaker, IsolatedCircuitError, circuitBreaker, handleWhen } from 'cockatiel';
import { ModelCallError, type GenerateRequest, type ModelPort } from '../spec.js';
import { streamOf } from '../stream.js';
import { safeEmit } from './instrument.js';

/** A circuit breaker for one provider; share it between every model and route of that provider. */
export type ProviderBreaker = CircuitBreakerPolicy;

/**
 * Failures that say the provider is unhealthy. invalid_output is the model's answer, not
 * the provider's health, and a passed run deadline (a non-retryable timeout) is the run's
 * budget running out, so neither opens the circuit.
 */
function countsAsFailure(error: Error): boolean {
  // A refused request (the caller's body) says nothing about the provider's health either.
  if (!(error instanceof ModelCallError) || error.rejectsRequest) return false;
  if (error.outcome === 'timeout') return error.retryable;
  return error.outcome === 'rate_limited' || error.outcome === 'provider_error';
}

export interface BreakerOptions {
  /** Share of failed calls (0..1) in the window that opens the circuit. */
  failureRate: number;
  /** How many of the most recent calls are sampled. */
  window: number;
  /** Calls needed in the window before it may open. */
  minCalls: number;
  halfOpenAfterMs: number;
}

/**
 * Opens when at least `failureRate` of the last `window` calls failed (with at least
 * `minCalls` sampled), then lets one trial call through after `halfOpenAfterMs`. A ratio
 * over recent calls, not a consecutive count: under concurrency a degraded-but-working
 * provider (say 30% errors, which retries absorb) would otherwise trip a consecutive
 * breaker constantly.
 */
export function createBreaker(options: BreakerOptions): ProviderBreaker {
  return circuitBreaker(handleWhen(countsAsFailure), {
    halfOpenAfter: options.halfOpenAfterMs,
    breaker: new CountBreaker({ threshold: options.failureRate, size: options.window, minimumNumberOfCalls: Math.min(options.minCalls, options.window) }),
  });
}

/**
 * Refuses calls, without contacting the provider, while its breaker is open. A stream counts
 * as a success once its first chunk is in: a break after that cannot fail over, and is the
 * stream's own outcome.
 */
export function withCircuitBreaker(model: ModelPort, breaker: ProviderBreaker): ModelPort {
  async function guarded<T>(request: GenerateRequest, call: () => Promise<T>): Promise<T> {
    try {
      return await breaker.execute(call);
    } catch (error) {
      if (!(error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError)) throw error;
      const last = breaker.lastFailure;
      const lastError = last && 'error' in last && last.error instanceof ModelCallError ? ` (last failure: ${last.error.outcome}: ${last.error.message})` : '';
      const message = `circuit open for provider ${model.provider} after repeated failures${lastError}`;
      safeEmit(request.onAttempt, { model: model.model, provider: model.provider, outcome: 'circuit_open', latencyMs: 0, error: message });
      throw new ModelCallError({ model: model.model, provider: model.provider, outcome: 'circuit_open', retryable: false, message, cause: error });
    }
  }
  return {
    provider: model.provider,
    model: model.model,
    generate: (request) => guarded(request, () => model.generate(request)),
    stream: (request) => guarded(request, () => streamOf(model, request)),
  };
}
