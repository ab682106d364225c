import { AttemptRefusedError, ModelCallError, type AttemptEvent, type GenerateRequest, type ModelPort } from '../spec.js';

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
  return {
    provider: model.provider,
    model: model.model,
    async generate(request) {
      const ids = { model: model.model, provider: model.provider };
      if (request.beforeAttempt) {
        try {
          await request.beforeAttempt({ ...ids, request });
        } catch (error) {
          throw error instanceof AttemptRefusedError ? error : new AttemptRefusedError(error);
        }
      }
      const started = performance.now();
      const latency = () => Math.round(performance.now() - started);
      try {
        const result = await model.generate(request);
        safeEmit(request.onAttempt, { ...ids, outcome: 'ok', latencyMs: latency(), usage: result.usage });
        return result;
      } catch (error) {
        const failure =
          error instanceof ModelCallError
            ? error
            : new ModelCallError({
                ...ids,
                outcome: 'provider_error',
                message: `${model.provider} call failed: ${error instanceof Error ? error.message : String(error)}`,
                cause: error,
              });
        safeEmit(request.onAttempt, {
          ...ids,
          outcome: failure.outcome,
          latencyMs: latency(),
          error: failure.message,
          ...(failure.detail ? { detail: failure.detail } : {}),
          ...(failure.validationErrors ? { validationErrors: failure.validationErrors } : {}),
        });
        throw failure;
      }
    },
  };
}
