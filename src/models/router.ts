import { safeEmit } from './resilience/instrument.js';
import { AllTiersFailedError, ModelCallError, type AttemptEvent, type ModelPort } from './spec.js';

/**
 * Tries the route's tiers in order (typically cheap → capable). A tier that fails for any
 * reason escalates to the next; every attempt event says which tier it belongs to, and the
 * first one of an escalated tier says why the run got there.
 */
export function createRouter(tiers: ModelPort[]): ModelPort {
  if (tiers.length === 0) throw new Error('a route needs at least one model');
  return {
    provider: 'router',
    model: tiers.map((tier) => tier.model).join('>'),
    async generate(request) {
      const failures: ModelCallError[] = [];
      for (const [index, tier] of tiers.entries()) {
        if (request.signal?.aborted) break;
        const previous = failures.at(-1);
        let escalationReason =
          previous && `tier ${index - 1} (${tiers[index - 1].model}): ${previous.outcome}: ${previous.message}`;
        const onAttempt = (event: AttemptEvent) => {
          safeEmit(request.onAttempt, { ...event, tier: index, ...(escalationReason ? { escalationReason } : {}) });
          escalationReason = undefined;
        };
        try {
          const result = await tier.generate({ ...request, onAttempt });
          return { ...result, tier: index };
        } catch (error) {
          failures.push(asModelCallError(error, tier));
        }
      }
      throw new AllTiersFailedError(failures, request.signal?.aborted ?? false);
    },
  };
}

function asModelCallError(error: unknown, tier: ModelPort): ModelCallError {
  if (error instanceof ModelCallError) return error;
  return new ModelCallError({
    model: tier.model,
    provider: tier.provider,
    outcome: 'provider_error',
    message: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    cause: error,
  });
}
