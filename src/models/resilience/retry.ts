import { DelegateBackoff, handleWhen, retry, type IRetryBackoffContext } from 'cockatiel';
import { ModelCallError, type ModelPort } from '../spec.js';

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
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Waits `ms`, ending as soon as `signal` aborts. */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
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

/** Retries retryable ModelCallErrors; rethrows the last one when retries run out or the run is aborted. */
export function withRetry(model: ModelPort, options: RetryOptions): ModelPort {
  const sleep = options.sleep ?? abortableSleep;
  return {
    provider: model.provider,
    model: model.model,
    async generate(request) {
      let delayMs = 0;
      // cockatiel's own wait cannot be interrupted, so it waits 0 and the attempt itself
      // sleeps first, abortably; once the signal has aborted cockatiel stops retrying.
      const policy = retry(handleWhen((error) => error instanceof ModelCallError && error.retryable), {
        maxAttempts: options.retries,
        backoff: new DelegateBackoff((context: IRetryBackoffContext<unknown>) => {
          delayMs = retryDelay(context.attempt, 'error' in context.result ? context.result.error : undefined, options);
          return 0;
        }),
      });
      let lastError: unknown;
      return policy.execute(async ({ attempt }) => {
        if (attempt > 0) {
          await sleep(delayMs, request.signal);
          if (request.signal?.aborted) throw lastError;
        }
        try {
          return await model.generate(request);
        } catch (error) {
          lastError = error;
          throw error;
        }
      }, request.signal);
    },
  };
}
