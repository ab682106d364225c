import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProviderConfig } from '../../config/config.js';
import { ModelCallError, type GenerateRequest } from '../spec.js';
import { createOpenAICompatibleModel, isStrictCompatible } from './openai-compatible.js';

interface Seen {
  url: string;
  headers: IncomingHttpHeaders;
  body: Record<string, any>;
}
interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body?: unknown;
  delayMs?: number;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))));
});

/** A tiny chat-completions server: records each request and answers with `reply`. */
async function startServer(reply: (seen: Seen) => Reply) {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk) => (raw += chunk));
    req.on('end', () => {
      const request = { url: req.url ?? '', headers: req.headers, body: raw ? JSON.parse(raw) : {} };
      seen.push(request);
      const answer = reply(request);
      const send = () => {
        if (res.destroyed) return;
        res.writeHead(answer.status ?? 200, { 'content-type': 'application/json', ...answer.headers });
        res.end(JSON.stringify(answer.body ?? {}));
      };
      if (answer.delayMs) setTimeout(send, answer.delayMs);
      else send();
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { baseUrl: `http://127.0.0.1:${port}/v1`, seen };
}

function completion(content: string, usage?: object, finish = 'stop') {
  return {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    created: 1,
    model: 'gpt-4o-mini',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: finish }],
    ...(usage ? { usage } : {}),
  };
}

const SECRET = 'sk-test-secret-key-1234567890';

function provider(baseUrl: string, overrides: Partial<ProviderConfig> = {}): ProviderConfig {
  return { name: 'openai', type: 'openai-compatible', base_url: baseUrl, api_key: SECRET, native_structured_output: true, ...overrides };
}

const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'], additionalProperties: false };
const jsonRequest: GenerateRequest = {
  system: 'You answer questions.',
  messages: [{ role: 'user', content: 'What is 2+2?' }],
  responseFormat: { type: 'json', schema, name: 'answer' },
  maxOutputTokens: 100,
  temperature: 0,
};

async function failure(promise: Promise<unknown>): Promise<ModelCallError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelCallError);
  return error as ModelCallError;
}

describe('createOpenAICompatibleModel', () => {
  it('sends the schema as native json_schema response_format and maps text, usage and finish reason', async () => {
    const server = await startServer(() => ({ body: completion('{"answer":"4"}', { prompt_tokens: 21, completion_tokens: 5 }) }));
    const model = createOpenAICompatibleModel({ name: 'mini', provider: provider(server.baseUrl), modelId: 'gpt-4o-mini' });

    const result = await model.generate(jsonRequest);

    expect(result).toMatchObject({ text: '{"answer":"4"}', finishReason: 'stop', model: 'mini', provider: 'openai' });
    expect(result.usage).toEqual({ inputTokens: 21, outputTokens: 5 });
    const [request] = server.seen;
    expect(request.url).toBe('/v1/chat/completions');
    expect(request.headers.authorization).toBe(`Bearer ${SECRET}`);
    expect(request.body).toMatchObject({
      model: 'gpt-4o-mini',
      max_tokens: 100,
      temperature: 0,
      messages: [
        { role: 'system', content: 'You answer questions.' },
        { role: 'user', content: 'What is 2+2?' },
      ],
      response_format: { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } },
    });
  });

  it('does not ask for strict mode when the schema leaves properties optional (OpenAI would reject it)', async () => {
    const server = await startServer(() => ({ body: completion('{}') }));
    const model = createOpenAICompatibleModel({ name: 'mini', provider: provider(server.baseUrl), modelId: 'gpt-4o-mini' });
    const loose = { type: 'object', properties: { answer: { type: 'string' } } };

    await model.generate({ ...jsonRequest, responseFormat: { type: 'json', schema: loose } });

    expect(server.seen[0].body.response_format.json_schema.strict).toBe(false);
  });

  it('instructs JSON in the system prompt when the server has no native structured output', async () => {
    const server = await startServer(() => ({ body: completion('{"answer":"4"}') }));
    const model = createOpenAICompatibleModel({ name: 'local', provider: provider(server.baseUrl, { native_structured_output: false }), modelId: 'qwen' });

    await model.generate(jsonRequest);

    const body = server.seen[0].body;
    expect(body.response_format).toEqual({ type: 'json_object' });
    expect(body.messages[0].role).toBe('system');
    expect(body.messages[0].content).toContain('You answer questions.');
    expect(body.messages[0].content).toContain('Reply with only a JSON value');
    expect(body.messages[0].content).toContain(JSON.stringify(schema));
  });

  it('estimates usage when the server reports none', async () => {
    const server = await startServer(() => ({ body: completion('{"answer":"four"}') }));
    const model = createOpenAICompatibleModel({ name: 'local', provider: provider(server.baseUrl), modelId: 'qwen' });

    const result = await model.generate(jsonRequest);

    expect(result.usage.estimated).toBe(true);
    expect(result.usage.inputTokens).toBeGreaterThan(5);
    expect(result.usage.outputTokens).toBeGreaterThan(0);
  });

  it('reports truncation as finishReason length', async () => {
    const server = await startServer(() => ({ body: completion('{"answer":"fo', { prompt_tokens: 1, completion_tokens: 3 }, 'length') }));
    const model = createOpenAICompatibleModel({ name: 'mini', provider: provider(server.baseUrl), modelId: 'gpt-4o-mini' });

    expect((await model.generate(jsonRequest)).finishReason).toBe('length');
  });

  it('maps 429 with Retry-After seconds to rate_limited with retryAfterMs', async () => {
    const server = await startServer(() => ({ status: 429, headers: { 'retry-after': '2' }, body: { error: { message: 'Rate limit reached' } } }));
    const model = createOpenAICompatibleModel({ name: 'mini', provider: provider(server.baseUrl), modelId: 'gpt-4o-mini' });

    const error = await failure(model.generate(jsonRequest));

    expect(error).toMatchObject({ outcome: 'rate_limited', retryable: true, retryAfterMs: 2000, status: 429, model: 'mini', provider: 'openai' });
  });

  it('prefers retry-after-ms when the server sends it', async () => {
    const server = await startServer(() => ({
      status: 429,
      headers: { 'retry-after-ms': '150', 'retry-after': '1' },
      body: { error: { message: 'slow down' } },
    }));
    const model = createOpenAICompatibleModel({ name: 'mini', provider: provider(server.baseUrl), modelId: 'gpt-4o-mini' });

    expect((await failure(model.generate(jsonRequest))).retryAfterMs).toBe(150);
  });

  it('maps 500 to a retryable provider_error', async () => {
    const server = await startServer(() => ({ status: 500, body: { error: { message: 'The server had an error' } } }));
    const model = createOpenAICompatibleModel({ name: 'mini', provider: provider(server.baseUrl), modelId: 'gpt-4o-mini' });

    const error = await failure(model.generate(jsonRequest));

    expect(error).toMatchObject({ outcome: 'provider_error', retryable: true, status: 500 });
    expect(error.message).toContain('HTTP 500');
  });

  it('maps 401 to a non-retryable provider_error whose message never contains the key', async () => {
    const server = await startServer(() => ({ status: 401, body: { error: { message: `Incorrect API key provided: ${SECRET}` } } }));
    const model = createOpenAICompatibleModel({ name: 'mini', provider: provider(server.baseUrl), modelId: 'gpt-4o-mini' });

    const error = await failure(model.generate(jsonRequest));

    expect(error).toMatchObject({ outcome: 'provider_error', retryable: false, status: 401 });
    expect(error.message).toContain('401');
    expect(error.message).not.toContain(SECRET);
    expect(error.message).not.toMatch(/Bearer/i);
  });

  it('keeps a 400 reason but scrubs anything key-like from it', async () => {
    const server = await startServer(() => ({ status: 400, body: { error: { message: `Invalid schema for response_format; key ${SECRET}` } } }));
    const model = createOpenAICompatibleModel({ name: 'mini', provider: provider(server.baseUrl), modelId: 'gpt-4o-mini' });

    const error = await failure(model.generate(jsonRequest));

    expect(error.retryable).toBe(false);
    expect(error.message).toContain('Invalid schema for response_format');
    expect(error.message).not.toContain(SECRET);
  });

  it('maps an unreadable success response to a retryable provider_error', async () => {
    const server = await startServer(() => ({ body: { unexpected: true } }));
    const model = createOpenAICompatibleModel({ name: 'mini', provider: provider(server.baseUrl), modelId: 'gpt-4o-mini' });

    const error = await failure(model.generate(jsonRequest));

    expect(error).toMatchObject({ outcome: 'provider_error', retryable: true });
    expect(error.message).toContain('unreadable response');
  });

  it('maps an unreachable server to a retryable provider_error', async () => {
    const server = await startServer(() => ({}));
    const url = server.baseUrl;
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
    const model = createOpenAICompatibleModel({ name: 'mini', provider: provider(url), modelId: 'gpt-4o-mini' });

    const error = await failure(model.generate(jsonRequest));

    expect(error).toMatchObject({ outcome: 'provider_error', retryable: true, status: undefined });
    expect(error.message).not.toContain(SECRET);
  });

  it('lets the caller’s abort propagate unchanged instead of classifying it', async () => {
    const server = await startServer(() => ({ delayMs: 2_000, body: completion('late') }));
    const model = createOpenAICompatibleModel({ name: 'mini', provider: provider(server.baseUrl), modelId: 'gpt-4o-mini' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);

    const started = Date.now();
    const error = await model.generate({ ...jsonRequest, signal: controller.signal }).catch((e: unknown) => e);

    expect(error).not.toBeInstanceOf(ModelCallError);
    expect((error as Error).name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(1_000);
  });
});

describe('isStrictCompatible', () => {
  it('accepts only schemas whose every object, nested ones included, is closed and fully required', () => {
    expect(isStrictCompatible(schema)).toBe(true);
    expect(
      isStrictCompatible({
        type: 'object',
        properties: { items: { type: 'array', items: { type: 'object', properties: { x: { type: 'number' } }, required: ['x'] } } },
        required: ['items'],
        additionalProperties: false,
      }),
    ).toBe(false);
  });
});
