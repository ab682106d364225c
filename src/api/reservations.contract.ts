import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { loadConfig, type Config } from '../config/config.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import type { StoreUnderTest } from './api.contract.js';
import { buildServer } from './server.js';
import { tenantWithKey } from './test-auth.js';

/**
 * Issue 9 items 14 and 15, over HTTP on both stores (reservations.test.ts, reservations.int.test.ts):
 * a request reserves what its own call can cost (not two full-length calls of the priciest
 * model), so cheap calls under a small quota are served, and settled usage still never passes
 * a hard limit; the tokens-per-minute limit holds each request's tokens before its call, so
 * the request that would cross the limit is refused rather than let through.
 */

export function reservationsContract(storeUnderTest: () => Promise<StoreUnderTest>): void {
  let mock: MockLlm;
  let app: App;
  let server: FastifyInstance;

  beforeAll(async () => {
    const target = await storeUnderTest();
    // Tasks get their JSON; chat gets 320 characters, which the mock counts as 80 completion tokens.
    mock = await startMockLlm({ seed: 1, respond: (request) => (request.response_format ? { category: 'billing' } : 'word '.repeat(64)) });
    const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-reserve-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
    const config: Config = {
      ...base,
      ...target.store,
      providers: { ...base.providers, mock: { name: 'mock', type: 'openai-compatible', base_url: mock.url, native_structured_output: true } },
      models: {
        ...base.models,
        // gpt-4o-mini's prices; a pricier second tier that reservations used to be priced at.
        cheap: { name: 'cheap', provider: 'mock', price: { input_per_mtok: 0.15, output_per_mtok: 0.6 } },
        pricey: { name: 'pricey', provider: 'mock', price: { input_per_mtok: 2.5, output_per_mtok: 10 } },
      },
      routes: { default: ['cheap', 'pricey'] },
      resilience: { ...base.resilience, retries: 0 },
    };
    app = await createApp(config, { lock: false, schema: target.schema, logger: { error: () => undefined } });
    server = await buildServer(app, { logger: false });
  });

  afterAll(async () => {
    await server?.close();
    await app?.close();
    await mock?.close();
  });

  it('serves cheap calls under a small USD quota, and never lets settled usage pass it', async () => {
    // As seen: with a $0.005/day quota every $0.00003 call was refused ("may use up to $0.0059").
    const { tenantId, key } = await tenantWithKey(app, 'admin');
    await app.limits.quotas.setQuota(tenantId, { metric: 'usd', period: 'day', limit: 0.005, enforcement: 'hard' });
    const headers = { authorization: `Bearer ${key}` };
    const chat = { model: 'default', messages: [{ role: 'user', content: 'Charged twice for order 88123' }], max_tokens: 100 };
    let served = 0;
    let refused = 0;
    for (let i = 0; i < 400 && refused === 0; i++) {
      const response = await server.inject({ method: 'POST', url: '/v1/chat/completions', headers, payload: chat });
      if (response.statusCode === 200) served++;
      else {
        expect(response.statusCode).toBe(429);
        expect(response.json().error.code).toBe('QUOTA_EXCEEDED');
        expect(response.json().error.message).toMatch(/Lower max_tokens/);
        refused++;
      }
    }
    const [quota] = await app.limits.quotas.getQuotas(tenantId);
    console.info(`reservation test: ${served} calls served under a $0.005/day quota, used $${quota.used.toFixed(6)}`);
    // Each call costs ~$0.00005: about a hundred fit the quota, and then it is refused, never passed.
    expect(served).toBeGreaterThan(80);
    expect(refused).toBe(1);
    expect(quota.used).toBeLessThanOrEqual(0.005);
    expect(quota.reserved).toBe(0);
  });

  it('task runs reserve one call of their first tier, not two calls of the priciest model', async () => {
    const { tenantId, key } = await tenantWithKey(app, 'admin');
    const headers = { authorization: `Bearer ${key}` };
    expect(
      (
        await server.inject({
          method: 'POST',
          url: '/v1/tasks',
          headers,
          payload: triageDefinition({ name: 'triage', route: 'default', limits: { timeout_ms: 10_000, max_output_tokens: 100 } }),
        })
      ).statusCode,
    ).toBe(201);
    // One call of `cheap` with 100 output tokens costs well under $0.0002; two of `pricey` over $0.002.
    await app.limits.quotas.setQuota(tenantId, { metric: 'usd', period: 'day', limit: 0.001, enforcement: 'hard' });
    const response = await server.inject({
      method: 'POST',
      url: '/v1/tasks/triage/run',
      headers,
      payload: { input: { subject: 'Refund', body: 'Charged twice' } },
    });
    expect(response.statusCode).toBe(200);
  });

  it('holds tokens per minute before the call: the request that would cross the limit is refused', async () => {
    // As seen: at 300 tokens/minute requests were admitted until 369 tokens had been used.
    const { tenantId } = await tenantWithKey(app, 'admin');
    const { key } = await app.auth.createKey(tenantId, { role: 'runner', tokensPerMinute: 300 });
    const headers = { authorization: `Bearer ${key}` };
    const chat = { model: 'default', messages: [{ role: 'user', content: 'hi' }], max_tokens: 100 };
    let served = 0;
    let spent = 0;
    for (let i = 0; i < 20; i++) {
      const response = await server.inject({ method: 'POST', url: '/v1/chat/completions', headers, payload: chat });
      if (response.statusCode !== 200) {
        expect(response.statusCode).toBe(429);
        expect(response.json().error).toMatchObject({ code: 'RATE_LIMITED', details: { scope: 'tokens' } });
        continue;
      }
      served++;
      spent += response.json().usage.total_tokens;
    }
    console.info(`tokens-per-minute test: ${served} requests admitted at 300 tokens/min, ${spent} tokens used`);
    // Each answer uses ~85 tokens: three fit the minute, the fourth would cross it.
    expect(served).toBe(3);
    expect(spent).toBeLessThanOrEqual(300);
  });
}
