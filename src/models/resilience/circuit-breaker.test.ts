import { describe, expect, it } from 'vitest';
import { ModelCallError, type AttemptEvent, type GenerateResult, type ModelPort } from '../spec.js';
import { createBreaker, withCircuitBreaker } from './circuit-breaker.js';

const ok: GenerateResult = { text: 'hi', usage: { inputTokens: 1, outputTokens: 1 }, finishReason: 'stop', model: 'm', provider: 'openai' };
const fail = (outcome: ModelCallError['outcome'], retryable?: boolean) =>
  new ModelCallError({ outcome, message: `${outcome} happened`, model: 'm', provider: 'openai', retryable });

/** A model whose behaviour can be switched; counts the calls that reached it. */
function switchable(name = 'm') {
  const state = { next: (): Promise<GenerateResult> => Promise.resolve(ok), calls: 0 };
  const port: ModelPort = {
    provider: 'openai',
    model: name,
    generate() {
      state.calls++;
      return state.next();
    },
  };
  return { port, state };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('withCircuitBreaker', () => {
  it('tolerates a degraded provider below the failure rate and opens above it', async () => {
    const { port, state } = switchable();
    const model = withCircuitBreaker(port, createBreaker({ failureRate: 0.5, window: 10, minCalls: 4, halfOpenAfterMs: 10_000 }));
    // 3 failures in 10 calls (30%): stays closed.
    for (let i = 0; i < 10; i++) {
      state.next = () => (i % 3 === 0 && i < 9 ? Promise.reject(fail('provider_error')) : Promise.resolve(ok));
      await model.generate({ messages: [] }).catch(() => undefined);
    }
    expect(state.calls).toBe(10);
    // Now every call fails: once half of the last 10 failed, the circuit opens.
    state.next = () => Promise.reject(fail('provider_error'));
    const outcomes: string[] = [];
    for (let i = 0; i < 8; i++)
      outcomes.push(
        await model.generate({ messages: [] }).then(
          () => 'ok',
          (e: ModelCallError) => e.outcome,
        ),
      );
    expect(outcomes.filter((o) => o === 'provider_error').length).toBeLessThanOrEqual(5);
    expect(outcomes.at(-1)).toBe('circuit_open');
  });

  it('does not open on fewer than minCalls samples', async () => {
    const { port, state } = switchable();
    const model = withCircuitBreaker(port, createBreaker({ failureRate: 0.5, window: 10, minCalls: 5, halfOpenAfterMs: 10_000 }));
    state.next = () => Promise.reject(fail('provider_error'));
    for (let i = 0; i < 4; i++) await expect(model.generate({ messages: [] })).rejects.toMatchObject({ outcome: 'provider_error' });
    await expect(model.generate({ messages: [] })).rejects.toMatchObject({ outcome: 'provider_error' });
    await expect(model.generate({ messages: [] })).rejects.toMatchObject({ outcome: 'circuit_open' });
  });

  it('opens once the window is full of provider failures and then refuses without calling the provider', async () => {
    const { port, state } = switchable();
    const model = withCircuitBreaker(port, createBreaker({ failureRate: 0.99, window: 3, minCalls: 3, halfOpenAfterMs: 10_000 }));
    state.next = () => Promise.reject(fail('provider_error'));
    for (let i = 0; i < 3; i++) await expect(model.generate({ messages: [] })).rejects.toMatchObject({ outcome: 'provider_error' });

    const events: AttemptEvent[] = [];
    const error = await model.generate({ messages: [], onAttempt: (e) => events.push(e) }).catch((e: unknown) => e);

    expect(state.calls).toBe(3);
    expect(error).toBeInstanceOf(ModelCallError);
    expect(error).toMatchObject({ outcome: 'circuit_open', retryable: false });
    expect((error as Error).message).toContain('provider_error happened');
    expect(events).toEqual([expect.objectContaining({ outcome: 'circuit_open', latencyMs: 0, model: 'm', provider: 'openai' })]);
  });

  it('does not count invalid output or a passed run deadline against the provider', async () => {
    const { port, state } = switchable();
    const model = withCircuitBreaker(port, createBreaker({ failureRate: 0.99, window: 2, minCalls: 2, halfOpenAfterMs: 10_000 }));
    state.next = () => Promise.reject(fail('invalid_output'));
    for (let i = 0; i < 3; i++) await expect(model.generate({ messages: [] })).rejects.toMatchObject({ outcome: 'invalid_output' });
    state.next = () => Promise.reject(fail('timeout', false));
    for (let i = 0; i < 3; i++) await expect(model.generate({ messages: [] })).rejects.toMatchObject({ outcome: 'timeout' });

    state.next = () => Promise.resolve(ok);
    await expect(model.generate({ messages: [] })).resolves.toBe(ok);
  });

  it('a success in the window keeps it below a 100% failure rate', async () => {
    const { port, state } = switchable();
    const model = withCircuitBreaker(port, createBreaker({ failureRate: 0.99, window: 2, minCalls: 2, halfOpenAfterMs: 10_000 }));
    state.next = () => Promise.reject(fail('rate_limited'));
    await model.generate({ messages: [] }).catch(() => undefined);
    state.next = () => Promise.resolve(ok);
    await model.generate({ messages: [] });
    state.next = () => Promise.reject(fail('timeout'));
    await model.generate({ messages: [] }).catch(() => undefined);

    await expect(model.generate({ messages: [] })).rejects.toMatchObject({ outcome: 'timeout' });
    expect(state.calls).toBe(4);
  });

  it('half-opens after the wait: a good trial call closes it, a bad one opens it again', async () => {
    const { port, state } = switchable();
    const model = withCircuitBreaker(port, createBreaker({ failureRate: 0.99, window: 1, minCalls: 1, halfOpenAfterMs: 40 }));
    state.next = () => Promise.reject(fail('provider_error'));
    await model.generate({ messages: [] }).catch(() => undefined);
    await expect(model.generate({ messages: [] })).rejects.toMatchObject({ outcome: 'circuit_open' });

    await sleep(60);
    await expect(model.generate({ messages: [] })).rejects.toMatchObject({ outcome: 'provider_error' }); // the trial
    await expect(model.generate({ messages: [] })).rejects.toMatchObject({ outcome: 'circuit_open' });
    expect(state.calls).toBe(2);

    await sleep(60);
    state.next = () => Promise.resolve(ok);
    await expect(model.generate({ messages: [] })).resolves.toBe(ok);
    await expect(model.generate({ messages: [] })).resolves.toBe(ok);
    expect(state.calls).toBe(4);
  });

  it('is shared by every model of the provider', async () => {
    const breaker = createBreaker({ failureRate: 0.99, window: 2, minCalls: 2, halfOpenAfterMs: 10_000 });
    const a = switchable('gpt-4o-mini');
    const b = switchable('gpt-4o');
    a.state.next = () => Promise.reject(fail('provider_error'));
    const modelA = withCircuitBreaker(a.port, breaker);
    const modelB = withCircuitBreaker(b.port, breaker);
    await modelA.generate({ messages: [] }).catch(() => undefined);
    await modelA.generate({ messages: [] }).catch(() => undefined);

    await expect(modelB.generate({ messages: [] })).rejects.toMatchObject({ outcome: 'circuit_open', model: 'gpt-4o' });
    expect(b.state.calls).toBe(0);
  });
});
