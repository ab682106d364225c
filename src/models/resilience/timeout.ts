import { ModelCallError, TierDeadlineError, type ModelPort } from '../spec.js';

/**
 * Bounds one attempt to `ms`. The attempt gets a signal that fires on either the attempt
 * timer or the run's own signal, and the two are reported differently: an attempt timeout is
 * worth retrying, a passed run deadline is not.
 */
export function withTimeout(model: ModelPort, ms: number): ModelPort {
  const ids = { model: model.model, provider: model.provider };
  // The run's deadline, or this tier's share of it (the router's TierDeadlineError): either way no retry.
  const deadlineError = (reason?: unknown) =>
    new ModelCallError({ ...ids, outcome: 'timeout', retryable: false, message: reason instanceof TierDeadlineError ? reason.message : 'run deadline exceeded', cause: reason });

  return {
    provider: model.provider,
    model: model.model,
    async generate(request) {
      const outer = request.signal;
      if (outer?.aborted) throw deadlineError(outer.reason);
      const timer = AbortSignal.timeout(ms);
      const signal = outer ? AbortSignal.any([outer, timer]) : timer;

      // Race the abort too: a model that ignores its signal must not hold the run hostage.
      let onAbort: (() => void) | undefined;
      const aborted = new Promise<never>((_, reject) => {
        onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
      });
      try {
        return await Promise.race([model.generate({ ...request, signal }), aborted]);
      } catch (error) {
        if (outer?.aborted) throw deadlineError(outer.reason instanceof TierDeadlineError ? outer.reason : error);
        if (timer.aborted) {
          throw new ModelCallError({ ...ids, outcome: 'timeout', retryable: true, message: `attempt timed out after ${ms} ms`, cause: error });
        }
        throw error;
      } finally {
        if (onAbort) signal.removeEventListener('abort', onAbort);
      }
    },
  };
}
