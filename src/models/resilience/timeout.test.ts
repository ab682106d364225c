import { describe, expect, it } from 'vitest';
import { ModelCallError, type GenerateRequest, type GenerateResult, type ModelPort } from '../spec.js';
import { withTimeout } from './timeout.js';

const ok: GenerateResult = { text: 'hi', usage: { inputTokens: 1, outputTokens: 1 }, finishReason: 'stop', model: 'm', provider: 'p' };

/** Answers after `ms`, honouring (or, if told to, ignoring) the signal it is given. */
function slowModel(ms: number, honourSignal = true) {
  const seen: GenerateRequest[] = [];
  const port: ModelPort = {
    provider: 'p',
    model: 'm',
    generate(request) {
      seen.push(request);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => resolve(ok), ms);
        if (honourSignal) request.signal?.addEventListener('abort', () => (clearTimeout(timer), reject(request.signal?.reason)));
      });
    },
  };
  return { port, seen };
}

describe('withTimeout', () => {
  it('passes a fast answer through', async () => {
    const { port } = slowModel(1);
    await expect(withTimeout(port, 500).generate({ messages: [] })).resolves.toBe(ok);
  });

  it('ends a slow attempt as a retryable timeout and aborts the provider call', async () => {
    const { port, seen } = slowModel(5_000);
    const started = Date.now();

    const error = await withTimeout(port, 30)
      .generate({ messages: [] })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ModelCallError);
    expect(error).toMatchObject({ outcome: 'timeout', retryable: true });
    expect((error as Error).message).toContain('30 ms');
    expect(seen[0].signal?.aborted).toBe(true);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('times out a model that ignores its signal', async () => {
    const { port } = slowModel(2_000, false);
    const started = Date.now();
    await expect(withTimeout(port, 30).generate({ messages: [] })).rejects.toMatchObject({ outcome: 'timeout', retryable: true });
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('reports the run deadline, not retryable, when the caller’s signal fires first', async () => {
    const { port } = slowModel(5_000);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);

    const error = await withTimeout(port, 2_000)
      .generate({ messages: [], signal: controller.signal })
      .catch((e: unknown) => e);

    expect(error).toMatchObject({ outcome: 'timeout', retryable: false, message: 'run deadline exceeded' });
  });

  it('does not call the model at all when the deadline has already passed', async () => {
    const { port, seen } = slowModel(1);
    const signal = AbortSignal.abort();
    await expect(withTimeout(port, 1_000).generate({ messages: [], signal })).rejects.toMatchObject({ retryable: false, message: 'run deadline exceeded' });
    expect(seen).toHaveLength(0);
  });

  it('passes other failures through untouched', async () => {
    const failure = new ModelCallError({ outcome: 'provider_error', message: 'HTTP 500', model: 'm', provider: 'p' });
    const port: ModelPort = { provider: 'p', model: 'm', generate: () => Promise.reject(failure) };
    await expect(withTimeout(port, 1_000).generate({ messages: [] })).rejects.toBe(failure);
  });
});
