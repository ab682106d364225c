import { BrokenCircuitError, CircuitBreakerPolicy, ConsecutiveBreaker, IsolatedCircuitError, circuitBreaker, handleWhen } from 'cockatiel';
import { ModelCallError, type ModelPort } from '../spec.js';
import { safeEmit } from './instrument.js';

/** A circuit breaker for one provider; share it between every model and route of that provider. */
export type ProviderBreaker = CircuitBreakerPolicy;

/**
 * Failures that say the provider is unhealthy. invalid_output is the model's answer, not
 * the provider's health, and a passed run deadline (a non-retryable timeout) is the run's
 * budget running out, so neither opens the circuit.
 */
function countsAsFailure(error: Error): boolean {
  if (!(error instanceof ModelCallError)) return false;
  if (error.outcome === 'timeout') return error.retryable;
  return error.outcome === 'rate_limited' || error.outcome === 'provider_error';
}

/** Opens after `threshold` consecutive provider failures; lets one trial call through after `halfOpenAfterMs`. */
export function createBreaker(options: { threshold: number; halfOpenAfterMs: number }): ProviderBreaker {
  return circuitBreaker(handleWhen(countsAsFailure), {
    halfOpenAfter: options.halfOpenAfterMs,
    breaker: new ConsecutiveBreaker(options.threshold),
  });
}

/** Refuses calls, without contacting the provider, while its breaker is open. */
export function withCircuitBreaker(model: ModelPort, breaker: ProviderBreaker): ModelPort {
  return {
    provider: model.provider,
    model: model.model,
    async generate(request) {
      try {
        return await breaker.execute(() => model.generate(request));
      } catch (error) {
        if (!(error instanceof BrokenCircuitError || error instanceof IsolatedCircuitError)) throw error;
        const last = breaker.lastFailure;
        const lastError = last && 'error' in last && last.error instanceof ModelCallError ? ` (last failure: ${last.error.outcome}: ${last.error.message})` : '';
        const message = `circuit open for provider ${model.provider} after repeated failures${lastError}`;
        safeEmit(request.onAttempt, { model: model.model, provider: model.provider, outcome: 'circuit_open', latencyMs: 0, error: message });
        throw new ModelCallError({ model: model.model, provider: model.provider, outcome: 'circuit_open', retryable: false, message, cause: error });
      }
    },
  };
}
