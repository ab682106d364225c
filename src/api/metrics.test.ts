import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { loadConfig, type Config } from '../config/config.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { buildServer } from './server.js';
import { tenantWithKey } from './test-auth.js';

/**
 * GET /metrics over HTTP: a task run, a gateway call and a refused request show up under their
 * names; the endpoint answers the scraper's token (or, with none configured, this machine only).
 */

describe('GET /metrics', () => {
  let mock: MockLlm;
  let app: App;
  let server: FastifyInstance;
  const token = 'metrics-token-0123456789';

  beforeAll(async () => {
    mock = await startMockLlm({ seed: 3, respond: (request) => (request.response_format ? { category: 'billing' } : 'hello') });
    const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-metrics-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
    const config: Config = {
      ...base,
      providers: { ...base.providers, mock: { name: 'mock', type: 'openai-compatible', base_url: mock.url, native_structured_output: true } },
      models: { ...base.models, small: { name: 'small', provider: 'mock', price: { input_per_mtok: 1, output_per_mtok: 2 } } },
      routes: { default: ['small'] },
      metrics: { enabled: true, token },
    };
    app = await createApp(config, { lock: false, logger: { error: () => undefined } });
    server = await buildServer(app, { logger: false });
  });
  afterAll(async () => {
    await server?.close();
    await app?.close();
    await mock?.close();
  });

  it('shows runs, model calls, tokens, cost, HTTP timings and refusals', async () => {
    const { key, tenantId } = await tenantWithKey(app, 'admin');
    const headers = { authorization: `Bearer ${key}` };
    expect((await server.inject({ method: 'POST', url: '/v1/tasks', headers, payload: triageDefinition() })).statusCode).toBe(201);
    const run = await server.inject({ method: 'POST', url: '/v1/tasks/triage/run', headers, payload: { input: { subject: 'Refund', body: 'Charged twice' } } });
    expect(run.statusCode).toBe(200);
    const chat = await server.inject({
      method: 'POST',
      url: '/v1/chat/completions',
      headers,
      payload: { model: 'default', messages: [{ role: 'user', content: 'hi' }] },
    });
    expect(chat.statusCode).toBe(200);
    expect((await server.inject({ method: 'POST', url: '/v1/tasks/triage/run', headers, payload: { input: {} } })).statusCode).toBe(400);

    const scraped = await server.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } });
    expect(scraped.statusCode, scraped.body).toBe(200);
    expect(scraped.headers['content-type']).toMatch(/^text\/plain/);
    const text = scraped.body;
    expect(text).toMatch(/groundwork_runs_total\{task="triage",version="[0-9a-f]{16}",outcome="ok"\} 1/);
    expect(text).toContain('groundwork_runs_total{task="chat.completions"');
    expect(text).toMatch(
      /gen_ai_client_operation_duration_seconds_count\{gen_ai_operation_name="chat",gen_ai_provider_name="mock",gen_ai_request_model="small",error_type=""\} 2/,
    );
    expect(text).toMatch(/gen_ai_client_token_usage_count\{[^}]*gen_ai_token_type="input"\} 2/);
    expect(text).toContain(`tenant="${tenantId}"`);
    expect(text).toContain('groundwork_http_request_duration_seconds_count{method="POST",route="/v1/tasks/:name/run",status_code="200"} 1');
    expect(text).toContain('groundwork_errors_total{code="TASK_INPUT_INVALID"} 1');
    expect(text).toContain('groundwork_jobs_dead_letters 0');
    expect(text).not.toContain(run.json().run_id);
  });

  it('answers only the scraper token; with none configured, only this machine', async () => {
    expect((await server.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(401);
    expect((await server.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer wrong-token-0123456789' } })).statusCode).toBe(401);
    const open = await buildServer({ ...app, config: { ...app.config, metrics: { enabled: true } } }, { logger: false });
    try {
      expect((await open.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
      const remote = await open.inject({ method: 'GET', url: '/metrics', remoteAddress: '10.1.2.3' });
      expect(remote.statusCode).toBe(403);
      expect(remote.json().error.code).toBe('AUTH_FORBIDDEN');
    } finally {
      await open.close();
    }
    const off = await buildServer({ ...app, config: { ...app.config, metrics: { enabled: false } } }, { logger: false });
    try {
      expect((await off.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(404);
    } finally {
      await off.close();
    }
  });
});
