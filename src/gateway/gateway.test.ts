import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { renderGroundedContext } from '../grounding/grounded-prompt.js';
import type { GenerateRequest, ModelPort } from '../models/spec.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { gatewayConfig, gatewayUnderTest, recordingLimits, sseData, type GatewayUnderTest } from './test-fixtures.js';

const AUTH = { authorization: 'Bearer test-key' };
const chat = (extra: Record<string, unknown> = {}) => ({
  model: 'healthy-model',
  messages: [
    { role: 'system', content: 'You answer briefly.' },
    { role: 'user', content: 'Say hello to the gateway.' },
  ],
  max_tokens: 100,
  ...extra,
});

/** A tiny upstream whose behaviour a test scripts per request. */
async function scriptedUpstream(
  handler: (req: IncomingMessage, res: ServerResponse, body: string) => void,
): Promise<{ url: string; server: Server; seen: string[] }> {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => {
      seen.push(body);
      handler(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, server, seen };
}

let healthy: MockLlm;
let failing: MockLlm;
beforeAll(async () => {
  healthy = await startMockLlm({ seed: 7, respond: () => 'Hello from the mock model, gateway!' });
  failing = await startMockLlm({ seed: 7, faults: { error5xx: 1 } });
});
afterAll(async () => {
  await healthy.close();
  await failing.close();
});

let gw: GatewayUnderTest | undefined;
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});

describe('POST /v1/chat/completions', () => {
  it('passes the body through to an OpenAI-compatible provider and records the run, usage and cost', async () => {
    gw = await gatewayUnderTest(gatewayConfig({ healthy: healthy.url }));
    const response = await gw.server.inject({ method: 'POST', url: '/v1/chat/completions', headers: AUTH, payload: chat({ temperature: 0.2 }) });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: 'healthy-upstream-id',
      choices: [{ message: { role: 'assistant', content: 'Hello from the mock model, gateway!' }, finish_reason: 'stop' }],
    });
    expect(body.usage.prompt_tokens).toBeGreaterThan(0);

    const [run] = gw.recorded.runs;
    expect(response.headers['x-groundwork-run-id']).toBe(run.id);
    expect(run).toMatchObject({
      tenantId: 'tenant-a',
      keyId: 'key_test',
      taskName: 'chat.completions',
      taskVersion: 'gateway',
      status: 'ok',
      model: 'healthy-model',
      degraded: false,
    });
    expect(run.input).toMatchObject({ model: 'healthy-model', temperature: 0.2 });
    expect(run.output).toEqual({ message: { role: 'assistant', content: 'Hello from the mock model, gateway!' }, finish_reason: 'stop' });
    expect(run.inputTokens).toBe(body.usage.prompt_tokens);
    expect(run.outputTokens).toBe(body.usage.completion_tokens);
    expect(run.costUsd).toBeCloseTo((body.usage.prompt_tokens * 1 + body.usage.completion_tokens * 2) / 1e6, 12);
    expect(run.attempts).toEqual([
      expect.objectContaining({ seq: 1, tier: 0, model: 'healthy-model', provider: 'healthy', outcome: 'ok', tokensEstimated: false }),
    ]);
  });

  it('reserves the maximum before calling the model and settles the actual usage after', async () => {
    gw = await gatewayUnderTest(gatewayConfig({ healthy: healthy.url }));
    const response = await gw.server.inject({ method: 'POST', url: '/v1/chat/completions', headers: AUTH, payload: chat({ max_tokens: 1000 }) });
    await gw.limits.idle();
    const usage = response.json().usage;
    expect(gw.limits.calls).toHaveLength(1);
    const [call] = gw.limits.calls;
    // prompt estimate + max_tokens, priced at the route's most expensive model
    expect(call.maximum.tokens).toBeGreaterThan(1000);
    expect(call.maximum.tokens).toBeLessThan(1100);
    expect(call.maximum.usd).toBeCloseTo(((call.maximum.tokens - 1000) * 1 + 1000 * 2) / 1e6, 12);
    expect(call.settled).toEqual({ tokens: usage.prompt_tokens + usage.completion_tokens, usd: (usage.prompt_tokens + usage.completion_tokens * 2) / 1e6 });
  });

  it('refuses a call over a hard quota before any model is called', async () => {
    gw = await gatewayUnderTest(gatewayConfig({ healthy: healthy.url }), { limits: recordingLimits({ refuse: true }) });
    healthy.reset();
    const response = await gw.server.inject({ method: 'POST', url: '/v1/chat/completions', headers: AUTH, payload: chat() });
    expect(response.statusCode).toBe(429);
    expect(response.json().error.code).toBe('QUOTA_EXCEEDED');
    expect(healthy.stats().total).toBe(0);
    expect(gw.recorded.runs[0]).toMatchObject({ status: 'error', error: { code: 'QUOTA_EXCEEDED' }, attempts: [] });
  });

  it('flags a soft quota overrun on the response', async () => {
    gw = await gatewayUnderTest(gatewayConfig({ healthy: healthy.url }), { limits: recordingLimits({ overSoft: true }) });
    const response = await gw.server.inject({ method: 'POST', url: '/v1/chat/completions', headers: AUTH, payload: chat() });
    expect(response.statusCode).toBe(200);
    expect(response.headers['x-groundwork-quota']).toBe('soft-exceeded');
  });

  it('streams server-sent events and drops the usage chunk the client did not ask for', async () => {
    gw = await gatewayUnderTest(gatewayConfig({ healthy: healthy.url }));
    const response = await gw.server.inject({ method: 'POST', url: '/v1/chat/completions', headers: AUTH, payload: chat({ stream: true }) });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(response.headers['x-groundwork-run-id']).toBe(gw.recorded.runs[0].id);
    const events = sseData(response.body);
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1) as Array<{ choices: Array<{ delta: { content?: string } }> }>;
    expect(chunks.every((c) => c.choices.length > 0)).toBe(true);
    expect(chunks.map((c) => c.choices[0].delta.content ?? '').join('')).toBe('Hello from the mock model, gateway!');

    const [run] = gw.recorded.runs;
    expect(run).toMatchObject({ status: 'ok', output: { message: { role: 'assistant', content: 'Hello from the mock model, gateway!' } } });
    // Usage came from the upstream's usage chunk (the gateway asked for it), not an estimate.
    expect(run.attempts[0].tokensEstimated).toBe(false);
    expect(run.outputTokens).toBeGreaterThan(0);
  });

  it('keeps the usage chunk when the client asked for it', async () => {
    gw = await gatewayUnderTest(gatewayConfig({ healthy: healthy.url }));
    const response = await gw.server.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: AUTH,
      payload: chat({ stream: true, stream_options: { include_usage: true } }),
    });
    const events = sseData(response.body) as Array<{ choices?: unknown[]; usage?: { prompt_tokens: number } } | string>;
    const usageChunk = events.find((e) => typeof e === 'object' && e.choices?.length === 0);
    expect(usageChunk).toMatchObject({ usage: { prompt_tokens: gw.recorded.runs[0].inputTokens } });
  });

  it('fails over to the next tier before the first byte and records why', async () => {
    const config = gatewayConfig({ failing: failing.url, healthy: healthy.url }, { routes: { smart: ['failing-model', 'healthy-model'] } });
    gw = await gatewayUnderTest(config);
    for (const stream of [false, true]) {
      const response = await gw.server.inject({ method: 'POST', url: '/v1/chat/completions', headers: AUTH, payload: chat({ model: 'smart', stream }) });
      expect(response.statusCode).toBe(200);
      expect(response.body).toContain(stream ? 'data: [DONE]' : 'Hello from the mock model');
    }
    for (const run of gw.recorded.runs) {
      expect(run).toMatchObject({ status: 'ok', model: 'healthy-model', degraded: true });
      expect(run.attempts.map((a) => [a.tier, a.model, a.outcome])).toEqual([
        [0, 'failing-model', 'provider_error'],
        [1, 'healthy-model', 'ok'],
      ]);
      expect(run.attempts[0].error).toMatch(/HTTP 50\d/);
      expect(run.attempts[1].escalationReason).toMatch(/^tier 0 \(failing-model\): provider_error/);
    }
  });

  it('fails over when a provider cannot be reached, and answers 503 MODEL_UNAVAILABLE (as task runs do) with every attempt when no tier can', async () => {
    const closed = await scriptedUpstream(() => {});
    const deadUrl = closed.url;
    await new Promise((resolve) => closed.server.close(resolve));
    const config = gatewayConfig(
      { dead: deadUrl, failing: failing.url, healthy: healthy.url },
      { routes: { rescue: ['dead-model', 'healthy-model'], doomed: ['dead-model', 'failing-model'] } },
    );
    gw = await gatewayUnderTest(config);
    const rescued = await gw.server.inject({ method: 'POST', url: '/v1/chat/completions', headers: AUTH, payload: chat({ model: 'rescue' }) });
    expect(rescued.statusCode).toBe(200);

    const doomed = await gw.server.inject({ method: 'POST', url: '/v1/chat/completions', headers: AUTH, payload: chat({ model: 'doomed' }) });
    expect(doomed.statusCode).toBe(503);
    const error = doomed.json().error;
    expect(error.code).toBe('MODEL_UNAVAILABLE');
    expect(error.run_id).toBe(gw.recorded.runs[1].id);
    expect(error.details.attempts.map((a: { model: string; outcome: string }) => [a.model, a.outcome])).toEqual([
      ['dead-model', 'provider_error'],
      ['failing-model', 'provider_error'],
    ]);
    expect(JSON.stringify(error)).not.toContain('secret-key');
    await gw.limits.idle();
    // Nothing was spent: the reservation is given back.
    expect(gw.limits.calls[1]).toMatchObject({ released: true });
    expect(gw.recorded.runs[1]).toMatchObject({ status: 'error', error: { code: 'MODEL_UNAVAILABLE' } });
  });

  it('sends the provider its own model id and API key, never the client key', async () => {
    const upstream = await scriptedUpstream((req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'x',
          object: 'chat.completion',
          created: 1,
          model: 'm',
          choices: [{ index: 0, message: { role: 'assistant', content: req.headers.authorization }, finish_reason: 'stop' }],
        }),
      );
    });
    gw = await gatewayUnderTest(gatewayConfig({ scripted: upstream.url }));
    const response = await gw.server.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: AUTH,
      payload: chat({ model: 'scripted-model', user: 'u-1' }),
    });
    expect(response.json().choices[0].message.content).toBe('Bearer sk-scripted-secret-key');
    expect(JSON.parse(upstream.seen[0])).toMatchObject({ model: 'scripted-upstream-id', user: 'u-1', max_tokens: 100 });
    // No usage from the provider: estimated.
    expect(gw.recorded.runs[0].attempts[0].tokensEstimated).toBe(true);
    await new Promise((resolve) => upstream.server.close(resolve));
  });

  it('ends a stream that breaks after its first byte with an error event and no [DONE]', async () => {
    const upstream = await scriptedUpstream((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const chunk = (content: string) =>
        `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', created: 1, model: 'm', choices: [{ index: 0, delta: { content }, finish_reason: null }] })}\n\n`;
      res.write(chunk('Hello, '));
      setTimeout(() => {
        res.write(chunk('wor'));
        setTimeout(() => res.socket?.destroy(), 20);
      }, 20);
    });
    const config = gatewayConfig({ scripted: upstream.url, healthy: healthy.url }, { routes: { flaky: ['scripted-model', 'healthy-model'] } });
    gw = await gatewayUnderTest(config);
    const response = await gw.server.inject({ method: 'POST', url: '/v1/chat/completions', headers: AUTH, payload: chat({ model: 'flaky', stream: true }) });
    expect(response.statusCode).toBe(200);
    const events = sseData(response.body) as Array<Record<string, unknown> | string>;
    expect(events).not.toContain('[DONE]');
    const last = events.at(-1) as { error: { code: string; message: string } };
    expect(last.error.code).toBe('MODEL_UNAVAILABLE');
    expect(last.error.message).toMatch(/stream broke after it started/);
    // Committed to the first tier: no failover after the first byte.
    expect(response.body).not.toContain('Hello from the mock model');
    const [run] = gw.recorded.runs;
    expect(run).toMatchObject({ status: 'error', error: { code: 'MODEL_UNAVAILABLE' }, output: { message: { content: 'Hello, wor' } } });
    expect(run.attempts).toEqual([expect.objectContaining({ tier: 0, outcome: 'provider_error', tokensEstimated: true })]);
    await new Promise((resolve) => upstream.server.close(resolve));
  });

  it('aborts the upstream call when the client disconnects', async () => {
    let upstreamClosed!: () => void;
    const closedUpstream = new Promise<void>((resolve) => (upstreamClosed = resolve));
    const upstream = await scriptedUpstream((req) => {
      req.socket.once('close', () => upstreamClosed()); // never answers
    });
    gw = await gatewayUnderTest(gatewayConfig({ scripted: upstream.url }, { resilience: { attempt_timeout_ms: 30_000 } as never }));
    const base = await gw.listen();
    const abort = new AbortController();
    const pending = fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json' },
      body: JSON.stringify(chat({ model: 'scripted-model' })),
      signal: abort.signal,
    });
    await new Promise((resolve) => setTimeout(resolve, 100));
    abort.abort();
    await expect(pending).rejects.toThrow();
    await closedUpstream; // the gateway dropped its upstream request (the test times out otherwise)
    await expect.poll(() => gw!.recorded.runs.length).toBe(1);
    expect(gw.recorded.runs[0]).toMatchObject({ status: 'error', error: { code: 'CLIENT_DISCONNECTED' } });
    await new Promise((resolve) => upstream.server.close(resolve));
  });

  it('translates to and from the model port for providers that are not OpenAI-compatible', async () => {
    const seen: GenerateRequest[] = [];
    const port: ModelPort = {
      provider: 'claude',
      model: 'claude-model',
      async generate(request) {
        seen.push(request);
        return { text: 'Bonjour from the port', usage: { inputTokens: 12, outputTokens: 5 }, finishReason: 'stop', model: 'claude-model', provider: 'claude' };
      },
    };
    const config = gatewayConfig(
      {},
      {
        providers: { claude: { name: 'claude', type: 'builtin', native_structured_output: true } },
        models: { 'claude-model': { name: 'claude-model', provider: 'claude', id: 'claude-engine', price: { input_per_mtok: 3, output_per_mtok: 15 } } },
      },
    );
    gw = await gatewayUnderTest(config, { engines: { 'claude-engine': () => port } });
    const plain = await gw.server.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: AUTH,
      payload: chat({ model: 'claude-model', temperature: 0 }),
    });
    expect(plain.statusCode).toBe(200);
    expect(plain.json()).toMatchObject({
      object: 'chat.completion',
      model: 'claude-model',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Bonjour from the port' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 12, completion_tokens: 5, total_tokens: 17 },
    });
    expect(seen[0]).toMatchObject({
      system: 'You answer briefly.',
      messages: [{ role: 'user', content: 'Say hello to the gateway.' }],
      maxOutputTokens: 100,
      temperature: 0,
    });
    expect(gw.recorded.runs[0]).toMatchObject({ status: 'ok', model: 'claude-model', inputTokens: 12, outputTokens: 5, costUsd: (12 * 3 + 5 * 15) / 1e6 });

    const streamed = await gw.server.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: AUTH,
      payload: chat({ model: 'claude-model', stream: true, stream_options: { include_usage: true } }),
    });
    const events = sseData(streamed.body) as Array<{ choices: Array<{ delta: { content?: string } }>; usage?: unknown } | string>;
    expect(events.at(-1)).toBe('[DONE]');
    const chunks = events.slice(0, -1) as Array<{ choices: Array<{ delta: { content?: string } }>; usage?: unknown }>;
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.flatMap((c) => c.choices.map((choice) => choice.delta.content ?? '')).join('')).toBe('Bonjour from the port');
    expect(chunks.at(-1)).toMatchObject({ choices: [], usage: { total_tokens: 17 } });

    const tools = await gw.server.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: AUTH,
      payload: chat({ model: 'claude-model', tools: [{ type: 'function', function: { name: 'f' } }] }),
    });
    expect(tools.statusCode).toBe(400);
    expect(tools.json().error.code).toBe('GATEWAY_REQUEST_INVALID');
  });

  it('answers grounded prompts with the built-in extractive engine through the model port', async () => {
    gw = await gatewayUnderTest(gatewayConfig({}));
    const source = {
      n: 1,
      chunkId: 'c1',
      documentId: 'd1',
      document: 'policy.md',
      title: 'Refunds',
      headingPath: [],
      text: 'Refunds are issued within 14 days of a return. Shipping is free over 50 euros.',
      score: 1,
      tokens: 20,
    };
    const prompt = renderGroundedContext({ sources: [source], question: 'Within how many days are refunds issued?' });
    const response = await gw.server.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: AUTH,
      payload: { model: 'builtin-extractive', messages: [{ role: 'user', content: prompt }] },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ object: 'chat.completion', model: 'builtin-extractive', choices: [{ message: { role: 'assistant' } }] });
    expect(response.json().choices[0].message.content).toContain('14 days');
    expect(gw.recorded.runs[0]).toMatchObject({ status: 'ok', model: 'builtin-extractive', costUsd: 0 });

    // Anything else is not a prompt it can answer: a typed 503 naming the tier's failure.
    const plain = await gw.server.inject({ method: 'POST', url: '/v1/chat/completions', headers: AUTH, payload: chat({ model: 'builtin-extractive' }) });
    expect(plain.statusCode).toBe(503);
    expect(plain.json().error.details.attempts[0]).toMatchObject({ model: 'builtin-extractive' });
  });

  it('answers 404 GATEWAY_MODEL_NOT_FOUND for a model that is neither a route nor a configured model', async () => {
    gw = await gatewayUnderTest(gatewayConfig({ healthy: healthy.url }));
    const response = await gw.server.inject({ method: 'POST', url: '/v1/chat/completions', headers: AUTH, payload: chat({ model: 'gpt-17' }) });
    expect(response.statusCode).toBe(404);
    expect(response.json().error).toMatchObject({ code: 'GATEWAY_MODEL_NOT_FOUND', details: { model: 'gpt-17' } });
    expect(response.json().error.message).toContain('healthy-model');
  });

  it.each([
    ['no messages', { model: 'healthy-model', messages: [] }, 'messages'],
    ['a message without a role', { model: 'healthy-model', messages: [{ content: 'hi' }] }, 'messages/0/role'],
    ['content that is a number', { model: 'healthy-model', messages: [{ role: 'user', content: 42 }] }, 'messages/0/content'],
    ['a negative max_tokens', { ...chat(), max_tokens: -1 }, 'max_tokens'],
    ['stream that is not a boolean', { ...chat(), stream: 'yes' }, 'stream'],
    ['no model', { messages: [{ role: 'user', content: 'hi' }] }, 'model'],
    ['an array body', [chat()], 'body'],
  ])('answers 400 GATEWAY_REQUEST_INVALID for %s', async (_name, payload, path) => {
    gw ??= await gatewayUnderTest(gatewayConfig({ healthy: healthy.url }));
    const response = await gw.server.inject({ method: 'POST', url: '/v1/chat/completions', headers: AUTH, payload: payload as object });
    expect(response.statusCode).toBe(400);
    const error = response.json().error;
    expect(error.code).toBe('GATEWAY_REQUEST_INVALID');
    expect(error.details.issues.map((i: { path: string }) => i.path)).toContain(path);
  });

  it('answers 400 REQUEST_INVALID_BODY for a body that is not JSON, and 401 without a key', async () => {
    gw = await gatewayUnderTest(gatewayConfig({ healthy: healthy.url }));
    const malformed = await gw.server.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { ...AUTH, 'content-type': 'application/json' },
      payload: '{"model": ',
    });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error.code).toBe('REQUEST_INVALID_BODY');
    const anonymous = await gw.server.inject({ method: 'POST', url: '/v1/chat/completions', payload: chat() });
    expect(anonymous.statusCode).toBe(401);
  });

  it('passes a provider refusal (400) to the client without trying other tiers', async () => {
    const upstream = await scriptedUpstream((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: "This model's maximum context length is 8192 tokens", type: 'invalid_request_error' } }));
    });
    const config = gatewayConfig({ scripted: upstream.url, healthy: healthy.url }, { routes: { r: ['scripted-model', 'healthy-model'] } });
    gw = await gatewayUnderTest(config);
    healthy.reset();
    const response = await gw.server.inject({ method: 'POST', url: '/v1/chat/completions', headers: AUTH, payload: chat({ model: 'r' }) });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toMatchObject({ code: 'GATEWAY_REQUEST_INVALID', details: { upstream_status: 400 } });
    expect(response.json().error.message).toContain('maximum context length');
    expect(healthy.stats().total).toBe(0);
    await new Promise((resolve) => upstream.server.close(resolve));
  });
});

describe('POST /v1/embeddings', () => {
  const embeddingsConfig = () =>
    gatewayConfig(
      { healthy: healthy.url },
      { embedders: { 'mock-embed': { name: 'mock-embed', provider: 'healthy', id: 'text-embedding-mock', dimensions: 64 } } },
    );

  it('passes through to an OpenAI-compatible embedder and records a short summary', async () => {
    gw = await gatewayUnderTest(embeddingsConfig());
    const response = await gw.server.inject({
      method: 'POST',
      url: '/v1/embeddings',
      headers: AUTH,
      payload: { model: 'mock-embed', input: ['alpha beta', 'gamma'] },
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ object: 'list', model: 'text-embedding-mock' });
    expect(body.data).toHaveLength(2);
    expect(body.data[0].embedding).toHaveLength(64);
    const [run] = gw.recorded.runs;
    expect(run).toMatchObject({
      taskName: 'embeddings',
      status: 'ok',
      model: 'mock-embed',
      output: { embeddings: 2, dimensions: 64 },
      inputTokens: body.usage.prompt_tokens,
    });
    await gw.limits.idle();
    expect(gw.limits.calls[0].settled?.tokens).toBe(body.usage.prompt_tokens);
  });

  it('returns base64 when asked, converting a provider that answered with floats', async () => {
    gw = await gatewayUnderTest(embeddingsConfig());
    const floats = (
      await gw.server.inject({ method: 'POST', url: '/v1/embeddings', headers: AUTH, payload: { model: 'mock-embed', input: 'alpha beta' } })
    ).json();
    const base64 = (
      await gw.server.inject({
        method: 'POST',
        url: '/v1/embeddings',
        headers: AUTH,
        payload: { model: 'mock-embed', input: 'alpha beta', encoding_format: 'base64' },
      })
    ).json();
    expect(typeof base64.data[0].embedding).toBe('string');
    const decoded = Array.from(new Float32Array(new Uint8Array(Buffer.from(base64.data[0].embedding, 'base64')).buffer));
    decoded.forEach((value, i) => expect(value).toBeCloseTo(floats.data[0].embedding[i], 6));
  });

  it('answers from the built-in embedder through the embedding port', async () => {
    gw = await gatewayUnderTest(embeddingsConfig());
    const response = await gw.server.inject({ method: 'POST', url: '/v1/embeddings', headers: AUTH, payload: { model: 'builtin', input: 'refund policy' } });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ object: 'list', model: 'builtin', data: [{ object: 'embedding', index: 0 }] });
    expect(body.data[0].embedding.length).toBeGreaterThan(0);
    expect(body.usage.prompt_tokens).toBeGreaterThan(0);

    const wrongSize = await gw.server.inject({
      method: 'POST',
      url: '/v1/embeddings',
      headers: AUTH,
      payload: { model: 'builtin', input: 'x', dimensions: 3 },
    });
    expect(wrongSize.statusCode).toBe(400);
    expect(wrongSize.json().error.code).toBe('GATEWAY_REQUEST_INVALID');
  });

  it('refuses unknown embedders and bad inputs with typed errors', async () => {
    gw = await gatewayUnderTest(embeddingsConfig());
    const unknown = await gw.server.inject({ method: 'POST', url: '/v1/embeddings', headers: AUTH, payload: { model: 'nope', input: 'x' } });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.code).toBe('GATEWAY_MODEL_NOT_FOUND');
    const empty = await gw.server.inject({ method: 'POST', url: '/v1/embeddings', headers: AUTH, payload: { model: 'mock-embed', input: [] } });
    expect(empty.statusCode).toBe(400);
    expect(empty.json().error).toMatchObject({ code: 'GATEWAY_REQUEST_INVALID', details: { issues: [{ path: 'input' }] } });
  });

  // OpenAI's limits: 2,048 inputs, 8,192 tokens an input, 300,000 a request; text counted as ⌈UTF-8 bytes / 3⌉.
  it.each([
    ['2,049 inputs', Array.from({ length: 2_049 }, () => 'a'), 'input'],
    ['one text input over 8,192 tokens', ['short', 'x'.repeat(3 * 8_192 + 1)], 'input/1'],
    ['a single text over 8,192 tokens', 'é'.repeat(12_289), 'input'],
    ['one token array over 8,192 tokens', [[1, 2], Array.from({ length: 8_193 }, () => 7)], 'input/1'],
    ['inputs over 300,000 tokens together', Array.from({ length: 40 }, () => 'y'.repeat(3 * 8_000)), 'input'],
  ])('answers 400 GATEWAY_REQUEST_INVALID before any work for %s', async (_name, input, path) => {
    gw = await gatewayUnderTest(embeddingsConfig());
    const response = await gw.server.inject({ method: 'POST', url: '/v1/embeddings', headers: AUTH, payload: { model: 'builtin', input } });
    expect(response.statusCode).toBe(400);
    const error = response.json().error;
    expect(error.code).toBe('GATEWAY_REQUEST_INVALID');
    expect(error.details.issues.map((i: { path: string }) => i.path)).toEqual([path]);
    expect(gw.recorded.runs).toHaveLength(0);
  });

  it('still answers 2,048 small inputs and an input of exactly 8,192 counted tokens', async () => {
    gw = await gatewayUnderTest(embeddingsConfig());
    const many = await gw.server.inject({
      method: 'POST',
      url: '/v1/embeddings',
      headers: AUTH,
      payload: { model: 'builtin', input: Array.from({ length: 2_048 }, (_, i) => `doc ${i}`) },
    });
    expect(many.statusCode).toBe(200);
    expect(many.json().data).toHaveLength(2_048);
    const atLimit = await gw.server.inject({
      method: 'POST',
      url: '/v1/embeddings',
      headers: AUTH,
      payload: { model: 'builtin', input: 'z'.repeat(3 * 8_192) },
    });
    expect(atLimit.statusCode).toBe(200);
  });
});
