import { describe, expect, it } from 'vitest';
import { ModelCallError, type GenerateResult, type ModelPort } from '../spec.js';
import { abortableSleep } from '../../kernel/abort.js';
import { retryDelay, withRetry, type RetryOptions } from './retry.js';

const ok: GenerateResult = { text: 'hi', usage: { inputTokens: 1, outputTokens: 1 }, finishReason: 'stop', model: 'm', provider: 'p' };
const fail = (outcome: ModelCallError['outcome'], extra: { retryAfterMs?: number; retryable?: boolean } = {}) =>
  new ModelCallError({ outcome, message: outcome, model: 'm', provider: 'p', ...extra });

/** Plays the given outcomes in order, then keeps repeating the last one. */
function scripted(steps: Array<GenerateResult | ModelCallError>) {
  let calls = 0;
  const port: ModelPort = {
    provider: 'p',
    model: 'm',
    async generate() {
      const step = steps[Math.min(calls++, steps.length - 1)];
      if (step instanceof Error) throw step;
      return step;
    },
  };
  return { port, calls: () => calls };
}

function options(overrides: Partial<RetryOptions> = {}) {
  const slept: number[] = [];
  const base: RetryOptions = {
    retries: 3,
    baseMs: 100,
    maxMs: 1_000,
    retryAfterCapMs: 5_000,
    random: () => 0.5,
    sleep: async (ms) => void slept.push(ms),
    ...overrides,
  };
  return { options: base, slept };
}

describe('withRetry', () => {
  it('retries retryable failures with exponential backoff and full jitter, then succeeds', async () => {
    const model = scripted([fail('provider_error'), fail('timeout'), fail('rate_limited'), ok]);
    const { options: opts, slept } = options();

    await expect(withRetry(model.port, opts).generate({ messages: [] })).resolves.toBe(ok);

    expect(model.calls()).toBe(4);
    expect(slept).toEqual([50, 100, 200]); // random 0.5 × 100, 200, 400
  });

  it('waits what Retry-After asks for, capped', async () => {
    const model = scripted([fail('rate_limited', { retryAfterMs: 1_500 }), fail('rate_limited', { retryAfterMs: 60_000 }), ok]);
    const { options: opts, slept } = options({ retryAfterCapMs: 5_000 });

    await withRetry(model.port, opts).generate({ messages: [] });

    expect(slept).toEqual([1_500, 5_000]);
  });

  it('never backs off longer than maxMs', () => {
    const opts = options({ baseMs: 250, maxMs: 1_000, random: () => 0.999 }).options;
    const delays = [1, 2, 3, 4, 5, 6, 10].map((attempt) => retryDelay(attempt, fail('provider_error'), opts));
    expect(Math.max(...delays)).toBeLessThanOrEqual(1_000);
    expect(delays[0]).toBe(249);
    expect(delays.at(-1)).toBe(999);
  });

  it('rethrows the last error once retries are exhausted', async () => {
    const last = fail('provider_error');
    const model = scripted([fail('timeout'), fail('rate_limited'), last]);
    const { options: opts } = options({ retries: 2 });

    await expect(withRetry(model.port, opts).generate({ messages: [] })).rejects.toBe(last);
    expect(model.calls()).toBe(3);
  });

  it('does not retry failures that are not retryable', async () => {
    const model = scripted([fail('invalid_output'), ok]);
    const { options: opts, slept } = options();

    await expect(withRetry(model.port, opts).generate({ messages: [] })).rejects.toMatchObject({ outcome: 'invalid_output' });
    expect(model.calls()).toBe(1);
    expect(slept).toEqual([]);
  });

  it('stops waiting as soon as the run is aborted and rethrows the last error', async () => {
    const limited = fail('rate_limited', { retryAfterMs: 10_000 });
    const model = scripted([limited, ok]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const started = Date.now();

    const { options: opts } = options({ sleep: abortableSleep, retryAfterCapMs: 30_000 });
    await expect(withRetry(model.port, opts).generate({ messages: [], signal: controller.signal })).rejects.toBe(limited);

    expect(Date.now() - started).toBeLessThan(1_000);
    expect(model.calls()).toBe(1);
  });
});

describe('abortableSleep', () => {
  it('waits the given time when not aborted', async () => {
    const started = Date.now();
    await abortableSleep(30);
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });
});
