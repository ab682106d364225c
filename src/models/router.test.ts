import { afterEach, describe, expect, it, vi } from 'vitest';
import { withInstrumentation } from './resilience/instrument.js';
import { withRetry } from './resilience/retry.js';
import { withTimeout } from './resilience/timeout.js';
import { createRouter } from './router.js';
import { AllTiersFailedError, AttemptRefusedError, ModelCallError, type AttemptEvent, type CancelSignal, type ModelPort } from './spec.js';

afterEach(() => {
  vi.useRealTimers();
});

/** An instrumented fake tier that fails with `error` or answers with its own name. */
function tier(name: string, error?: ModelCallError | Error, onCall?: () => void) {
  let calls = 0;
  const port: ModelPort = {
    provider: name.startsWith('claude') ? 'anthropic' : 'openai',
    model: name,
    async generate() {
      calls++;
      onCall?.();
      if (error) throw error;
      return { text: name, usage: { inputTokens: 1, outputTokens: 1 }, finishReason: 'stop', model: name, provider: this.provider };
    },
  };
  return { port: withInstrumentation(port), calls: () => calls };
}

const invalid = new ModelCallError({
  outcome: 'invalid_output',
  message: 'output did not match the schema',
  model: 'gpt-4o-mini',
  provider: 'openai',
  validationErrors: ['/x: must be number'],
});
const limited = new ModelCallError({ outcome: 'rate_limited', message: 'HTTP 429', model: 'gpt-4o', provider: 'openai' });

describe('createRouter', () => {
  it('is a model port named after its tiers', () => {
    const router = createRouter([tier('gpt-4o-mini').port, tier('claude-sonnet-4-5').port]);
    expect(router).toMatchObject({ provider: 'router', model: 'gpt-4o-mini>claude-sonnet-4-5' });
  });

  it('answers from the first tier when it succeeds', async () => {
    const first = tier('gpt-4o-mini');
    const second = tier('gpt-4o');
    const result = await createRouter([first.port, second.port]).generate({ messages: [] });
    expect(result).toMatchObject({ text: 'gpt-4o-mini', tier: 0, model: 'gpt-4o-mini', provider: 'openai' });
    expect(second.calls()).toBe(0);
  });

  it('escalates on failure, tagging every event with its tier and the first escalated one with the reason', async () => {
    const events: AttemptEvent[] = [];
    const router = createRouter([tier('gpt-4o-mini', invalid).port, tier('gpt-4o', limited).port, tier('claude-sonnet-4-5').port]);

    const result = await router.generate({ messages: [], onAttempt: (e) => events.push(e) });

    expect(result).toMatchObject({ text: 'claude-sonnet-4-5', tier: 2, model: 'claude-sonnet-4-5', provider: 'anthropic' });
    expect(events.map((e) => [e.model, e.outcome, e.tier])).toEqual([
      ['gpt-4o-mini', 'invalid_output', 0],
      ['gpt-4o', 'rate_limited', 1],
      ['claude-sonnet-4-5', 'ok', 2],
    ]);
    expect(events[0].escalationReason).toBeUndefined();
    expect(events[1].escalationReason).toBe('tier 0 (gpt-4o-mini): invalid_output: output did not match the schema');
    expect(events[2].escalationReason).toBe('tier 1 (gpt-4o): rate_limited: HTTP 429');
  });

  it('only the first event of an escalated tier carries the reason', async () => {
    const events: AttemptEvent[] = [];
    const retrying: ModelPort = {
      provider: 'openai',
      model: 'gpt-4o',
      async generate(request) {
        request.onAttempt?.({ model: 'gpt-4o', provider: 'openai', outcome: 'timeout', latencyMs: 5 });
        request.onAttempt?.({ model: 'gpt-4o', provider: 'openai', outcome: 'ok', latencyMs: 5 });
        return { text: 'ok', usage: { inputTokens: 1, outputTokens: 1 }, finishReason: 'stop', model: 'gpt-4o', provider: 'openai' };
      },
    };
    await createRouter([tier('gpt-4o-mini', invalid).port, retrying]).generate({ messages: [], onAttempt: (e) => events.push(e) });
    expect(events.map((e) => e.escalationReason !== undefined)).toEqual([false, true, false]);
  });

  it('throws AllTiersFailedError listing every tier’s failure', async () => {
    const router = createRouter([tier('gpt-4o-mini', invalid).port, tier('gpt-4o', limited).port, tier('local', new Error('segfault')).port]);

    const error = await router.generate({ messages: [] }).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AllTiersFailedError);
    const failed = error as AllTiersFailedError;
    expect(failed.deadlineExceeded).toBe(false);
    expect(failed.failures.map((f) => [f.model, f.outcome])).toEqual([
      ['gpt-4o-mini', 'invalid_output'],
      ['gpt-4o', 'rate_limited'],
      ['local', 'provider_error'],
    ]);
    expect(failed.message).toContain('all 3 tier(s) failed');
  });

  it('stops escalating once the run deadline has passed', async () => {
    const controller = new AbortController();
    const first = tier('gpt-4o-mini', limited, () => controller.abort());
    const second = tier('gpt-4o');

    const error = await createRouter([first.port, second.port])
      .generate({ messages: [], signal: controller.signal })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(AllTiersFailedError);
    expect((error as AllTiersFailedError).deadlineExceeded).toBe(true);
    expect((error as AllTiersFailedError).failures).toHaveLength(1);
    expect(second.calls()).toBe(0);
  });

  it('gives a tier that is not the last only its share of the run deadline, so a hanging cheap tier still escalates', async () => {
    // Issue 9 item 17: tier 0 hangs and its retries used up the whole run deadline; tier 2 was healthy.
    vi.useFakeTimers();
    const now = () => Date.now();
    const hanging: ModelPort = {
      provider: 'cheap-provider',
      model: 'cheap',
      generate: (request) => new Promise((_, reject) => request.signal?.addEventListener('abort', () => reject(request.signal?.reason), { once: true })),
    };
    // Wrapped and retried as a real tier is, with an attempt timeout longer than the run.
    const cheap = withRetry(withInstrumentation(withTimeout(hanging, 60_000)), { retries: 5, baseMs: 1, maxMs: 1, retryAfterCapMs: 1, random: () => 0 });
    const healthy = tier('capable');
    const events: AttemptEvent[] = [];
    const run = new AbortController();
    const started = now();
    const answer = createRouter([cheap, healthy.port], { now }).generate({
      messages: [],
      signal: run.signal,
      deadlineAt: started + 10_000,
      onAttempt: (e) => events.push(e),
    });
    await vi.advanceTimersByTimeAsync(5_001);
    const result = await answer;
    expect(result).toMatchObject({ model: 'capable', tier: 1 });
    // Tier 0 got half of the 10 s, was not retried past its share, and tier 1 answered.
    expect(events.map((e) => [e.tier, e.model, e.outcome])).toEqual([
      [0, 'cheap', 'timeout'],
      [1, 'capable', 'ok'],
    ]);
    expect(events[1].escalationReason).toMatch(/share of the run deadline \(5000 ms\)/);
    expect(run.signal.aborted).toBe(false);
  });

  it('lets the last tier use all the time that is left', async () => {
    vi.useFakeTimers();
    let signal: CancelSignal | undefined;
    const only: ModelPort = {
      provider: 'p',
      model: 'only',
      generate: async (request) => {
        signal = request.signal;
        return { text: 'x', usage: { inputTokens: 1, outputTokens: 1 }, finishReason: 'stop', model: 'only', provider: 'p' };
      },
    };
    const outer = new AbortController();
    await createRouter([only]).generate({ messages: [], signal: outer.signal, deadlineAt: Date.now() + 10_000 });
    expect(signal).toBe(outer.signal);
  });

  it('does not escalate past a refused attempt (quota): another tier would be refused the same way', async () => {
    const quota = new Error('quota exceeded');
    const first = tier('gpt-4o-mini');
    const second = tier('gpt-4o');
    const failed = await createRouter([first.port, second.port])
      .generate({
        messages: [],
        beforeAttempt: () => {
          throw quota;
        },
      })
      .catch((e: unknown) => e);
    expect(failed).toBeInstanceOf(AttemptRefusedError);
    expect((failed as AttemptRefusedError).reason).toBe(quota);
    expect([first.calls(), second.calls()]).toEqual([0, 0]);
  });
});
