import { ConstantBackoff, handleWhen, retry } from 'cockatiel';
import { abortableSleep } from '../../kernel/abort.js';
import { ModelCallError, type CancelSignal, type GenerateRequest, type ModelPort } from '../spec.js';
import { streamOf } from '../stream.js';

export interface RetryOptions {
  /** Retries after the first attempt. */
  retries: number;
  baseMs: number;
  maxMs: number;
  /** A provider's Retry-After above this is not waited for in full. */
  retryAfterCapMs: number;
  /** Injected in tests; defaults to Math.random. */
  random?: () => number;
  /** Injected in tests; must resolve early when the signal aborts. */
  sleep?: (ms: number, signal?: CancelSignal) => Promise<void>;
}

/**
 * The delay before retry number `attempt` (1-based): the provider's Retry-After when it sent
 * one (capped), else exponential backoff with full jitter so that many runs rate-limited
 * together do not come back together.
 */
export function retryDelay(attempt: number, error: unknown, options: RetryOptions): number {
  if (error instanceof ModelCallError && error.retryAfterMs !== undefined) {
    return Math.min(error.retryAfterMs, options.retryAfterCapMs);
  }
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** (attempt - 1));
  return Math.floor((options.random ?? Math.random)() * ceiling);
}

/**
 * Retries retryable ModelCallErrors; rethrows the last one when retries run out or the run is
 * aborted. A stream is retried only until its first chunk is in (its port resolves then).
 */
export function withRetry(model: ModelPort, options: RetryOptions): ModelPort {
  const sleep = options.sleep ?? abortableSleep;
  // One policy for every call: its backoff waits nothing, because cockatiel's own wait cannot
  // be interrupted; each call sleeps before its retries itself, abortably, for the delay its
  // last error asks for. Once the signal has aborted cockatiel stops retrying.
  const policy = retry(
    handleWhen((error) => error instanceof ModelCallError && error.retryable),
    {
      maxAttempts: Math.max(0, options.retries - 1),
      backoff: new ConstantBackoff(0),
    },
  );
  const retryable = (error: unknown, request: GenerateRequest) =>
    options.retries > 0 && error instanceof ModelCallError && error.retryable && !request.signal?.aborted;
  // The first try is called directly: most calls succeed, and the policy's own promises and
  // events are paid on the gateway's hot path only once a retryable failure asks for
  // retries. The policy then runs the retries themselves.
  function retrying<T>(request: GenerateRequest, call: () => Promise<T>): Promise<T> {
    return call().catch((first: unknown) => {
      if (!retryable(first, request)) throw first;
      let lastError = first;
      return policy.execute(
        async ({ attempt }) => {
          await sleep(retryDelay(attempt + 1, lastError, options), request.signal);
          if (request.signal?.aborted) throw lastError;
          try {
            return await call();
          } catch (error) {
            lastError = error;
            throw error;
          }
        },
        // cockatiel reads only `aborted` from its signal: a CancelSignal serves.
        request.signal as AbortSignal | undefined,
      );
    });
  }
  return {
    provider: model.provider,
    model: model.model,
    generate: (request) => retrying(request, () => model.generate(request)),
    stream: (request) => retrying(request, () => streamOf(model, request)),
  };
}
