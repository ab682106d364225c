import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroundworkError } from '../kernel/errors.js';
import { openDatabase } from '../store/database.js';
import { migrate } from '../store/migrations.js';
import type { Database } from '../store/ports.js';
import { testServer } from '../store/test-server.js';
import { createLimits } from './index.js';
import type { LimitsService } from './ports.js';
import { createKeyRateLimiter } from './rate-limiter.js';
import { addTenant, principal } from './test-fixtures.js';

/**
 * Limits on a PostgreSQL server, as replicas see them: each "replica" is its own Limits over
 * its own connection pool on one database (a private schema), and they must agree exactly.
 */

const server = await testServer();
const config = { limits: { backend: 'auto' as const, requests_per_minute: 600, tokens_per_minute: 1_000_000 } };

describe.skipIf(!server.available)('limits on PostgreSQL', () => {
  const databases: Database[] = [];
  const limitsList: LimitsService[] = [];
  let replicaA: LimitsService;
  let replicaB: LimitsService;
  let db: Database;
  let n = 0;

  const tenant = async () => {
    n += 1;
    const id = `pg-tenant-${n}`;
    await addTenant(db, id);
    return id;
  };

  beforeAll(async () => {
    const schema = await server.createSchema('gw_limits');
    for (let i = 0; i < 2; i++) databases.push(await openDatabase({ databaseUrl: server.url, schema, maxConnections: 10 }));
    db = databases[0];
    await migrate(db);
    [replicaA, replicaB] = databases.map((database) => createLimits({ db: database, config, logger: { error: () => {}, warn: () => {} } }));
    limitsList.push(replicaA, replicaB);
  });

  afterAll(async () => {
    await Promise.all(limitsList.map((l) => l.close()));
    await Promise.all(databases.map((d) => d.close()));
    await server.cleanup();
  });

  it('two replicas sharing one key at 600/min admit 600 of 2,000 concurrent requests', async () => {
    const key = principal('pg-rate', { keyId: 'shared-key' });
    const attempts = Array.from({ length: 2_000 }, (_, i) => (i % 2 === 0 ? replicaA : replicaB).admit(key));
    const results = await Promise.allSettled(attempts);
    const admitted = results.filter((r) => r.status === 'fulfilled').length;
    expect(Math.abs(admitted - 600)).toBeLessThanOrEqual(6);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as GroundworkError);
    expect(rejected.every((e) => e.code === 'RATE_LIMITED' && e.details.scope === 'requests' && e.details.limit === 600)).toBe(true);
    // The count lives in the table, not in either process.
    const [row] = await db.query<{ points: number }>(`SELECT points FROM rate_limit_counters WHERE key = 'gw-requests:pg-rate:shared-key'`);
    expect(row.points).toBeGreaterThanOrEqual(600);
  });

  it("tokens one replica settles count against the key's tokens/minute on the other", async () => {
    const key = principal('pg-tokens', { tokensPerMinute: 1_000 });
    const held = await replicaA.reserve(key, { tokens: 500, usd: 0 });
    // While it is held, the other replica cannot hold what would not fit the minute.
    expect(await replicaB.reserve(key, { tokens: 600, usd: 0 }).catch((e: unknown) => e)).toMatchObject({
      code: 'RATE_LIMITED',
      details: { scope: 'tokens', remaining: 500 },
    });
    await held.settle({ tokens: 1_000, usd: 0 });
    const error = await replicaB.admit(key).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'RATE_LIMITED', details: { scope: 'tokens', limit: 1_000 } });
  });

  it('200 concurrent reserves against a hard USD quota, across two replicas, never overshoot', async () => {
    const id = await tenant();
    await replicaA.quotas.setQuota(id, { metric: 'usd', period: 'day', limit: 1, enforcement: 'hard' });
    const results = await Promise.allSettled(
      Array.from({ length: 200 }, (_, i) => (i % 2 === 0 ? replicaA : replicaB).reserve(principal(id), { tokens: 0, usd: 0.01 })),
    );
    const held = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
    expect(held).toHaveLength(100);
    expect(results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').every((r) => r.reason.code === 'QUOTA_EXCEEDED')).toBe(true);
    const [standing] = await replicaB.quotas.getQuotas(id);
    expect(standing).toMatchObject({ used: 0, reserved: 1 });

    // Settling swaps reservations for actual use; releasing returns the rest.
    await Promise.all(held.map((h, i) => (i < 60 ? h.settle({ tokens: 10, usd: 0.005 }) : h.release())));
    expect((await replicaA.quotas.getQuotas(id))[0]).toMatchObject({ used: 0.3, reserved: 0 });
  });

  it('reserve-then-settle under contention: settled usage never passes a hard limit when actual ≤ maximum', async () => {
    const id = await tenant();
    await replicaA.quotas.setQuota(id, { metric: 'tokens', period: 'month', limit: 5_000, enforcement: 'hard' });
    const work = async (i: number) => {
      const limits = i % 2 === 0 ? replicaA : replicaB;
      const held = await limits.reserve(principal(id), { tokens: 100, usd: 0 }).catch(() => undefined);
      if (!held) return 0;
      const actual = 50 + (i % 51);
      await held.settle({ tokens: actual, usd: 0 });
      return actual;
    };
    const used = (await Promise.all(Array.from({ length: 300 }, (_, i) => work(i)))).reduce((a, b) => a + b, 0);
    const [standing] = await replicaA.quotas.getQuotas(id);
    expect(standing.used).toBe(used);
    expect(standing.used).toBeLessThanOrEqual(5_000);
    expect(standing.reserved).toBe(0);
  });

  it('holds in the day and the month or in neither (one transaction)', async () => {
    const id = await tenant();
    await replicaA.quotas.setQuota(id, { metric: 'usd', period: 'day', limit: 10, enforcement: 'hard' });
    await replicaA.quotas.setQuota(id, { metric: 'usd', period: 'month', limit: 0.5, enforcement: 'hard' });
    const error = await replicaB
      .reserve(principal(id), { tokens: 0, usd: 0.4 })
      .then(() => replicaB.reserve(principal(id), { tokens: 0, usd: 0.4 }))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'QUOTA_EXCEEDED', details: { metric: 'usd', period: 'month', limit: 0.5, reserved: 0.4 } });
    const quotas = await replicaA.quotas.getQuotas(id);
    expect(quotas.map((q) => [q.period, q.reserved])).toEqual([
      ['day', 0.4],
      ['month', 0.4],
    ]);
  });

  it('concurrent reservations over a day and a month quota neither deadlock nor overshoot', async () => {
    const id = await tenant();
    await replicaA.quotas.setQuota(id, { metric: 'usd', period: 'day', limit: 10, enforcement: 'hard' });
    await replicaA.quotas.setQuota(id, { metric: 'usd', period: 'month', limit: 0.5, enforcement: 'hard' });
    const results = await Promise.allSettled(
      Array.from({ length: 120 }, (_, i) => (i % 2 === 0 ? replicaA : replicaB).reserve(principal(id), { tokens: 0, usd: 0.01 })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(50);
    expect(results.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason.code)).toEqual(Array(70).fill('QUOTA_EXCEEDED'));
    expect((await replicaA.quotas.getQuotas(id)).map((q) => q.reserved)).toEqual([0.5, 0.5]);
  });

  it('soft quotas flag requests over them and never reject', async () => {
    const id = await tenant();
    await replicaA.quotas.setQuota(id, { metric: 'tokens', period: 'day', limit: 100, enforcement: 'soft' });
    const first = await replicaA.reserve(principal(id), { tokens: 80, usd: 0 });
    const second = await replicaB.reserve(principal(id), { tokens: 80, usd: 0 });
    expect([first.overSoftQuota, second.overSoftQuota]).toEqual([false, true]);
  });

  it('takes absurd amounts (max_tokens: 1e21) as a flag or a typed refusal, never a database error', async () => {
    const id = await tenant();
    await replicaA.quotas.setQuota(id, { metric: 'tokens', period: 'day', limit: 100, enforcement: 'soft' });
    expect((await replicaA.reserve(principal(id), { tokens: 200, usd: 1e21 })).overSoftQuota).toBe(true);
    // More tokens than any key may use in a minute is the key's limit speaking: typed, before any SQL.
    expect(await replicaA.reserve(principal(id), { tokens: 1e21, usd: 1e21 }).catch((e: unknown) => e)).toMatchObject({
      code: 'RATE_LIMITED',
      details: { scope: 'tokens' },
    });
    const error = await replicaA.quotas.setQuota(id, { metric: 'tokens', period: 'month', limit: 1e21, enforcement: 'hard' }).catch((e: unknown) => e);
    expect((error as { code?: string }).code).toBe('REQUEST_INVALID_BODY');
  });

  it('a quota set on one replica applies on the others within a second', async () => {
    const id = await tenant();
    await (await replicaB.reserve(principal(id), { tokens: 10, usd: 0 })).release();
    await replicaA.quotas.setQuota(id, { metric: 'tokens', period: 'day', limit: 5, enforcement: 'hard' });
    await expect
      .poll(
        async () =>
          replicaB.reserve(principal(id), { tokens: 10, usd: 0 }).then(
            async (held) => (await held.release(), 'held'),
            (e: GroundworkError) => e.code,
          ),
        { timeout: 3_000, interval: 200 },
      )
      .toBe('QUOTA_EXCEEDED');
  });
});

const redisServer = spawnSync('redis-server', ['--version']).status === 0;

describe.skipIf(!redisServer)('Redis rate-limit backend', () => {
  let redis: ChildProcess;
  let url: string;

  beforeAll(async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, '127.0.0.1', () => {
        const found = (probe.address() as { port: number }).port;
        probe.close(() => resolve(found));
      });
    });
    redis = spawn('redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    url = `redis://127.0.0.1:${port}`;
    for (let i = 0; i < 50; i++) {
      const up = await new Promise<boolean>((resolve) => {
        const socket = createConnection(port, '127.0.0.1');
        socket.once('connect', () => (socket.destroy(), resolve(true)));
        socket.once('error', () => resolve(false));
      });
      if (up) break;
      await new Promise((r) => setTimeout(r, 100));
    }
  });

  afterAll(() => {
    redis?.kill('SIGTERM');
  });

  it('two processes sharing one key at 600/min admit 600 of 2,000 concurrent requests', async () => {
    const limiters = [0, 1].map(() =>
      createKeyRateLimiter({ backend: 'redis', redisUrl: url, defaults: { requestsPerMinute: 600, tokensPerMinute: 1_000_000 } }),
    );
    try {
      const key = principal('redis-tenant');
      const results = await Promise.allSettled(Array.from({ length: 2_000 }, (_, i) => limiters[i % 2].admit(key)));
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(600);
      await limiters[0].adjustTokens(key, 1_000_000);
      expect(await limiters[1].admit(principal('redis-tenant')).catch((e: unknown) => e)).toMatchObject({ code: 'RATE_LIMITED' });
    } finally {
      await Promise.all(limiters.map((l) => l.close()));
    }
  });
});
