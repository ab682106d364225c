import { safeEmit } from './resilience/instrument.js';
import { AllTiersFailedError, AttemptRefusedError, ModelCallError, TierDeadlineError, type AttemptEvent, type GenerateRequest, type ModelPort } from './spec.js';

/**
 * Tries the route's tiers in order (typically cheap → capable). A tier that fails for any
 * reason escalates to the next; every attempt event says which tier it belongs to, and the
 * first one of an escalated tier says why the run got there.
 *
 * When the run has a deadline, a tier that is not the last gets at most an equal share of
 * the time left (what is left divided by the tiers still to try): a cheap tier that hangs,
 * retrying until the run's deadline, would otherwise leave nothing for a healthy later tier.
 * A tier that answers sooner leaves the rest to those after it.
 */
export function createRouter(tiers: ModelPort[], options: { now?: () => number } = {}): ModelPort {
  if (tiers.length === 0) throw new Error('a route needs at least one model');
  const now = options.now ?? Date.now;
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
        const share = deadlineShare(request, tiers.length - index, now());
        try {
          const result = await tier.generate({ ...request, ...share?.request, onAttempt });
          return { ...result, tier: index };
        } catch (error) {
          // A refused attempt (quota) would be refused on every tier: the run ends here.
          if (error instanceof AttemptRefusedError) throw error;
          failures.push(share?.signal.aborted && !request.signal?.aborted ? shareSpent(tier, share.shareMs, error) : asModelCallError(error, tier));
        } finally {
          share?.clear();
        }
      }
      throw new AllTiersFailedError(failures, request.signal?.aborted ?? false);
    },
  };
}

interface Share {
  request: Pick<GenerateRequest, 'signal' | 'deadlineAt'>;
  signal: AbortSignal;
  shareMs: number;
  clear(): void;
}

/** The tier's own signal and deadline when it is not the last one to try; undefined when the tier may use all that is left. */
function deadlineShare(request: GenerateRequest, tiersLeft: number, at: number): Share | undefined {
  if (request.deadlineAt === undefined || tiersLeft <= 1) return undefined;
  const shareMs = Math.max(1, Math.floor((request.deadlineAt - at) / tiersLeft));
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new TierDeadlineError(shareMs)), shareMs);
  timer.unref?.();
  const signal = request.signal ? AbortSignal.any([request.signal, controller.signal]) : controller.signal;
  return { request: { signal, deadlineAt: at + shareMs }, signal: controller.signal, shareMs, clear: () => clearTimeout(timer) };
}

function shareSpent(tier: ModelPort, shareMs: number, cause: unknown): ModelCallError {
  return new ModelCallError({ model: tier.model, provider: tier.provider, outcome: 'timeout', retryable: false, message: new TierDeadlineError(shareMs).message, cause });
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
