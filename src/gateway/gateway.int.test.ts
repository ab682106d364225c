import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../api/server.js';
import { authorize, tenantWithKey } from '../api/test-auth.js';
import { createApp, type App } from '../app/app.js';
import { testServer } from '../store/test-server.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { gatewayConfig, sseData } from './test-fixtures.js';

/**
 * The gateway routes on a PostgreSQL server (one schema for this file): real keys, quotas in
 * shared rows, runs written by the batching recorder through `recordMany`, read back over the API.
 */

const pg = await testServer();

describe.skipIf(!pg.available)('OpenAI-compatible gateway on PostgreSQL', () => {
  let healthy: MockLlm;
  let failing: MockLlm;
  let app: App;
  let server: FastifyInstance;
  let tenantId: string;
  let key: string;

  beforeAll(async () => {
    healthy = await startMockLlm({ seed: 11, respond: () => 'Answer from PostgreSQL land.' });
    failing = await startMockLlm({ seed: 11, faults: { error5xx: 1 } });
    const config = {
      ...gatewayConfig(
        { healthy: healthy.url, failing: failing.url },
        {
          routes: { smart: ['failing-model', 'healthy-model'] },
          embedders: { 'mock-embed': { name: 'mock-embed', provider: 'healthy', id: 'mock-embedding', dimensions: 64 } },
        },
      ),
      databaseUrl: pg.url,
    };
    app = await createApp(config, { lock: false, schema: await pg.createSchema('gw_gateway'), logger: { error: () => {} } });
    server = await buildServer(app, { logger: false });
    ({ tenantId, key } = await tenantWithKey(app, 'runner'));
    authorize(server, key);
  });

  afterAll(async () => {
    await server?.close();
    await app?.close();
    await healthy?.close();
    await failing?.close();
    await pg.cleanup();
  });

  const chat = (extra: Record<string, unknown> = {}) => ({ model: 'smart', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 50, ...extra });

  it('answers a chat completion after failing over, and records the run with every attempt', async () => {
    const response = await server.inject({ method: 'POST', url: '/v1/chat/completions', payload: chat() });
    expect(response.statusCode).toBe(200);
    expect(response.json().choices[0].message.content).toBe('Answer from PostgreSQL land.');
    const runId = response.headers['x-groundwork-run-id'] as string;

    await app.runBatcher.flush();
    const run = await server.inject({ method: 'GET', url: `/v1/runs/${runId}` });
    expect(run.statusCode).toBe(200);
    expect(run.json()).toMatchObject({ task: 'chat.completions', task_version: 'gateway', status: 'ok', model: 'healthy-model', degraded: true });
    expect(run.json().attempts.map((a: { model: string; outcome: string }) => [a.model, a.outcome])).toEqual([
      ['failing-model', 'provider_error'],
      ['healthy-model', 'ok'],
    ]);

    // Another tenant cannot see it.
    const other = await tenantWithKey(app, 'admin');
    const foreign = await server.inject({ method: 'GET', url: `/v1/runs/${runId}`, headers: { authorization: `Bearer ${other.key}` } });
    expect(foreign.statusCode).toBe(404);
  });

  it('streams, and embeds, with usage recorded per key', async () => {
    const stream = await server.inject({ method: 'POST', url: '/v1/chat/completions', payload: chat({ model: 'healthy-model', stream: true }) });
    expect(sseData(stream.body).at(-1)).toBe('[DONE]');
    const embeddings = await server.inject({ method: 'POST', url: '/v1/embeddings', payload: { model: 'mock-embed', input: ['a b', 'c'] } });
    expect(embeddings.statusCode).toBe(200);
    expect(embeddings.json().data).toHaveLength(2);

    await app.runBatcher.flush();
    const usage = await server.inject({ method: 'GET', url: '/v1/usage?group_by=task' });
    expect(usage.statusCode).toBe(200);
    const tasks = (usage.json().rows as Array<{ group: string; runs: number }>).map((r) => [r.group, r.runs]);
    expect(tasks).toEqual(
      expect.arrayContaining([
        ['chat.completions', 2],
        ['embeddings', 1],
      ]),
    );
  });

  it('refuses calls once a hard USD quota is spent', async () => {
    const spender = await tenantWithKey(app, 'runner');
    await app.limits.quotas.setQuota(spender.tenantId, { metric: 'usd', period: 'day', limit: 0.0000001, enforcement: 'hard' });
    const response = await server.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers: { authorization: `Bearer ${spender.key}` },
      payload: chat({ model: 'healthy-model' }),
    });
    expect(response.statusCode).toBe(429);
    expect(response.json().error.code).toBe('QUOTA_EXCEEDED');
    expect(tenantId).not.toBe(spender.tenantId);
  });
});
