import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockLlm, type MockLlm } from './index.js';

interface EmbeddingsBody {
  object: string;
  model: string;
  data: Array<{ object: string; index: number; embedding: number[] }>;
  usage: { prompt_tokens: number; total_tokens: number };
}

function embed(mock: MockLlm, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(`${mock.url}/embeddings`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
}

const cosine = (a: number[], b: number[]) => a.reduce((sum, x, i) => sum + x * b[i], 0);

describe('mock-llm POST /v1/embeddings', () => {
  let mock: MockLlm;
  beforeAll(async () => {
    mock = await startMockLlm({ embeddingDimensions: 16, retryAfterSeconds: 3 });
  });
  afterAll(() => mock.close());

  it('answers in the OpenAI embeddings format: one unit vector per input, in order, with usage', async () => {
    const response = await embed(mock, { model: 'emb-test', input: ['red apples', 'green pears and red apples', ''] });
    expect(response.status).toBe(200);
    const body = (await response.json()) as EmbeddingsBody;
    expect(body).toMatchObject({ object: 'list', model: 'emb-test', usage: { prompt_tokens: 3 + 7, total_tokens: 10 } });
    expect(body.data.map((item) => [item.object, item.index])).toEqual([
      ['embedding', 0],
      ['embedding', 1],
      ['embedding', 2],
    ]);
    for (const { embedding } of body.data) {
      expect(embedding).toHaveLength(16);
      expect(cosine(embedding, embedding)).toBeCloseTo(1, 4);
    }
  });

  it('is deterministic, and texts sharing words are closer than unrelated ones', async () => {
    const input = ['the cat sat on the mat', 'a cat sat on a mat', 'quarterly revenue grew'];
    const first = (await (await embed(mock, { input })).json()) as EmbeddingsBody;
    const again = (await (await embed(mock, { input })).json()) as EmbeddingsBody;
    expect(again.data).toEqual(first.data);
    const [cat, cat2, revenue] = first.data.map((item) => item.embedding);
    expect(cosine(cat, cat2)).toBeGreaterThan(cosine(cat, revenue) + 0.3);
  });

  it('accepts a single string and honours a requested dimensions', async () => {
    const body = (await (await embed(mock, { input: 'hello', dimensions: 5 })).json()) as EmbeddingsBody;
    expect(body.data).toHaveLength(1);
    expect(body.data[0].embedding).toHaveLength(5);
  });

  it('rejects bodies without string input as an OpenAI 400', async () => {
    for (const bad of ['{"input": [', { input: [] }, { input: [1, 2] }, { model: 'x' }, { input: 'x', dimensions: 0 }]) {
      const response = await embed(mock, bad);
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    }
  });

  it('injects 5xx, 429 with Retry-After and malformed JSON on demand', async () => {
    const server = await embed(mock, { input: ['x'] }, { 'x-mock-fault': '5xx' });
    expect(server.status).toBeGreaterThanOrEqual(500);
    const limited = await embed(mock, { input: ['x'] }, { 'x-mock-fault': '429' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('3');
    const malformed = await embed(mock, { input: ['x'] }, { 'x-mock-fault': 'malformed' });
    expect(malformed.status).toBe(200);
    await expect(malformed.json()).rejects.toThrow();
  });

  it('hangs until the client gives up', async () => {
    const started = Date.now();
    await expect(embed(mock, { input: ['x'] }, { 'x-mock-fault': 'hang' }, AbortSignal.timeout(150))).rejects.toThrow();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});

describe('mock-llm embeddings faults from the seeded draw', () => {
  it('shares the chat draw: the same seed replays the same faults, counted in the stats', async () => {
    const outcomes = async (mock: MockLlm) => {
      const statuses: number[] = [];
      for (let i = 0; i < 30; i++) {
        const response = await embed(mock, { input: [`text ${i}`] });
        statuses.push(response.status);
        await response.text();
      }
      return statuses;
    };
    const options = { seed: 7, faults: { error5xx: 0.2, rateLimit: 0.2, schemaViolation: 0.2 } };
    const first = await startMockLlm(options);
    const second = await startMockLlm(options);
    try {
      const statuses = await outcomes(first);
      expect(await outcomes(second)).toEqual(statuses);
      expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s >= 500).length).toBeGreaterThan(0);
      const stats = first.stats();
      expect(stats).toMatchObject({ total: 30, embeddings: 30 });
      // A content fault that embeddings cannot show answers normally and counts as ok.
      expect(stats.outcomes.schemaViolation).toBe(0);
      expect(stats.outcomes.ok).toBe(statuses.filter((s) => s === 200).length);
    } finally {
      await first.close();
      await second.close();
    }
  });

  it('rejects a bad embeddingDimensions option', async () => {
    await expect(startMockLlm({ embeddingDimensions: 0 })).rejects.toThrow(/embeddingDimensions/);
  });
});
