import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GroundworkError } from '../kernel/errors.js';
import { openStore, type Store } from '../store/index.js';
import type { Database } from '../store/ports.js';
import { createLimits, type CreateLimitsOptions } from './index.js';
import type { LimitsService } from './ports.js';
import { addTenant, principal, runRecord } from './test-fixtures.js';

/** Quotas on the embedded store: counters in memory, seeded from the table, written behind. */

const T0 = Date.parse('2025-03-10T12:00:00Z');
const DAY = 86_400_000;
const config = { limits: { backend: 'auto' as const, requests_per_minute: 600, tokens_per_minute: 1_000_000 } };

let store: Store;
let clock: number;
let alerts: Array<{ details: Record<string, unknown>; message: string }>;
let errors: Array<{ details: Record<string, unknown>; message: string }>;
const open: LimitsService[] = [];
let n = 0;

function limitsOn(db: Database, overrides: Partial<CreateLimitsOptions> = {}): LimitsService {
  const limits = createLimits({
    db,
    config,
    now: () => clock,
    logger: { warn: (details, message) => alerts.push({ details, message }), error: (details, message) => errors.push({ details, message }) },
    quotaFlushDelayMs: 60_000,
    ...overrides,
  });
  open.push(limits);
  return limits;
}

async function freshTenant(): Promise<string> {
  n += 1;
  const id = `tenant-${n}`;
  await addTenant(store.db, id);
  return id;
}

async function rejection(promise: Promise<unknown>): Promise<GroundworkError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GroundworkError);
  return error as GroundworkError;
}

beforeAll(async () => {
  store = await openStore({ dataDir: 'memory://', lock: false });
});

afterAll(async () => {
  await Promise.all(open.map((l) => l.close()));
  await store.close();
});

beforeEach(() => {
  clock = T0;
  alerts = [];
  errors = [];
});

describe('hard quotas', () => {
  it('reserve holds the maximum, settle swaps it for the actual, release gives it back', async () => {
    const tenant = await freshTenant();
    const limits = limitsOn(store.db);
    await limits.quotas.setQuota(tenant, { metric: 'usd', period: 'day', limit: 1, enforcement: 'hard' });
    const who = principal(tenant);

    const first = await limits.reserve(who, { tokens: 1_000, usd: 0.4 });
    const second = await limits.reserve(who, { tokens: 1_000, usd: 0.4 });
    expect(first.overSoftQuota).toBe(false);

    const error = await rejection(limits.reserve(who, { tokens: 1_000, usd: 0.4 }));
    expect(error.code).toBe('QUOTA_EXCEEDED');
    expect(error.details).toEqual({
      metric: 'usd',
      period: 'day',
      limit: 1,
      used: 0,
      reserved: 0.8,
      requested: 0.4,
      resets_at: '2025-03-11T00:00:00.000Z',
      retry_after_ms: 12 * 3_600_000,
    });

    await first.settle({ tokens: 300, usd: 0.1 });
    // used 0.1 + held 0.4 + 0.4 = 0.9: fits now.
    const third = await limits.reserve(who, { tokens: 1_000, usd: 0.4 });
    expect(await limits.quotas.getQuotas(tenant)).toEqual([
      expect.objectContaining({
        metric: 'usd',
        period: 'day',
        limit: 1,
        enforcement: 'hard',
        used: 0.1,
        reserved: 0.8,
        resetsAt: new Date('2025-03-11T00:00:00Z'),
      }),
    ]);

    await second.release();
    await third.release();
    const standing = await limits.quotas.getQuotas(tenant);
    expect(standing[0]).toMatchObject({ used: 0.1, reserved: 0 });
  });

  it('admits exactly limit / price reservations: the arithmetic is exact, not floating point', async () => {
    const tenant = await freshTenant();
    const limits = limitsOn(store.db);
    await limits.quotas.setQuota(tenant, { metric: 'usd', period: 'month', limit: 1, enforcement: 'hard' });
    const results = await Promise.allSettled(Array.from({ length: 150 }, () => limits.reserve(principal(tenant), { tokens: 0, usd: 0.01 })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(100);
    expect(results.filter((r) => r.status === 'rejected').every((r) => (r as PromiseRejectedResult).reason.code === 'QUOTA_EXCEEDED')).toBe(true);
  });

  it('settles and releases once: a second call changes nothing', async () => {
    const tenant = await freshTenant();
    const limits = limitsOn(store.db);
    await limits.quotas.setQuota(tenant, { metric: 'tokens', period: 'day', limit: 1_000, enforcement: 'hard' });
    const held = await limits.reserve(principal(tenant), { tokens: 500, usd: 0 });
    await held.settle({ tokens: 200, usd: 0 });
    await held.settle({ tokens: 200, usd: 0 });
    await held.release();
    expect((await limits.quotas.getQuotas(tenant))[0]).toMatchObject({ used: 200, reserved: 0 });
  });

  it('holds in every period or in none: a month quota that says no leaves the day untouched', async () => {
    const tenant = await freshTenant();
    const limits = limitsOn(store.db);
    await limits.quotas.setQuota(tenant, { metric: 'tokens', period: 'day', limit: 10_000, enforcement: 'hard' });
    await limits.quotas.setQuota(tenant, { metric: 'tokens', period: 'month', limit: 500, enforcement: 'hard' });
    const error = await rejection(limits.reserve(principal(tenant), { tokens: 600, usd: 0 }));
    expect(error.details).toMatchObject({ metric: 'tokens', period: 'month', limit: 500, resets_at: '2025-04-01T00:00:00.000Z' });
    const quotas = await limits.quotas.getQuotas(tenant);
    expect(quotas.map((q) => [q.period, q.reserved])).toEqual([
      ['day', 0],
      ['month', 0],
    ]);
  });

  it('starts over when the period rolls over (injected clock)', async () => {
    const tenant = await freshTenant();
    const limits = limitsOn(store.db);
    await limits.quotas.setQuota(tenant, { metric: 'tokens', period: 'day', limit: 100, enforcement: 'hard' });
    await (await limits.reserve(principal(tenant), { tokens: 100, usd: 0 })).settle({ tokens: 100, usd: 0 });
    await rejection(limits.reserve(principal(tenant), { tokens: 1, usd: 0 }));

    clock = T0 + DAY;
    const next = await limits.reserve(principal(tenant), { tokens: 100, usd: 0 });
    const [day] = await limits.quotas.getQuotas(tenant);
    expect(day).toMatchObject({ used: 0, reserved: 100, periodStart: new Date('2025-03-11T00:00:00Z'), resetsAt: new Date('2025-03-12T00:00:00Z') });
    await next.release();
  });

  it('lets a request whose maximum alone is over the limit fail at once', async () => {
    const tenant = await freshTenant();
    const limits = limitsOn(store.db);
    await limits.quotas.setQuota(tenant, { metric: 'usd', period: 'day', limit: 0.5, enforcement: 'hard' });
    expect((await rejection(limits.reserve(principal(tenant), { tokens: 0, usd: 0.6 }))).details).toMatchObject({ used: 0, reserved: 0, requested: 0.6 });
  });

  it('counts a zero limit as "no usage at all"', async () => {
    const tenant = await freshTenant();
    const limits = limitsOn(store.db);
    await limits.quotas.setQuota(tenant, { metric: 'tokens', period: 'day', limit: 0, enforcement: 'hard' });
    await rejection(limits.reserve(principal(tenant), { tokens: 1, usd: 0 }));
  });
});

describe('soft quotas', () => {
  it('allow the request, flag it, and alert once per tenant and period', async () => {
    const tenant = await freshTenant();
    const limits = limitsOn(store.db);
    await limits.quotas.setQuota(tenant, { metric: 'usd', period: 'day', limit: 0.05, enforcement: 'soft' });
    const under = await limits.reserve(principal(tenant), { tokens: 0, usd: 0.05 });
    expect(under.overSoftQuota).toBe(false);
    await under.settle({ tokens: 0, usd: 0.05 });

    const over = [await limits.reserve(principal(tenant), { tokens: 0, usd: 0.01 }), await limits.reserve(principal(tenant), { tokens: 0, usd: 0.01 })];
    expect(over.map((r) => r.overSoftQuota)).toEqual([true, true]);
    expect(alerts).toHaveLength(1);
    expect(alerts[0].details).toMatchObject({ alert: 'soft_quota_exceeded', tenant_id: tenant, metric: 'usd', period: 'day', limit: 0.05, used: 0.05 });
    for (const r of over) await r.settle({ tokens: 0, usd: 0.01 });

    clock = T0 + DAY;
    const nextDay = await limits.reserve(principal(tenant), { tokens: 0, usd: 0.06 });
    expect(nextDay.overSoftQuota).toBe(true);
    expect(alerts).toHaveLength(2);
    expect(alerts[1].details).toMatchObject({ period_key: 'day:2025-03-11' });
    await nextDay.release();
  });
});

describe('no quotas', () => {
  it('reserve and settle touch no counters, but hold and settle the key tokens/minute', async () => {
    const tenant = await freshTenant();
    const limits = createLimits({ db: store.db, config: { limits: { ...config.limits, tokens_per_minute: 100 } }, now: () => clock });
    open.push(limits);
    const who = principal(tenant);
    // More than the key's tokens per minute cannot even be held.
    expect((await rejection(limits.reserve(who, { tokens: 1_000_000, usd: 1_000 }))).details).toMatchObject({ scope: 'tokens', requested: 1_000_000 });
    const held = await limits.reserve(who, { tokens: 60, usd: 1_000 });
    expect(held.overSoftQuota).toBe(false);
    // While 60 are held, a second request's 60 do not fit the minute.
    expect((await rejection(limits.reserve(who, { tokens: 60, usd: 0 }))).details).toMatchObject({ scope: 'tokens', remaining: 40 });
    await held.settle({ tokens: 100, usd: 0.01 });
    expect((await rejection(limits.admit(who))).details).toMatchObject({ scope: 'tokens' });
    expect(await store.db.query('SELECT 1 FROM quota_counters WHERE tenant_id = $1', [tenant])).toEqual([]);
  });

  it('extends a reservation before a further call, refusing (and holding nothing more) what a hard quota cannot take', async () => {
    const tenant = await freshTenant();
    const limits = limitsOn(store.db);
    await limits.quotas.setQuota(tenant, { metric: 'tokens', period: 'day', limit: 100, enforcement: 'hard' });
    const who = principal(tenant);
    const held = await limits.reserve(who, { tokens: 40, usd: 0 });
    await held.extend({ tokens: 40, usd: 0 });
    expect((await rejection(held.extend({ tokens: 40, usd: 0 }))).code).toBe('QUOTA_EXCEEDED');
    expect((await limits.quotas.getQuotas(tenant))[0]).toMatchObject({ used: 0, reserved: 80 });
    // Settling charges what was used once, and gives back everything held.
    await held.settle({ tokens: 30, usd: 0 });
    expect((await limits.quotas.getQuotas(tenant))[0]).toMatchObject({ used: 30, reserved: 0 });
  });

  it('a removed quota no longer limits', async () => {
    const tenant = await freshTenant();
    const limits = limitsOn(store.db);
    await limits.quotas.setQuota(tenant, { metric: 'tokens', period: 'day', limit: 1, enforcement: 'hard' });
    await rejection(limits.reserve(principal(tenant), { tokens: 10, usd: 0 }));
    expect(await limits.quotas.removeQuota(tenant, 'tokens', 'day')).toBe(true);
    expect(await limits.quotas.removeQuota(tenant, 'tokens', 'day')).toBe(false);
    await (await limits.reserve(principal(tenant), { tokens: 10, usd: 0 })).release();
    expect(await limits.quotas.getQuotas(tenant)).toEqual([]);
  });
});

describe('embedded write-behind', () => {
  it('makes no database round trip on the hot path, writes settled usage in a batch on close, and a restart resumes from it', async () => {
    const tenant = await freshTenant();
    await limitsOn(store.db).quotas.setQuota(tenant, { metric: 'usd', period: 'day', limit: 1, enforcement: 'hard' });
    let queries = 0;
    const counting: Database = { ...store.db, kind: 'embedded', query: (sql, params) => ((queries += 1), store.db.query(sql, params)) };
    const limits = createLimits({ db: counting, config, now: () => clock, quotaFlushDelayMs: 60_000 });
    const who = principal(tenant);
    // Warm-up: the first use reads the tenant's quotas and its day's counters.
    await (await limits.reserve(who, { tokens: 10, usd: 0.001 })).settle({ tokens: 10, usd: 0.001 });
    const warm = queries;
    const started = process.hrtime.bigint();
    for (let i = 0; i < 999; i++) {
      await limits.admit({ ...who, requestsPerMinute: 10_000 });
      await (await limits.reserve(who, { tokens: 10, usd: 0.001 })).settle({ tokens: 10, usd: 0.001 });
    }
    const perRequestUs = Number(process.hrtime.bigint() - started) / 1_000 / 999;
    expect(queries).toBe(warm);
    // Generous bound (a loaded CI machine); the target is ≲50 µs.
    expect(perRequestUs).toBeLessThan(500);

    expect(
      (await store.db.query<{ usd_used: string }>('SELECT usd_used::text AS usd_used FROM quota_counters WHERE tenant_id = $1', [tenant]))[0].usd_used,
    ).toMatch(/^0(\.0+)?$/);
    await limits.close();
    expect(queries).toBe(warm + 1);
    const [row] = await store.db.query<{ tokens_used: number; usd_used: string }>(
      'SELECT tokens_used, usd_used::text AS usd_used FROM quota_counters WHERE tenant_id = $1',
      [tenant],
    );
    expect(row.tokens_used).toBe(10_000);
    expect(Number(row.usd_used)).toBe(1);

    // A new process (same data) starts from the table: the day's dollar is spent.
    const restarted = limitsOn(store.db);
    expect((await rejection(restarted.reserve(who, { tokens: 0, usd: 0.001 }))).details).toMatchObject({ used: 1 });
  });

  it('writes batches on a timer', async () => {
    const tenant = await freshTenant();
    const limits = limitsOn(store.db, { quotaFlushDelayMs: 5 });
    await limits.quotas.setQuota(tenant, { metric: 'tokens', period: 'month', limit: 1_000, enforcement: 'hard' });
    await (await limits.reserve(principal(tenant), { tokens: 50, usd: 0 })).settle({ tokens: 40, usd: 0 });
    await expect
      .poll(
        async () => (await store.db.query<{ tokens_used: number }>('SELECT tokens_used FROM quota_counters WHERE tenant_id = $1', [tenant]))[0]?.tokens_used,
        { timeout: 2_000 },
      )
      .toBe(40);
  });
});

describe('quota administration', () => {
  it('a first quota of a period starts from the runs already recorded in it', async () => {
    const tenant = await freshTenant();
    await store.runs.record(tenant, runRecord({ createdAt: new Date(T0 - 3_600_000), inputTokens: 100, outputTokens: 50, costUsd: 0.25 }));
    await store.runs.record(tenant, runRecord({ createdAt: new Date(T0 - 2 * DAY), inputTokens: 1_000, outputTokens: 0, costUsd: 1 }));
    const limits = limitsOn(store.db);
    await limits.quotas.setQuota(tenant, { metric: 'usd', period: 'day', limit: 1, enforcement: 'hard' });
    await limits.quotas.setQuota(tenant, { metric: 'tokens', period: 'month', limit: 10_000, enforcement: 'soft' });
    const quotas = await limits.quotas.getQuotas(tenant);
    expect(quotas.map((q) => [q.metric, q.period, q.used])).toEqual([
      ['usd', 'day', 0.25],
      ['tokens', 'month', 1_150],
    ]);
    // Changing the limit of a counted period keeps the counter as it is.
    const held = await limits.reserve(principal(tenant), { tokens: 0, usd: 0.5 });
    await held.settle({ tokens: 0, usd: 0.5 });
    await limits.quotas.setQuota(tenant, { metric: 'usd', period: 'day', limit: 2, enforcement: 'hard' });
    expect((await limits.quotas.getQuotas(tenant))[0]).toMatchObject({ limit: 2, used: 0.75 });
  });

  it('rejects unknown tenants and invalid settings with typed errors', async () => {
    const limits = limitsOn(store.db);
    expect((await rejection(limits.quotas.setQuota('nobody', { metric: 'usd', period: 'day', limit: 1, enforcement: 'hard' }))).code).toBe('TENANT_NOT_FOUND');
    expect((await rejection(limits.quotas.getQuotas('nobody'))).code).toBe('TENANT_NOT_FOUND');
    const tenant = await freshTenant();
    const bad = await rejection(limits.quotas.setQuota(tenant, { metric: 'tokens', period: 'week' as 'day', limit: 1.5, enforcement: 'hard' }));
    expect(bad.code).toBe('REQUEST_INVALID_BODY');
    expect((bad.details.issues as Array<{ path: string }>).map((i) => i.path)).toEqual(['period', 'limit']);
    expect((await rejection(limits.quotas.setQuota(tenant, { metric: 'usd', period: 'day', limit: -1, enforcement: 'hard' }))).code).toBe(
      'REQUEST_INVALID_BODY',
    );
  });
});
