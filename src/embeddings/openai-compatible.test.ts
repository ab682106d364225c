import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderConfig } from '../config/config.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { createOpenAICompatibleEmbedder } from './openai-compatible.js';
import { EmbeddingError } from './spec.js';

const KEY = 'sk-test-0123456789abcdef';

function providerFor(mock: MockLlm, extra: Partial<ProviderConfig> = {}): ProviderConfig {
  return { name: 'mock', type: 'openai-compatible', base_url: mock.url, api_key: KEY, native_structured_output: true, ...extra };
}

/** A fetch that records request bodies and can add headers (the mock reads x-mock-fault). */
function recordingFetch(headers: Record<string, string> = {}) {
  const bodies: Array<{ input: string[]; model: string }> = [];
  const fetchFn: typeof fetch = (input, init) => {
    bodies.push(JSON.parse(String(init?.body)) as { input: string[]; model: string });
    return fetch(input, { ...init, headers: { ...(init?.headers as Record<string, string>), ...headers } });
  };
  return { fetch: fetchFn, bodies };
}

async function rejection(promise: Promise<unknown>): Promise<EmbeddingError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(EmbeddingError);
  return error as EmbeddingError;
}

describe('createOpenAICompatibleEmbedder', () => {
  let mock: MockLlm;
  beforeAll(async () => {
    mock = await startMockLlm({ embeddingDimensions: 24 });
  });
  afterAll(() => mock.close());

  it('batches requests, keeps order, normalises vectors and sums billed tokens', async () => {
    const recorder = recordingFetch();
    const embedder = createOpenAICompatibleEmbedder({ provider: providerFor(mock), modelId: 'emb-1', batchSize: 2, fetch: recorder.fetch });
    const texts = ['alpha beta', 'gamma', 'delta epsilon zeta', 'eta', 'theta'];
    const result = await embedder.embed({ texts, kind: 'document' });
    expect(recorder.bodies.map((body) => body.input)).toEqual([['alpha beta', 'gamma'], ['delta epsilon zeta', 'eta'], ['theta']]);
    expect(recorder.bodies.every((body) => body.model === 'emb-1')).toBe(true);
    expect(result.vectors).toHaveLength(5);
    for (const vector of result.vectors) {
      expect(vector).toHaveLength(24);
      expect(Math.hypot(...vector)).toBeCloseTo(1, 5);
    }
    // The mock bills ceil(chars / 4) per text.
    expect(result.tokens).toBe(texts.reduce((sum, text) => sum + Math.ceil(text.length / 4), 0));
    const [gamma] = (await embedder.embed({ texts: ['gamma'], kind: 'query' })).vectors;
    expect(Array.from(gamma)).toEqual(Array.from(result.vectors[1]));
  });

  it('discovers its dimensions from the first response, then names them in its identity', async () => {
    const embedder = createOpenAICompatibleEmbedder({ provider: providerFor(mock), modelId: 'emb-1' });
    expect(embedder.dimensions).toBe(0);
    await embedder.ready();
    expect(embedder.dimensions).toBe(24);
    expect(embedder.id).toBe('openai-compatible:mock:emb-1:24');
    const configured = createOpenAICompatibleEmbedder({ provider: providerFor(mock), modelId: 'emb-1', dimensions: 24 });
    expect(configured.id).toBe('openai-compatible:mock:emb-1:24');
  });

  it('fails, not retryably, when the server changes vector length under a fixed identity', async () => {
    const embedder = createOpenAICompatibleEmbedder({ provider: providerFor(mock), modelId: 'emb-1', dimensions: 1536 });
    const error = await rejection(embedder.embed({ texts: ['x'], kind: 'query' }));
    expect(error.retryable).toBe(false);
    expect(error.message).toMatch(/24-dimensional.*1536/);

    const other = await startMockLlm({ embeddingDimensions: 8 });
    try {
      const discovered = createOpenAICompatibleEmbedder({ provider: providerFor(mock), modelId: 'emb-1' });
      await discovered.embed({ texts: ['x'], kind: 'query' });
      // Same configuration, another server behind it: its 8-dimensional vectors are refused.
      const moved = createOpenAICompatibleEmbedder({ provider: providerFor(other), modelId: 'emb-1', dimensions: discovered.dimensions });
      expect((await rejection(moved.embed({ texts: ['x'], kind: 'query' }))).retryable).toBe(false);
    } finally {
      await other.close();
    }
  });

  it('maps 429 and 5xx to retryable errors, with the wait the server asked for', async () => {
    const limited = createOpenAICompatibleEmbedder({ provider: providerFor(mock), modelId: 'e', fetch: recordingFetch({ 'x-mock-fault': '429' }).fetch });
    const rateError = await rejection(limited.embed({ texts: ['x'], kind: 'query' }));
    expect(rateError.retryable).toBe(true);
    expect(rateError.message).toContain('HTTP 429 (retry after 1000 ms)');

    const failing = createOpenAICompatibleEmbedder({ provider: providerFor(mock), modelId: 'e', fetch: recordingFetch({ 'x-mock-fault': '5xx' }).fetch });
    expect((await rejection(failing.embed({ texts: ['x'], kind: 'query' }))).retryable).toBe(true);

    const malformed = createOpenAICompatibleEmbedder({
      provider: providerFor(mock),
      modelId: 'e',
      fetch: recordingFetch({ 'x-mock-fault': 'malformed' }).fetch,
    });
    const parseError = await rejection(malformed.embed({ texts: ['x'], kind: 'query' }));
    expect(parseError.retryable).toBe(true);
    expect(parseError.message).toContain('unreadable response');
  });

  it('maps network failures to retryable errors', async () => {
    const closed = await startMockLlm();
    const url = closed.url;
    await closed.close();
    const embedder = createOpenAICompatibleEmbedder({ provider: { ...providerFor(mock), base_url: url }, modelId: 'e' });
    const error = await rejection(embedder.embed({ texts: ['x'], kind: 'query' }));
    expect(error.retryable).toBe(true);
    expect(error.message).toContain('could not reach mock/e');
  });

  it('fails 401 without retrying and without the API key in the message', async () => {
    const leaky: typeof fetch = async () =>
      new Response(JSON.stringify({ error: { message: `Incorrect API key provided: ${KEY}`, type: 'invalid_request_error', code: 'invalid_api_key' } }), {
        status: 401,
        headers: { 'content-type': 'application/json' },
      });
    const embedder = createOpenAICompatibleEmbedder({ provider: providerFor(mock), modelId: 'e', fetch: leaky });
    const error = await rejection(embedder.embed({ texts: ['x'], kind: 'query' }));
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('HTTP 401');
    expect(error.message).not.toContain(KEY);
    expect(error.message).not.toContain('0123456789');
  });

  it('maps other 4xx to non-retryable errors and scrubs key-like text', async () => {
    const badRequest: typeof fetch = async () =>
      new Response(JSON.stringify({ error: { message: `input too long for key ${KEY}`, type: 'invalid_request_error' } }), { status: 400 });
    const embedder = createOpenAICompatibleEmbedder({ provider: providerFor(mock), modelId: 'e', fetch: badRequest });
    const error = await rejection(embedder.embed({ texts: ['x'], kind: 'query' }));
    expect(error.retryable).toBe(false);
    expect(error.message).toContain('HTTP 400');
    expect(error.message).not.toContain(KEY);
  });

  it('rejects a response with the wrong number of embeddings', async () => {
    const short: typeof fetch = async () =>
      new Response(JSON.stringify({ object: 'list', data: [{ object: 'embedding', index: 0, embedding: [1, 0] }], model: 'e' }), {
        status: 200,
        headers: { 'content-type': 'application/json' },
      });
    const embedder = createOpenAICompatibleEmbedder({ provider: providerFor(mock), modelId: 'e', fetch: short });
    const error = await rejection(embedder.embed({ texts: ['a', 'b'], kind: 'document' }));
    expect(error.message).toContain('1 embeddings for 2 texts');
  });

  it('stops on abort with the caller’s reason, not a provider error', async () => {
    const hanging = createOpenAICompatibleEmbedder({ provider: providerFor(mock), modelId: 'e', fetch: recordingFetch({ 'x-mock-fault': 'hang' }).fetch });
    const controller = new AbortController();
    setTimeout(() => controller.abort(new Error('caller gave up')), 50);
    await expect(hanging.embed({ texts: ['x'], kind: 'query', signal: controller.signal })).rejects.toThrow('caller gave up');
  });

  it('checks its options', () => {
    expect(() => createOpenAICompatibleEmbedder({ provider: { ...providerFor(mock), base_url: undefined }, modelId: 'e' })).toThrow(/base_url/);
    expect(() => createOpenAICompatibleEmbedder({ provider: providerFor(mock), modelId: 'e', batchSize: 0 })).toThrow(RangeError);
  });
});
