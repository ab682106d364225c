import { AttemptRefusedError, ModelCallError, type AttemptEvent, type GenerateRequest, type ModelPort, type TokenUsage } from '../spec.js';
import { onStreamEnd, streamOf } from '../stream.js';

/** Calls the attempt observer; an observer that throws must not turn a good call into a failed one. */
export function safeEmit(onAttempt: GenerateRequest['onAttempt'], event: AttemptEvent): void {
  if (!onAttempt) return;
  try {
    onAttempt(event);
  } catch {
    // Observers (the run recorder) are best-effort by contract.
  }
}

/**
 * Reports exactly one AttemptEvent per physical call, with its latency and usage or failure.
 * Every physical call passes here, so this is also where `beforeAttempt` is asked first (a quota
 * reservation growing to cover the call); a refusal there is not an attempt: nothing was sent.
 */
export function withInstrumentation(model: ModelPort): ModelPort {
  const ids = { model: model.model, provider: model.provider };
  const refusal = (error: unknown) => (error instanceof AttemptRefusedError ? error : new AttemptRefusedError(error));
  // Undefined when there is nothing to wait for (no hook, or a hook with nothing to do): no
  // promise is made for the common call.
  const asked = (request: GenerateRequest): Promise<void> | undefined => {
    if (!request.beforeAttempt) return undefined;
    let pending: Promise<void> | void;
    try {
      pending = request.beforeAttempt({ ...ids, request });
    } catch (error) {
      throw refusal(error);
    }
    return pending ? pending.catch((error: unknown) => Promise.reject(refusal(error))) : undefined;
  };
  const failed = (request: GenerateRequest, error: unknown, latencyMs: number, usage?: TokenUsage): ModelCallError => {
    const failure = asFailure(error, ids, model.provider);
    safeEmit(request.onAttempt, {
      ...ids,
      outcome: failure.outcome,
      latencyMs,
      error: failure.message,
      ...(usage ? { usage } : {}),
      ...(failure.detail ? { detail: failure.detail } : {}),
      ...(failure.validationErrors ? { validationErrors: failure.validationErrors } : {}),
    });
    return failure;
  };
  return {
    provider: model.provider,
    model: model.model,
    async generate(request) {
      const waiting = asked(request);
      if (waiting) await waiting;
      const started = performance.now();
      const latency = () => Math.round(performance.now() - started);
      try {
        const result = await model.generate(request);
        safeEmit(request.onAttempt, { ...ids, outcome: 'ok', latencyMs: latency(), usage: result.usage });
        return result;
      } catch (error) {
        throw failed(request, error, latency());
      }
    },
    // A streamed call is one attempt too, reported when it ends: ok with its usage, or the
    // failure that ended it (before the first chunk: thrown; after it: from the chunks).
    async stream(request) {
      const waiting = asked(request);
      if (waiting) await waiting;
      const started = performance.now();
      const latency = () => Math.round(performance.now() - started);
      let stream;
      try {
        stream = await streamOf(model, request);
      } catch (error) {
        throw failed(request, error, latency());
      }
      const begun = stream;
      return onStreamEnd(begun, (error) => {
        if (error !== undefined) return void failed(request, error, latency(), begun.result().usage);
        // A stream its caller stopped (the client went away) is no failure of the provider's.
        const stopped = request.signal?.aborted ? { error: 'the caller stopped the stream before it ended' } : {};
        safeEmit(request.onAttempt, { ...ids, outcome: 'ok', latencyMs: latency(), usage: begun.result().usage, ...stopped });
      });
    },
  };
}

function asFailure(error: unknown, ids: { model: string; provider: string }, provider: string): ModelCallError {
  if (error instanceof ModelCallError) return error;
  return new ModelCallError({
    ...ids,
    outcome: 'provider_error',
    message: `${provider} call failed: ${error instanceof Error ? error.message : String(error)}`,
    cause: error,
  });
}
