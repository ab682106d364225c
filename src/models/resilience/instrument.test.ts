import { describe, expect, it } from 'vitest';
import { ModelCallError, type AttemptEvent, type GenerateResult, type ModelPort } from '../spec.js';
import { withInstrumentation } from './instrument.js';

const ok: GenerateResult = { text: 'hi', usage: { inputTokens: 3, outputTokens: 1 }, finishReason: 'stop', model: 'm', provider: 'p' };

function model(behaviour: () => Promise<GenerateResult>): ModelPort {
  return { provider: 'p', model: 'm', generate: behaviour };
}

describe('withInstrumentation', () => {
  it('reports one ok event with latency and usage', async () => {
    const events: AttemptEvent[] = [];
    const wrapped = withInstrumentation(model(() => new Promise((resolve) => setTimeout(() => resolve(ok), 15))));

    const result = await wrapped.generate({ messages: [], onAttempt: (e) => events.push(e) });

    expect(result).toBe(ok);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ model: 'm', provider: 'p', outcome: 'ok', usage: ok.usage });
    expect(events[0].latencyMs).toBeGreaterThanOrEqual(10);
  });

  it('reports a ModelCallError with its outcome and message and rethrows it unchanged', async () => {
    const events: AttemptEvent[] = [];
    const failure = new ModelCallError({ outcome: 'rate_limited', message: 'HTTP 429', model: 'm', provider: 'p' });
    const wrapped = withInstrumentation(model(() => Promise.reject(failure)));

    await expect(wrapped.generate({ messages: [], onAttempt: (e) => events.push(e) })).rejects.toBe(failure);
    expect(events).toEqual([expect.objectContaining({ outcome: 'rate_limited', error: 'HTTP 429' })]);
  });

  it('turns any other error into a provider_error', async () => {
    const events: AttemptEvent[] = [];
    const wrapped = withInstrumentation(model(() => Promise.reject(new TypeError('socket hang up'))));

    const error = await wrapped.generate({ messages: [], onAttempt: (e) => events.push(e) }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ModelCallError);
    expect(error).toMatchObject({ outcome: 'provider_error', retryable: true });
    expect((error as Error).message).toContain('socket hang up');
    expect(events[0].outcome).toBe('provider_error');
  });

  it('never lets a throwing observer fail the call', async () => {
    const wrapped = withInstrumentation(model(() => Promise.resolve(ok)));
    const result = await wrapped.generate({
      messages: [],
      onAttempt: () => {
        throw new Error('recorder down');
      },
    });
    expect(result.text).toBe('hi');
  });
});
