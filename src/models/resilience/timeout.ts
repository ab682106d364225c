import { Cancellation } from '../../kernel/cancellation.js';
import { ModelCallError, TierDeadlineError, type GenerateRequest, type ModelPort } from '../spec.js';
import { onStreamEnd, streamOf } from '../stream.js';

/**
 * Bounds one attempt to `ms`. The attempt gets a signal that fires on either the attempt
 * timer or the run's own signal, and the two are reported differently: an attempt timeout is
 * worth retrying, a passed run deadline is not.
 */
export function withTimeout(model: ModelPort, ms: number): ModelPort {
  const ids = { model: model.model, provider: model.provider };
  // The run's deadline, or this tier's share of it (the router's TierDeadlineError): either way no retry.
  const deadlineError = (reason?: unknown) =>
    new ModelCallError({
      ...ids,
      outcome: 'timeout',
      retryable: false,
      message: reason instanceof TierDeadlineError ? reason.message : 'run deadline exceeded',
      cause: reason,
    });
  const attemptTimedOut = Symbol('attempt timed out');

  /** Runs `call` with a per-attempt cancellation; classifies what stopped it. */
  async function bounded<T>(request: GenerateRequest, call: (signal: Cancellation) => Promise<T>, whenDone: (signal: Cancellation) => void): Promise<T> {
    const outer = request.signal;
    if (outer?.aborted) throw deadlineError(outer.reason);
    // One cheap cancellation per attempt: follows the run's, and fires on its own timer.
    const signal = new Cancellation().follow(outer).timeout(ms, () => attemptTimedOut);
    // The abort settles the attempt too: a model that ignores its signal must not hold the
    // run hostage. One promise for both outcomes (cheaper than racing a second one).
    let onAbort: (() => void) | undefined;
    try {
      const result = await new Promise<T>((resolve, reject) => {
        onAbort = () => reject(signal.reason);
        signal.addEventListener('abort', onAbort);
        call(signal).then(resolve, reject);
      });
      whenDone(signal);
      return result;
    } catch (error) {
      signal.dispose();
      if (outer?.aborted) throw deadlineError(outer.reason instanceof TierDeadlineError ? outer.reason : error);
      if (signal.reason === attemptTimedOut) {
        throw new ModelCallError({ ...ids, outcome: 'timeout', retryable: true, message: `attempt timed out after ${ms} ms`, cause: error });
      }
      throw error;
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  }

  return {
    provider: model.provider,
    model: model.model,
    generate: (request) =>
      bounded(
        request,
        (signal) => model.generate({ ...request, signal }),
        (signal) => signal.dispose(),
      ),
    // A stream has `ms` to begin; once its first chunk is in, the timer stops, but the run's
    // own signal still stops it until its chunks end.
    // When the chunks end, the attempt's signal stops following the run's.
    stream: (request) => {
      let attempt: Cancellation | undefined;
      return bounded(
        request,
        (signal) => streamOf(model, { ...request, signal: (attempt = signal) }),
        (signal) => signal.stopTimer(),
      ).then((stream) => onStreamEnd(stream, () => attempt?.dispose()));
    },
  };
}
