import { Ajv } from 'ajv';
import { Agent, request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMockLlm, type MockLlm } from './index.js';

const ajv = new Ajv({ strict: false });
const schema = {
  type: 'object',
  properties: {
    category: { type: 'string', enum: ['billing', 'technical'] },
    priority: { type: 'integer', minimum: 1, maximum: 5 },
    summary: { type: 'string' },
  },
  required: ['category', 'priority', 'summary'],
  additionalProperties: false,
};
const validTicket = ajv.compile(schema);
const structured = {
  model: 'gpt-test',
  messages: [{ role: 'user', content: 'My invoice is wrong' }],
  response_format: { type: 'json_schema', json_schema: { name: 'ticket', schema } },
};

interface Completion {
  model: string;
  object: string;
  choices: Array<{ message: { role: string; content: string }; finish_reason: string }>;
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

async function chat(mock: MockLlm, body: unknown, headers: Record<string, string> = {}, signal?: AbortSignal): Promise<Response> {
  return fetch(`${mock.url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal,
  });
}

async function content(response: Response): Promise<{ text: string; finish: string }> {
  const body = (await response.json()) as Completion;
  return { text: body.choices[0].message.content, finish: body.choices[0].finish_reason };
}

function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

describe('startMockLlm', () => {
  let mock: MockLlm;
  beforeAll(async () => {
    mock = await startMockLlm({ retryAfterSeconds: 7, models: ['m1', 'm2'] });
  });
  afterAll(() => mock.close());

  it('answers in the OpenAI chat completion format, echoing the model and estimating usage', async () => {
    const response = await chat(mock, { model: 'gpt-echo', messages: [{ role: 'user', content: 'x'.repeat(10) }] });
    expect(response.status).toBe(200);
    const body = (await response.json()) as Completion;
    expect(body).toMatchObject({ object: 'chat.completion', model: 'gpt-echo', choices: [{ message: { role: 'assistant' }, finish_reason: 'stop' }] });
    const completionTokens = Math.ceil(body.choices[0].message.content.length / 4);
    expect(body.usage).toEqual({ prompt_tokens: 3, completion_tokens: completionTokens, total_tokens: 3 + completionTokens });
  });

  it('returns a schema-valid instance for response_format json_schema', async () => {
    const { text, finish } = await content(await chat(mock, structured));
    expect(finish).toBe('stop');
    expect(validTicket(JSON.parse(text))).toBe(true);
  });

  it('finds a JSON Schema written into the system prompt', async () => {
    const system = `Classify the ticket. Reply with JSON matching this schema: ${JSON.stringify(schema)} and nothing else.`;
    const { text } = await content(
      await chat(mock, {
        model: 'm',
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: 'hi' },
        ],
      }),
    );
    expect(validTicket(JSON.parse(text))).toBe(true);
    const loose = await content(await chat(mock, { messages: [{ role: 'user', content: 'hi' }], response_format: { type: 'json_object' } }));
    expect(JSON.parse(loose.text)).toBeTypeOf('object');
  });

  it('uses the scripted respond() when given', async () => {
    const scripted = await startMockLlm({ respond: (request) => ({ echoed: request.messages.length }) });
    try {
      expect(JSON.parse((await content(await chat(scripted, { messages: [{ role: 'user', content: 'a' }] }))).text)).toEqual({ echoed: 1 });
    } finally {
      await scripted.close();
    }
  });

  it('injects a 5xx with an OpenAI-style error body', async () => {
    const statuses = [];
    for (let i = 0; i < 3; i++) {
      const response = await chat(mock, structured, { 'x-mock-fault': '5xx' });
      statuses.push(response.status);
      expect(((await response.json()) as { error: { type: string } }).error.type).toBe('server_error');
    }
    expect(statuses.sort()).toEqual([500, 502, 503]);
  });

  it('injects a 429 carrying Retry-After', async () => {
    const response = await chat(mock, structured, { 'x-mock-fault': '429' });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('7');
    expect(((await response.json()) as { error: { code: string } }).error.code).toBe('rate_limit_exceeded');
  });

  it('rotates malformed JSON from repairable to hopeless', async () => {
    const texts = [];
    for (let i = 0; i < 4; i++) texts.push((await content(await chat(mock, structured, { 'x-mock-fault': 'malformed' }))).text);
    for (const text of texts) expect(parses(text)).toBe(false);
    expect(texts[0]).toMatch(/,}$/);
    expect(texts[1]).toMatch(/^\{category:/);
    expect(texts[2]).toMatch(/^```json\n[\s\S]*\n```\n\S/);
    expect(texts[3]).toBe('{"category": "billing", "priority":');
  });

  it('injects schema violations that still parse', async () => {
    for (let i = 0; i < 2; i++) {
      const { text } = await content(await chat(mock, structured, { 'x-mock-fault': 'schema' }));
      expect(validTicket(JSON.parse(text))).toBe(false);
    }
  });

  it('truncates valid JSON in half with finish_reason length', async () => {
    const full = (await content(await chat(mock, structured))).text;
    const { text, finish } = await content(await chat(mock, structured, { 'x-mock-fault': 'truncated' }));
    expect(finish).toBe('length');
    expect(text).toBe(full.slice(0, Math.floor(full.length / 2)));
    expect(parses(text)).toBe(false);
  });

  it('hangs until the client aborts, while still serving other requests', async () => {
    const controller = new AbortController();
    const hung = chat(mock, structured, { 'x-mock-fault': 'hang' }, controller.signal);
    expect((await chat(mock, structured)).status).toBe(200);
    setTimeout(() => controller.abort(), 30);
    await expect(hung).rejects.toThrow(/abort/i);
    expect((await chat(mock, structured)).status).toBe(200);
  });

  it('answers a hang after hangMs when configured, and honours x-mock-latency-ms', async () => {
    const slow = await startMockLlm({ hangMs: 40 });
    try {
      let started = Date.now();
      expect((await chat(slow, structured, { 'x-mock-fault': 'hang' })).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(35);
      started = Date.now();
      expect((await chat(slow, structured, { 'x-mock-latency-ms': '40' })).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(35);
    } finally {
      await slow.close();
    }
  });

  it('streams chat.completion.chunk events ending in [DONE], with usage when asked', async () => {
    const whole = (await content(await chat(mock, structured))).text;
    const response = await chat(mock, { ...structured, stream: true, stream_options: { include_usage: true } });
    expect(response.headers.get('content-type')).toBe('text/event-stream');
    const events = (await response.text())
      .split('\n\n')
      .filter(Boolean)
      .map((e) => e.replace(/^data: /, ''));
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e));
    for (const chunk of chunks) expect(chunk).toMatchObject({ object: 'chat.completion.chunk', model: 'gpt-test' });
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(whole);
    expect(chunks.at(-2).choices[0].finish_reason).toBe('stop');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { completion_tokens: Math.ceil(whole.length / 4) } });
  });

  it('cuts replies at max_tokens with finish_reason length', async () => {
    const { text, finish } = await content(await chat(mock, { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }));
    expect(finish).toBe('length');
    expect(text).toHaveLength(8);
  });

  it('lists models, rejects bad bodies and unknown paths OpenAI-style', async () => {
    const models = (await (await fetch(`${mock.url}/models`)).json()) as { data: Array<{ id: string }> };
    expect(models.data.map((m) => m.id)).toEqual(['m1', 'm2']);
    const bad = await chat(mock, '{"messages": [');
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { type: string } }).error.type).toBe('invalid_request_error');
    expect((await chat(mock, structured, { 'x-mock-fault': 'explode' })).status).toBe(400);
    const missing = await fetch(`${mock.url}/audio/speech`, { method: 'POST', body: '{}' });
    expect(missing.status).toBe(404);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toContain('/v1/audio/speech');
  });

  it('counts outcomes and resets over HTTP', async () => {
    await fetch(mock.url.replace('/v1', '/_mock/reset'), { method: 'POST' });
    await chat(mock, structured);
    await chat(mock, structured, { 'x-mock-fault': '429' });
    await chat(mock, 'not json');
    const stats = await (await fetch(mock.url.replace('/v1', '/_mock/stats'))).json();
    expect(stats).toEqual(mock.stats());
    expect(stats).toMatchObject({ total: 3, outcomes: { ok: 1, rateLimit: 1, badRequest: 1, error5xx: 0 } });
    mock.reset();
    expect(mock.stats().total).toBe(0);
  });

  it('refuses fault rates that sum past 1', async () => {
    await expect(startMockLlm({ faults: { error5xx: 0.6, rateLimit: 0.5 } })).rejects.toThrow(/sum/);
  });
});

describe('seeded fault rates', () => {
  const faults = { error5xx: 0.1, rateLimit: 0.1, malformed: 0.1, schemaViolation: 0.05, truncated: 0.05 };

  // node:http with keep-alive is ~4x quicker per request than fetch, which keeps this suite fast.
  const agent = new Agent({ keepAlive: true });
  afterAll(() => agent.destroy());
  const payload = JSON.stringify(structured);

  function post(mock: MockLlm): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(`${mock.url}/chat/completions`, { method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve(`${res.statusCode}:${text.replace(/"created":\d+/, '')}`));
      });
      req.on('error', reject);
      req.end(payload);
    });
  }

  async function runOnce(mock: MockLlm, n: number): Promise<string[]> {
    const seen: string[] = [];
    for (let i = 0; i < n; i++) seen.push(await post(mock));
    return seen;
  }

  it('lands within a few % of the configured rates, identically for the same seed', async () => {
    const first = await startMockLlm({ seed: 42, faults });
    const second = await startMockLlm({ seed: 42, faults });
    try {
      // Each server sees its own sequential stream, so running both at once keeps the comparison fair.
      const [a, b] = await Promise.all([runOnce(first, 2000), runOnce(second, 2000)]);
      expect(b).toEqual(a);
      const { total, outcomes } = first.stats();
      expect(total).toBe(2000);
      for (const [fault, rate] of Object.entries(faults)) {
        expect(Math.abs(outcomes[fault as keyof typeof outcomes] / total - rate)).toBeLessThan(0.025);
      }
      first.reset();
      expect(await runOnce(first, 200)).toEqual(a.slice(0, 200));
      const other = await startMockLlm({ seed: 43, faults });
      try {
        expect(await runOnce(other, 200)).not.toEqual(a.slice(0, 200));
      } finally {
        await other.close();
      }
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });
});
