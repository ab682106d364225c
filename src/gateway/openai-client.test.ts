import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../api/server.js';
import { tenantWithKey } from '../api/test-auth.js';
import { createApp, type App } from '../app/app.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { gatewayConfig } from './test-fixtures.js';

/**
 * The official `openai` npm client, unchanged, with baseURL pointed at a listening Groundwork
 * (real API key, real limits and recording on the embedded store) in front of mock-llm.
 */

let mock: MockLlm;
let app: App;
let server: FastifyInstance;
let client: OpenAI;
let tenantId: string;

beforeAll(async () => {
  mock = await startMockLlm({ seed: 3, respond: () => 'The gateway speaks OpenAI.' });
  const config = gatewayConfig(
    { mock: mock.url },
    {
      routes: { default: ['mock-model'] },
      // A slash in a name: the client sends it percent-encoded in GET /models/{id}.
      models: { 'mock/large': { name: 'mock/large', provider: 'mock', id: 'mock-large-upstream-id' } },
      embedders: { 'mock-embed': { name: 'mock-embed', provider: 'mock', id: 'mock-embedding', dimensions: 64 } },
    },
  );
  app = await createApp(config, { lock: false, logger: { error: () => {} } });
  server = await buildServer(app, { logger: false });
  await server.listen({ port: 0, host: '127.0.0.1' });
  const key = await tenantWithKey(app, 'runner');
  tenantId = key.tenantId;
  client = new OpenAI({ apiKey: key.key, baseURL: `http://127.0.0.1:${(server.server.address() as AddressInfo).port}/v1`, maxRetries: 0 });
});

afterAll(async () => {
  await server?.close();
  await app?.close();
  await mock?.close();
});

describe('the official openai client against the gateway', () => {
  it('creates a chat completion', async () => {
    const completion = await client.chat.completions.create({ model: 'default', messages: [{ role: 'user', content: 'Who speaks OpenAI?' }], max_tokens: 50 });
    expect(completion.choices[0].message.content).toBe('The gateway speaks OpenAI.');
    expect(completion.usage?.total_tokens).toBeGreaterThan(0);

    await app.runBatcher.flush();
    const [run] = await app.store.runs.list(tenantId, { task: 'chat.completions', limit: 5 });
    expect(run).toMatchObject({ status: 'ok', model: 'mock-model', taskVersion: 'gateway' });
  });

  it('streams a chat completion', async () => {
    const stream = await client.chat.completions.create({
      model: 'mock-model',
      messages: [{ role: 'user', content: 'Stream it.' }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: OpenAI.CompletionUsage | undefined | null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe('The gateway speaks OpenAI.');
    expect(usage?.completion_tokens).toBeGreaterThan(0);
  });

  it('creates embeddings (the client asks for base64 by default and decodes it)', async () => {
    const result = await client.embeddings.create({ model: 'mock-embed', input: ['first text', 'second text'] });
    expect(result.data).toHaveLength(2);
    expect(result.data[0].embedding).toHaveLength(64);
    const norm = Math.sqrt(result.data[0].embedding.reduce((sum, x) => sum + x * x, 0));
    expect(norm).toBeCloseTo(1, 4);

    const builtin = await client.embeddings.create({ model: 'builtin', input: 'refund policy', encoding_format: 'float' });
    expect(builtin.data[0].embedding.length).toBeGreaterThan(0);
  });

  it('lists and retrieves every route, model and embedder with a viewer key', async () => {
    const viewer = new OpenAI({ apiKey: (await tenantWithKey(app, 'viewer')).key, baseURL: client.baseURL, maxRetries: 0 });
    const listed: OpenAI.Model[] = [];
    for await (const model of viewer.models.list()) listed.push(model);
    expect(listed.map((m) => [m.id, m.owned_by])).toEqual([
      ['builtin', 'groundwork:embedder'],
      ['builtin-extractive', 'groundwork:model:builtin'],
      ['default', 'groundwork:route'],
      ['mock-embed', 'groundwork:embedder'],
      ['mock-model', 'groundwork:model:mock'],
      ['mock/large', 'groundwork:model:mock'],
    ]);
    expect(listed.every((m) => m.object === 'model' && m.created === 0)).toBe(true);

    expect(await viewer.models.retrieve('default')).toEqual({ id: 'default', object: 'model', created: 0, owned_by: 'groundwork:route' });
    expect(await viewer.models.retrieve('mock/large')).toEqual({ id: 'mock/large', object: 'model', created: 0, owned_by: 'groundwork:model:mock' });
    const missing = await viewer.models.retrieve('no-such-model').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    expect((missing as InstanceType<typeof OpenAI.NotFoundError>).code).toBe('GATEWAY_MODEL_NOT_FOUND');

    const openapi = (await server.inject({ method: 'GET', url: '/openapi.json' })).json();
    expect(openapi.paths['/v1/models'].get.responses['200']).toBeDefined();
    expect(openapi.paths['/v1/models/{id}'].get.responses['404']).toBeDefined();
  });

  it('raises the typed error the gateway sends', async () => {
    const error = await client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'hi' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.NotFoundError);
    expect((error as InstanceType<typeof OpenAI.NotFoundError>).message).toContain('no route or model "no-such-model"');
    const denied = await new OpenAI({ apiKey: 'gwk_wrong', baseURL: client.baseURL, maxRetries: 0 }).chat.completions
      .create({ model: 'default', messages: [{ role: 'user', content: 'hi' }] })
      .catch((e: unknown) => e);
    expect(denied).toBeInstanceOf(OpenAI.AuthenticationError);
  });
});
