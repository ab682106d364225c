import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { loadConfig } from '../config/config.js';
import { runRecord } from '../limits/test-fixtures.js';
import { buildServer } from './server.js';
import { authorize, tenantWithKey } from './test-auth.js';

/** GET /v1/usage and GET /v1/quotas on the embedded store (PGlite), through the real auth hook. */

const DAY = 86_400_000;
let app: App;
let server: FastifyInstance;
let tenantId: string;
let viewerKey: string;
let otherKey: string;
const today = new Date(Math.floor(Date.now() / DAY) * DAY);
const iso = (ms: number) => new Date(ms).toISOString().slice(0, 10);

beforeAll(async () => {
  const config = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-usage-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
  app = await createApp(config, { lock: false, logger: { error: () => undefined } });
  server = await buildServer(app, { logger: false });
  const viewer = await tenantWithKey(app, 'viewer');
  tenantId = viewer.tenantId;
  viewerKey = viewer.key;
  const other = await tenantWithKey(app, 'admin');
  otherKey = other.key;
  authorize(server, viewerKey);

  const at = (ms: number) => new Date(ms);
  const record = (tenant: string, run: Parameters<typeof runRecord>[0]) => app.store.runs.record(tenant, runRecord(run));
  await record(tenantId, {
    createdAt: at(today.getTime() + 1_000),
    taskName: 'triage',
    model: 'small',
    keyId: 'key-a',
    inputTokens: 100,
    outputTokens: 10,
    costUsd: 0.01,
  });
  await record(tenantId, {
    createdAt: at(today.getTime() + 2_000),
    taskName: 'triage',
    model: 'large',
    keyId: 'key-b',
    inputTokens: 200,
    outputTokens: 20,
    costUsd: 0.05,
  });
  await record(tenantId, {
    createdAt: at(today.getTime() + 3_000),
    taskName: 'summarize',
    status: 'error',
    model: undefined,
    error: { code: 'MODEL_ALL_TIERS_FAILED', message: 'x', details: {} },
    keyId: undefined,
    inputTokens: 50,
    outputTokens: 0,
    costUsd: 0.002,
  });
  await record(tenantId, {
    createdAt: at(today.getTime() - 29 * DAY + 5_000),
    taskName: 'triage',
    model: 'small',
    keyId: 'key-a',
    inputTokens: 1,
    outputTokens: 1,
    costUsd: 0.001,
  });
  await record(tenantId, {
    createdAt: at(today.getTime() - 40 * DAY),
    taskName: 'triage',
    model: 'small',
    keyId: 'key-a',
    inputTokens: 7,
    outputTokens: 7,
    costUsd: 7,
  });
  // Another tenant's runs never show up.
  await record(other.tenantId, {
    createdAt: at(today.getTime() + 1_000),
    taskName: 'triage',
    model: 'small',
    keyId: 'other',
    inputTokens: 999,
    outputTokens: 999,
    costUsd: 99,
  });
});

afterAll(async () => {
  await server?.close();
  await app?.close();
});

describe('GET /v1/usage', () => {
  it('defaults to the last 30 days by UTC day, with totals', async () => {
    const response = await server.inject({ method: 'GET', url: '/v1/usage' });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.group_by).toBe('day');
    expect(body.from).toBe(new Date(today.getTime() - 29 * DAY).toISOString());
    expect(body.rows).toEqual([
      { group: iso(today.getTime() - 29 * DAY), runs: 1, errors: 0, input_tokens: 1, output_tokens: 1, cost_usd: 0.001 },
      { group: iso(today.getTime()), runs: 3, errors: 1, input_tokens: 350, output_tokens: 30, cost_usd: expect.closeTo(0.062, 9) },
    ]);
    expect(body.totals).toEqual({ runs: 4, errors: 1, input_tokens: 351, output_tokens: 31, cost_usd: expect.closeTo(0.063, 9) });
  });

  it('groups by task, model and key', async () => {
    const from = iso(today.getTime());
    const groups = async (by: string) =>
      (await server.inject({ method: 'GET', url: `/v1/usage?group_by=${by}&from=${from}` }))
        .json()
        .rows.map((r: { group: string; runs: number }) => [r.group, r.runs]);
    expect(await groups('task')).toEqual([
      ['summarize', 1],
      ['triage', 2],
    ]);
    expect(await groups('model')).toEqual([
      ['(none)', 1],
      ['large', 1],
      ['small', 1],
    ]);
    expect(await groups('key')).toEqual([
      ['(none)', 1],
      ['key-a', 1],
      ['key-b', 1],
    ]);
  });

  it('charges each attempt to the model that spent it, not to the model that finally answered', async () => {
    // Issue 9 item 16: a failed cheap tier's tokens and cost were shown under the capable model.
    const { tenantId: own, key } = await tenantWithKey(app, 'viewer');
    const attempt = (seq: number, model: string, outcome: 'ok' | 'invalid_output', inputTokens: number, outputTokens: number, costUsd: number) => ({
      seq,
      tier: seq - 1,
      model,
      provider: 'p',
      outcome,
      inputTokens,
      outputTokens,
      tokensEstimated: false,
      costUsd,
      latencyMs: 1,
    });
    await app.store.runs.record(
      own,
      runRecord({
        createdAt: new Date(today.getTime() + 4_000),
        model: 'capable',
        inputTokens: 300,
        outputTokens: 50,
        costUsd: 0.011,
        attempts: [attempt(1, 'cheap', 'invalid_output', 100, 30, 0.001), attempt(2, 'capable', 'ok', 200, 20, 0.01)],
      }),
    );
    const body = (
      await server.inject({ method: 'GET', url: `/v1/usage?group_by=model&from=${iso(today.getTime())}`, headers: { authorization: `Bearer ${key}` } })
    ).json();
    expect(body.rows).toEqual([
      { group: 'capable', runs: 1, errors: 0, input_tokens: 200, output_tokens: 20, cost_usd: 0.01 },
      { group: 'cheap', runs: 1, errors: 0, input_tokens: 100, output_tokens: 30, cost_usd: 0.001 },
    ]);
    // The run counts once in the totals, with all it spent.
    expect(body.totals).toEqual({ runs: 1, errors: 0, input_tokens: 300, output_tokens: 50, cost_usd: 0.011 });
  });

  it('takes a date `to` as "through that day" and a date-time `to` as exclusive', async () => {
    const day = iso(today.getTime());
    const through = (await server.inject({ method: 'GET', url: `/v1/usage?from=${day}&to=${day}` })).json();
    expect(through.totals.runs).toBe(3);
    const until = new Date(today.getTime() + 2_000).toISOString();
    expect((await server.inject({ method: 'GET', url: `/v1/usage?from=${day}&to=${until}` })).json().totals.runs).toBe(1);
    const range = (await server.inject({ method: 'GET', url: `/v1/usage?from=${iso(today.getTime() - 60 * DAY)}&to=${day}` })).json();
    expect(range.totals).toMatchObject({ runs: 5, cost_usd: expect.closeTo(7.063, 9) });
  });

  it.each([
    ['from=yesterday', 'querystring/from'],
    ['from=2025-02-30', 'querystring/from'],
    ['to=2025-01-01T10:00:00', 'querystring/to'],
    ['group_by=week', 'group_by'],
    ['from=2025-03-01&to=2025-02-01', 'querystring/from'],
    ['from=2023-01-01&to=2025-01-01', 'querystring/to'],
    ['limit=5', ''],
  ])('answers %s with REQUEST_INVALID_BODY', async (query, path) => {
    const response = await server.inject({ method: 'GET', url: `/v1/usage?${query}` });
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body.error.code).toBe('REQUEST_INVALID_BODY');
    expect(JSON.stringify(body.error.details)).toContain(path);
  });

  it('needs a key', async () => {
    const response = await server.inject({ method: 'GET', url: '/v1/usage', headers: { authorization: '' } });
    expect(response.statusCode).toBe(401);
  });

  it("shows a caller only its own tenant's usage", async () => {
    const response = await server.inject({ method: 'GET', url: '/v1/usage?group_by=key', headers: { authorization: `Bearer ${otherKey}` } });
    expect(response.json().rows).toEqual([{ group: 'other', runs: 1, errors: 0, input_tokens: 999, output_tokens: 999, cost_usd: 99 }]);
  });
});

describe('GET /v1/quotas', () => {
  it("lists the tenant's quotas with where it stands, for a viewer", async () => {
    expect((await server.inject({ method: 'GET', url: '/v1/quotas' })).json()).toEqual({ quotas: [] });
    await app.limits.quotas.setQuota(tenantId, { metric: 'usd', period: 'month', limit: 5, enforcement: 'soft' });
    await app.limits.quotas.setQuota(tenantId, { metric: 'tokens', period: 'day', limit: 10_000, enforcement: 'hard' });
    const response = await server.inject({ method: 'GET', url: '/v1/quotas' });
    expect(response.statusCode).toBe(200);
    const { quotas } = response.json();
    expect(quotas).toEqual([
      {
        metric: 'tokens',
        period: 'day',
        limit: 10_000,
        enforcement: 'hard',
        used: 380,
        reserved: 0,
        period_start: today.toISOString(),
        resets_at: new Date(today.getTime() + DAY).toISOString(),
      },
      expect.objectContaining({ metric: 'usd', period: 'month', limit: 5, enforcement: 'soft', reserved: 0 }),
    ]);
    // The month's usage was seeded from the runs recorded this month.
    expect(quotas[1].used).toBeGreaterThanOrEqual(0.062);
  });
});
