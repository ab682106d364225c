import { Cancellation } from '../kernel/cancellation.js';
import { safeEmit } from './resilience/instrument.js';
import { onStreamEnd, streamOf } from './stream.js';
import {
  AllTiersFailedError,
  AttemptRefusedError,
  ModelCallError,
  TierDeadlineError,
  type AttemptEvent,
  type GenerateRequest,
  type ModelPort,
} from './spec.js';

/**
 * Tries the route's tiers in order (typically cheap → capable). A tier that fails for any
 * reason escalates to the next; every attempt event says which tier it belongs to, and the
 * first one of an escalated tier says why the run got there. Two failures end the call on the
 * tier where they happen, because every tier would meet them: a refused attempt (quota) and a
 * request the provider refused as malformed (`rejectsRequest`).
 *
 * One router serves every caller: task runs and `ask` (generate), the gateway's chat
 * completions (generate, or stream) and embeddings (generate with an embeddings wire body).
 * A stream fails over only before its first chunk is in hand, which is the gateway's rule:
 * nothing has reached the client yet.
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
    generate: (request) =>
      failover(
        tiers,
        request,
        now,
        (tier, tierRequest) => tier.generate(tierRequest),
        (result, index, share) => {
          share?.dispose();
          return { ...result, tier: index };
        },
      ),
    stream: (request) =>
      failover(
        tiers,
        request,
        now,
        (tier, tierRequest) => streamOf(tier, tierRequest),
        (stream, index, share) => {
          // The tier is committed: its share's timer stops, but the run's own signal still
          // reaches the stream through it until the stream ends.
          share?.stopTimer();
          const tiered = { ...stream, tier: index, result: () => ({ ...stream.result(), tier: index }) };
          return share ? onStreamEnd(tiered, () => share.dispose()) : tiered;
        },
      ),
  };
}

/** The one failover loop: `call` on each tier in turn until one answers; `won` keeps the answer. */
async function failover<T>(
  tiers: readonly ModelPort[],
  request: GenerateRequest,
  now: () => number,
  call: (tier: ModelPort, request: GenerateRequest) => Promise<T>,
  won: (answer: T, tier: number, share: Cancellation | undefined) => T,
): Promise<T> {
  const failures: ModelCallError[] = [];
  for (let index = 0; index < tiers.length; index++) {
    if (request.signal?.aborted) break;
    const tier = tiers[index];
    const previous = failures.at(-1);
    let escalationReason = previous && `tier ${index - 1} (${tiers[index - 1].model}): ${previous.outcome}: ${previous.message}`;
    const outer = request.onAttempt;
    const onAttempt = (event: AttemptEvent) => {
      safeEmit(outer, { ...event, tier: index, ...(escalationReason ? { escalationReason } : {}) });
      escalationReason = undefined;
    };
    const share = deadlineShare(request, tiers.length - index, now());
    let answer: T;
    try {
      answer = await call(tier, share ? { ...request, signal: share.signal, deadlineAt: share.deadlineAt, onAttempt } : { ...request, onAttempt });
    } catch (error) {
      share?.signal.dispose();
      // A refused attempt (quota) or a refused request would be refused on every tier: the call ends here.
      if (error instanceof AttemptRefusedError) throw error;
      if (error instanceof ModelCallError && error.rejectsRequest) throw error;
      failures.push(
        share?.signal.reason instanceof TierDeadlineError && !request.signal?.aborted ? shareSpent(tier, share.shareMs, error) : asModelCallError(error, tier),
      );
      continue;
    }
    return won(answer, index, share?.signal);
  }
  throw new AllTiersFailedError(failures, request.signal?.aborted ?? false);
}

interface Share {
  signal: Cancellation;
  deadlineAt: number;
  shareMs: number;
}

/** The tier's own signal and deadline when it is not the last one to try; undefined when the tier may use all that is left. */
function deadlineShare(request: GenerateRequest, tiersLeft: number, at: number): Share | undefined {
  if (request.deadlineAt === undefined || tiersLeft <= 1) return undefined;
  const shareMs = Math.max(1, Math.floor((request.deadlineAt - at) / tiersLeft));
  const signal = new Cancellation().follow(request.signal).timeout(shareMs, () => new TierDeadlineError(shareMs));
  return { signal, deadlineAt: at + shareMs, shareMs };
}

function shareSpent(tier: ModelPort, shareMs: number, cause: unknown): ModelCallError {
  return new ModelCallError({
    model: tier.model,
    provider: tier.provider,
    outcome: 'timeout',
    retryable: false,
    message: new TierDeadlineError(shareMs).message,
    cause,
  });
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
