import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProviderConfig } from '../../config/config.js';
import { ModelCallError, type GenerateRequest } from '../spec.js';
import { createAnthropicModel } from './anthropic.js';

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

/** A tiny Messages API server: records each request and answers with `reply`. */
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

function message(content: unknown[], stopReason = 'end_turn', usage: object = { input_tokens: 30, output_tokens: 7 }) {
  return { id: 'msg_1', type: 'message', role: 'assistant', model: 'claude', content, stop_reason: stopReason, stop_sequence: null, usage };
}

const SECRET = 'sk-ant-api03-secret-value-123456';

function provider(baseUrl: string, overrides: Partial<ProviderConfig> = {}): ProviderConfig {
  return { name: 'anthropic', type: 'anthropic', base_url: baseUrl, api_key: SECRET, native_structured_output: true, ...overrides };
}

const schema = { type: 'object', properties: { label: { type: 'string' } }, required: ['label'], additionalProperties: false };
const jsonRequest: GenerateRequest = {
  system: 'Classify the ticket.',
  messages: [
    { role: 'user', content: 'My invoice is wrong' },
    { role: 'assistant', content: '{"label":"x"}' },
    { role: 'user', content: 'Try again' },
  ],
  responseFormat: { type: 'json', schema },
  maxOutputTokens: 200,
};

async function failure(promise: Promise<unknown>): Promise<ModelCallError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(ModelCallError);
  return error as ModelCallError;
}

describe('createAnthropicModel', () => {
  it('maps the request to the Messages API with the schema as native output format', async () => {
    const server = await startServer(() => ({ body: message([{ type: 'text', text: '{"label":"billing"}' }]) }));
    const model = createAnthropicModel({ name: 'sonnet', provider: provider(server.baseUrl), modelId: 'claude-sonnet-4-5' });

    const result = await model.generate(jsonRequest);

    expect(result).toEqual({
      text: '{"label":"billing"}',
      usage: { inputTokens: 30, outputTokens: 7 },
      finishReason: 'stop',
      model: 'sonnet',
      provider: 'anthropic',
    });
    const [request] = server.seen;
    expect(request.url).toBe('/v1/messages');
    expect(request.headers['x-api-key']).toBe(SECRET);
    expect(request.body).toMatchObject({
      model: 'claude-sonnet-4-5',
      max_tokens: 200,
      system: [{ type: 'text', text: 'Classify the ticket.' }],
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'My invoice is wrong' }] },
        { role: 'assistant', content: [{ type: 'text', text: '{"label":"x"}' }] },
        { role: 'user', content: [{ type: 'text', text: 'Try again' }] },
      ],
    });
    expect(JSON.stringify(request.body)).toContain('"label":{"type":"string"}');
  });

  it('reads the answer of the forced JSON tool used by models without native output format', async () => {
    const server = await startServer(() => ({ body: message([{ type: 'tool_use', id: 't1', name: 'json', input: { label: 'billing' } }], 'tool_use') }));
    const model = createAnthropicModel({ name: 'haiku', provider: provider(server.baseUrl), modelId: 'claude-3-haiku-20240307' });

    const result = await model.generate(jsonRequest);

    expect(JSON.parse(result.text)).toEqual({ label: 'billing' });
    expect(server.seen[0].body.tools[0]).toMatchObject({ name: 'json', input_schema: schema });
  });

  it('instructs JSON in the system prompt when native structured output is off', async () => {
    const server = await startServer(() => ({ body: message([{ type: 'text', text: '{"label":"billing"}' }]) }));
    const model = createAnthropicModel({
      name: 'proxy',
      provider: provider(server.baseUrl, { native_structured_output: false }),
      modelId: 'claude-sonnet-4-5',
    });

    await model.generate(jsonRequest);

    const body = server.seen[0].body;
    expect(body.tools).toBeUndefined();
    expect(body.output_config).toBeUndefined();
    expect(body.system[0].text).toContain('Classify the ticket.');
    expect(body.system[0].text).toContain(JSON.stringify(schema));
  });

  it('reports max_tokens as finishReason length', async () => {
    const server = await startServer(() => ({ body: message([{ type: 'text', text: '{"label":"bil' }], 'max_tokens') }));
    const model = createAnthropicModel({ name: 'sonnet', provider: provider(server.baseUrl), modelId: 'claude-sonnet-4-5' });

    expect((await model.generate(jsonRequest)).finishReason).toBe('length');
  });

  it('maps 529 overloaded to a retryable provider_error', async () => {
    const server = await startServer(() => ({ status: 529, body: { type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } } }));
    const model = createAnthropicModel({ name: 'sonnet', provider: provider(server.baseUrl), modelId: 'claude-sonnet-4-5' });

    const error = await failure(model.generate(jsonRequest));

    expect(error).toMatchObject({ outcome: 'provider_error', retryable: true, status: 529 });
    expect(error.message).toContain('Overloaded');
  });

  it('maps 429 with an HTTP-date Retry-After to rate_limited', async () => {
    const when = new Date(Date.now() + 5_000).toUTCString();
    const server = await startServer(() => ({
      status: 429,
      headers: { 'retry-after': when },
      body: { type: 'error', error: { type: 'rate_limit_error', message: 'Too many' } },
    }));
    const model = createAnthropicModel({ name: 'sonnet', provider: provider(server.baseUrl), modelId: 'claude-sonnet-4-5' });

    const error = await failure(model.generate(jsonRequest));

    expect(error.outcome).toBe('rate_limited');
    expect(error.retryAfterMs).toBeGreaterThan(3_000);
    expect(error.retryAfterMs).toBeLessThanOrEqual(5_000);
  });

  it('maps 401 to a non-retryable provider_error without the key', async () => {
    const server = await startServer(() => ({
      status: 401,
      body: { type: 'error', error: { type: 'authentication_error', message: `invalid x-api-key ${SECRET}` } },
    }));
    const model = createAnthropicModel({ name: 'sonnet', provider: provider(server.baseUrl), modelId: 'claude-sonnet-4-5' });

    const error = await failure(model.generate(jsonRequest));

    expect(error).toMatchObject({ outcome: 'provider_error', retryable: false, status: 401 });
    expect(error.message).not.toContain(SECRET);
  });

  it('lets the caller’s abort propagate unchanged', async () => {
    const server = await startServer(() => ({ delayMs: 2_000, body: message([{ type: 'text', text: 'late' }]) }));
    const model = createAnthropicModel({ name: 'sonnet', provider: provider(server.baseUrl), modelId: 'claude-sonnet-4-5' });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);

    const error = await model.generate({ ...jsonRequest, signal: controller.signal }).catch((e: unknown) => e);

    expect(error).not.toBeInstanceOf(ModelCallError);
    expect((error as Error).name).toBe('AbortError');
  });
});
