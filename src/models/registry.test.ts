import { describe, expect, it, vi } from 'vitest';
import type { Config, ResilienceConfig } from '../config/config.js';
import { createModelRegistry, type LocalModel } from './registry.js';
import { AllTiersFailedError, ModelCallError, type AttemptEvent } from './spec.js';

const resilience: ResilienceConfig = {
  retries: 1,
  backoff_base_ms: 1,
  backoff_max_ms: 2,
  retry_after_cap_ms: 5,
  attempt_timeout_ms: 1_000,
  breaker_failure_rate: 0.99,
  breaker_window: 2,
  breaker_min_calls: 2,
  breaker_half_open_after_ms: 60_000,
};

function config(overrides: Partial<ResilienceConfig> = {}): Pick<Config, 'providers' | 'models' | 'resilience'> {
  return {
    providers: {
      openai: { name: 'openai', type: 'openai-compatible', base_url: 'http://openai.test/v1', api_key: 'sk-test', native_structured_output: true },
      local: { name: 'local', type: 'llama-cpp', native_structured_output: true },
    },
    models: {
      'gpt-4o-mini': { name: 'gpt-4o-mini', provider: 'openai' },
      smart: { name: 'smart', provider: 'openai', id: 'gpt-4o' },
      qwen: { name: 'qwen', provider: 'local', path: '/models/qwen.gguf' },
    },
    resilience: { ...resilience, ...overrides },
  };
}

function completion(content: string) {
  return {
    id: 'c1',
    object: 'chat.completion',
    created: 1,
    model: 'x',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 10, completion_tokens: 2 },
  };
}

/** A fake fetch answering chat-completions calls by the requested model id. */
function fakeFetch(answer: (modelId: string) => { status: number; body: unknown }) {
  const calls: string[] = [];
  const fetch = vi.fn(async (_url: string | URL | Request, init?: RequestInit) => {
    const modelId = JSON.parse(String(init?.body)).model as string;
    calls.push(modelId);
    const { status, body } = answer(modelId);
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  });
  return { fetch: fetch as unknown as typeof globalThis.fetch, calls };
}

const schema = { type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] };

describe('createModelRegistry', () => {
  it('knows its models, builds each tier once, and refuses unknown names', () => {
    const registry = createModelRegistry(config());
    expect(registry.has('smart')).toBe(true);
    expect(registry.has('gpt-5')).toBe(false);
    expect(registry.tier('smart')).toBe(registry.tier('smart'));
    expect(registry.tier('smart')).toMatchObject({ model: 'smart', provider: 'openai' });
    expect(() => registry.tier('gpt-5')).toThrow(/unknown model "gpt-5"/);
  });

  it('prices hosted models from the table by provider id and local ones as unpriced', () => {
    const registry = createModelRegistry(config());
    expect(registry.price('smart')).toEqual({ input_per_mtok: 2.5, output_per_mtok: 10, known: true });
    expect(registry.price('qwen').known).toBe(false);
  });

  it('retries a failed attempt and reports each physical attempt', async () => {
    let n = 0;
    const { fetch, calls } = fakeFetch(() => (n++ === 0 ? { status: 503, body: { error: { message: 'busy' } } } : { status: 200, body: completion('hello') }));
    const events: AttemptEvent[] = [];

    const result = await createModelRegistry(config(), { fetch })
      .tier('smart')
      .generate({ messages: [{ role: 'user', content: 'hi' }], onAttempt: (e) => events.push(e) });

    expect(result).toMatchObject({ text: 'hello', model: 'smart', provider: 'openai', usage: { inputTokens: 10, outputTokens: 2 } });
    expect(calls).toEqual(['gpt-4o', 'gpt-4o']);
    expect(events.map((e) => e.outcome)).toEqual(['provider_error', 'ok']);
  });

  it('shares one circuit breaker between all models of a provider', async () => {
    const { fetch, calls } = fakeFetch(() => ({ status: 500, body: { error: { message: 'down' } } }));
    const registry = createModelRegistry(config(), { fetch });

    await expect(registry.tier('gpt-4o-mini').generate({ messages: [] })).rejects.toMatchObject({ outcome: 'provider_error' });
    await expect(registry.tier('smart').generate({ messages: [] })).rejects.toMatchObject({ outcome: 'circuit_open' });
    expect(calls).toEqual(['gpt-4o-mini', 'gpt-4o-mini']);
  });

  it('routes through validating tiers: a tier that keeps answering badly escalates to the next', async () => {
    const { fetch, calls } = fakeFetch((id) => ({ status: 200, body: completion(id === 'gpt-4o-mini' ? '{"n":"many"}' : '{"n": 3}') }));
    const events: AttemptEvent[] = [];

    const result = await createModelRegistry(config(), { fetch })
      .route(['gpt-4o-mini', 'smart'])
      .generate({ messages: [{ role: 'user', content: 'count' }], responseFormat: { type: 'json', schema }, onAttempt: (e) => events.push(e) });

    expect(result).toMatchObject({ object: { n: 3 }, tier: 1, model: 'smart' });
    expect(calls).toEqual(['gpt-4o-mini', 'gpt-4o-mini', 'gpt-4o']);
    expect(events.map((e) => [e.model, e.outcome, e.tier, e.reask ?? false])).toEqual([
      ['gpt-4o-mini', 'invalid_output', 0, false],
      ['gpt-4o-mini', 'invalid_output', 0, true],
      ['smart', 'ok', 1, false],
    ]);
    expect(events[2].escalationReason).toMatch(/^tier 0 \(gpt-4o-mini\): invalid_output: /);
  });

  it('fails the route with every tier’s reason', async () => {
    const { fetch } = fakeFetch(() => ({ status: 401, body: { error: { message: 'bad key' } } }));
    const error = await createModelRegistry(config(), { fetch })
      .route(['gpt-4o-mini', 'smart'])
      .generate({ messages: [] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AllTiersFailedError);
    expect((error as AllTiersFailedError).failures.map((f) => [f.model, f.status])).toEqual([
      ['gpt-4o-mini', 401],
      ['smart', 401],
    ]);
  });

  it('applies the per-attempt timeout', async () => {
    const fetch = ((_url: string, init?: RequestInit) =>
      new Promise((_, reject) => init?.signal?.addEventListener('abort', () => reject(init.signal?.reason)))) as unknown as typeof globalThis.fetch;
    const registry = createModelRegistry(config({ retries: 0, attempt_timeout_ms: 30 }), { fetch });
    await expect(registry.tier('smart').generate({ messages: [] })).rejects.toMatchObject({ outcome: 'timeout', retryable: true });
  });

  it('loads a local model on first use, not when the tier is built, and closes it', async () => {
    const close = vi.fn(async () => undefined);
    const local: LocalModel = {
      provider: 'local',
      model: 'qwen',
      close,
      generate: async () => ({ text: 'local', usage: { inputTokens: 1, outputTokens: 1 }, finishReason: 'stop', model: 'qwen', provider: 'local' }),
    };
    const loadLocalModel = vi.fn(async () => local);
    const registry = createModelRegistry(config(), { loadLocalModel });

    const port = registry.tier('qwen');
    expect(loadLocalModel).not.toHaveBeenCalled();
    await port.generate({ messages: [] });
    await port.generate({ messages: [] });
    expect(loadLocalModel).toHaveBeenCalledTimes(1);
    expect(loadLocalModel).toHaveBeenCalledWith({ name: 'qwen', provider: config().providers.local, path: '/models/qwen.gguf' });

    await registry.close();
    expect(close).toHaveBeenCalledTimes(1);
  });

  it('reports a local model that cannot load as a non-retryable provider error', async () => {
    const loadLocalModel = vi.fn(async () => {
      throw new Error('not a GGUF file');
    });
    const error = await createModelRegistry(config(), { loadLocalModel })
      .tier('qwen')
      .generate({ messages: [] })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelCallError);
    expect(error).toMatchObject({ outcome: 'provider_error', retryable: false });
    expect((error as Error).message).toContain('not a GGUF file');
    expect(loadLocalModel).toHaveBeenCalledTimes(1);
  });
});
