import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../app/app.js';
import { loadConfig } from '../config/config.js';
import { testServer } from '../store/test-server.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';

/**
 * The limit test of issue 4, end to end: two `serve` PROCESSES on one PostgreSQL database
 * (a private schema), one API key with 600 requests/minute hit by 2,000 concurrent requests
 * split across both, and a hard USD quota under 50 concurrent paid chat completions.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
const main = join(root, 'src', 'cli', 'main.ts');
const tsx = import.meta.resolve('tsx');
const server = await testServer();

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const port = (probe.address() as { port: number }).port;
      probe.close(() => resolve(port));
    });
  });
}

async function startServe(cwd: string, databaseUrl: string): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', tsx, main, 'serve', '--port', String(port)], {
    cwd,
    env: { ...process.env, DATABASE_URL: databaseUrl, GROUNDWORK_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 600; i++) {
    if (
      await fetch(`${url}/readyz`).then(
        (r) => r.ok,
        () => false,
      )
    )
      return { child, url };
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`serve did not become ready (exit ${child.exitCode}): ${stderr.slice(0, 2000)}`);
}

describe.skipIf(!server.available)('two serve replicas on one PostgreSQL', () => {
  let mock: MockLlm;
  const replicas: Array<{ child: ChildProcess; url: string }> = [];
  let rateKey: string;
  let paidKey: string;
  const QUOTA_USD = 0.2;

  beforeAll(async () => {
    const schema = await server.createSchema('gw_replicas');
    // Every connection of both processes works in the schema (libpq `options` in the URL).
    const databaseUrl = `${server.url}${server.url.includes('?') ? '&' : '?'}options=${encodeURIComponent(`-c search_path=${schema},public`)}`;
    // Latency keeps paid requests in flight together, so the quota is contended.
    mock = await startMockLlm({ seed: 7, latency: { minMs: 50, maxMs: 150 } });
    const dir = mkdtempSync(join(tmpdir(), 'gw-replicas-'));
    const file = {
      providers: { mock: { type: 'openai-compatible', base_url: mock.url } },
      // $1 per 1,000 tokens: a call's maximum is a few cents.
      models: { 'mock-model': { provider: 'mock', price: { input_per_mtok: 1_000, output_per_mtok: 1_000 } } },
      routes: { default: ['mock-model'] },
      limits: { requests_per_minute: 100_000 },
    };
    writeFileSync(join(dir, 'groundwork.yaml'), stringify(file));

    // An operator's set-up, in-process on the same database: tenants, keys, the quota.
    const config = loadConfig({ env: { DATABASE_URL: databaseUrl }, cwd: dir, overrides: { logLevel: 'silent' } });
    const app = await createApp(config, { lock: false, logger: { error: () => {} } });
    try {
      await app.auth.createTenant({ id: 'rate-tenant' });
      rateKey = (await app.auth.createKey('rate-tenant', { role: 'runner', requestsPerMinute: 600 })).key;
      await app.auth.createTenant({ id: 'paid-tenant' });
      paidKey = (await app.auth.createKey('paid-tenant', { role: 'runner' })).key;
      await app.limits.quotas.setQuota('paid-tenant', { metric: 'usd', period: 'day', limit: QUOTA_USD, enforcement: 'hard' });
    } finally {
      await app.close();
    }
    replicas.push(...(await Promise.all([startServe(dir, databaseUrl), startServe(dir, databaseUrl)])));
  }, 120_000);

  afterAll(async () => {
    for (const { child } of replicas) child.kill('SIGTERM');
    await Promise.all(replicas.map(({ child }) => new Promise((resolve) => (child.exitCode !== null ? resolve(null) : child.once('exit', resolve)))));
    await mock?.close();
    await server.cleanup();
  }, 60_000);

  it('admit 600 (±1%) of 2,000 concurrent requests on one key limited to 600/min', async () => {
    const responses = await Promise.all(
      Array.from({ length: 2_000 }, (_, i) =>
        fetch(`${replicas[i % 2].url}/v1/quotas`, { headers: { authorization: `Bearer ${rateKey}` } }).then(async (r) => ({
          status: r.status,
          code: r.status === 200 ? undefined : ((await r.json()) as { error: { code: string } }).error.code,
          limit: r.headers.get('x-ratelimit-limit'),
        })),
      ),
    );
    const admitted = responses.filter((r) => r.status === 200);
    console.info(`limit test: ${admitted.length} of ${responses.length} concurrent requests admitted at 600/min across 2 replicas`);
    expect(Math.abs(admitted.length - 600)).toBeLessThanOrEqual(6);
    expect(new Set(responses.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.code}`))).toEqual(new Set(['429 RATE_LIMITED']));
    expect(admitted.every((r) => r.limit === '600')).toBe(true);
  }, 120_000);

  it('never let 50 concurrent paid requests take a hard USD quota past its limit', async () => {
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        fetch(`${replicas[i % 2].url}/v1/chat/completions`, {
          method: 'POST',
          headers: { authorization: `Bearer ${paidKey}`, 'content-type': 'application/json' },
          body: JSON.stringify({ model: 'mock-model', max_tokens: 20, messages: [{ role: 'user', content: `question ${i}: what is the refund policy?` }] }),
        }).then(async (r) => ({ status: r.status, body: (await r.json()) as { usage?: { total_tokens: number }; error?: { code: string } } })),
      ),
    );
    const paid = responses.filter((r) => r.status === 200);
    const refused = responses.filter((r) => r.status !== 200);
    expect(paid.length).toBeGreaterThan(0);
    expect(refused.length).toBeGreaterThan(0);
    expect(new Set(refused.map((r) => r.body.error?.code))).toEqual(new Set(['QUOTA_EXCEEDED']));

    // The quota was reserved up front at each call's maximum, so what was used stays under it;
    // and nothing stays held once every request has settled.
    const quotas = async () =>
      (
        (await (await fetch(`${replicas[0].url}/v1/quotas`, { headers: { authorization: `Bearer ${paidKey}` } })).json()) as {
          quotas: Array<{ used: number; reserved: number; limit: number }>;
        }
      ).quotas[0];
    await expect.poll(async () => (await quotas()).reserved, { timeout: 10_000 }).toBe(0);
    const standing = await quotas();
    console.info(`quota test: ${paid.length} paid, ${refused.length} refused; used $${standing.used} of a $${standing.limit} hard quota`);
    expect(standing.limit).toBe(QUOTA_USD);
    expect(standing.used).toBeGreaterThan(0);
    expect(standing.used).toBeLessThanOrEqual(QUOTA_USD);
    // What the quota counted is what the recorded runs cost.
    await expect
      .poll(
        async () =>
          (
            (await (await fetch(`${replicas[1].url}/v1/usage?group_by=key`, { headers: { authorization: `Bearer ${paidKey}` } })).json()) as {
              totals: { cost_usd: number };
            }
          ).totals.cost_usd,
        { timeout: 10_000 },
      )
      .toBeCloseTo(standing.used, 6);
  }, 120_000);
});
