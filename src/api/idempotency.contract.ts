import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { loadConfig, type Config } from '../config/config.js';
import { canonicalJson } from '../kernel/json.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { buildServer } from './server.js';
import { tenantWithKey } from './test-auth.js';

/**
 * Idempotency-Key keeps only final outcomes and never strands a key. Run on the embedded store
 * (idempotency.test.ts) and on a PostgreSQL server (idempotency.int.test.ts), with a claim
 * lease of LEASE_MS so that "the owner's lease ran out" takes milliseconds, not 15 seconds.
 */

export interface IdempotencyStore {
  /** Config overrides selecting the store (dataDir memory:// or a databaseUrl). */
  store: Partial<Config>;
  schema?: string;
}

const LEASE_MS = 400;
const RENEW_MS = 80;
const INSTANCE = 'inst_this';
const SLOW_MS = 2_500;
const input = { subject: 'Refund', body: 'Charged twice', customer: { name: 'Dana' } };
const runUrl = (task: string) => `/v1/tasks/${task}/run`;

export function idempotencyContract(storeUnderTest: () => Promise<IdempotencyStore>): void {
  let healthy: MockLlm;
  let failing: MockLlm;
  let slow: MockLlm;
  let app: App;
  let server: FastifyInstance;
  let tenantId: string;
  let authorization: string;
  let n = 0;
  const freshKey = () => `idem-${++n}-${Date.now().toString(36)}`;

  const post = (task: string, key: string, body: unknown = { input }) =>
    server.inject({ method: 'POST', url: runUrl(task), headers: { authorization, 'idempotency-key': key }, payload: body as object });
  const row = async (key: string) =>
    (
      await app.store.db.query<{ status: string; owner: string | null; claim_id: string | null; lease_until: Date | null; response_status: number | null }>(
        'SELECT status, owner, claim_id, lease_until, response_status FROM idempotency_keys WHERE tenant_id = $1 AND key = $2',
        [tenantId, key],
      )
    )[0];
  /** A claim another process holds (or held): `leaseMs` from now, negative for one that ran out. */
  const foreignClaim = (key: string, leaseMs: number, body: unknown = { input }) =>
    app.store.db.query(
      `INSERT INTO idempotency_keys (tenant_id, key, scope, body_hash, status, owner, claim_id, lease_until, created_at)
       VALUES ($1, $2, $3, $4, 'pending', 'inst_other', 'claim-other', clock_timestamp() + $5::double precision * interval '1 millisecond',
               clock_timestamp() - interval '1 minute')`,
      [tenantId, key, `POST ${runUrl('triage-default')}`, createHash('sha256').update(canonicalJson(body)).digest('hex'), leaseMs],
    );

  beforeAll(async () => {
    const target = await storeUnderTest();
    healthy = await startMockLlm({ seed: 11 });
    failing = await startMockLlm({ seed: 12, faults: { error5xx: 1 } });
    slow = await startMockLlm({ seed: 13, latency: { minMs: SLOW_MS, maxMs: SLOW_MS } });
    const mocks = { healthy, failing, slow };
    const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-idem-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
    const config: Config = {
      ...base,
      ...target.store,
      providers: Object.fromEntries(
        Object.entries(mocks).map(([name, mock]) => [name, { name, type: 'openai-compatible' as const, base_url: mock.url, native_structured_output: true }]),
      ),
      models: {
        ...base.models,
        ...Object.fromEntries(
          Object.keys(mocks).map((name) => [`${name}-model`, { name: `${name}-model`, provider: name, price: { input_per_mtok: 1, output_per_mtok: 2 } }]),
        ),
      },
      routes: { default: ['healthy-model'], failing: ['failing-model'], slow: ['slow-model'] },
      resilience: { ...base.resilience, retries: 0, backoff_base_ms: 1, attempt_timeout_ms: SLOW_MS * 4 },
    };
    app = await createApp(config, { lock: false, schema: target.schema, logger: { error: () => undefined } });
    server = await buildServer(app, { logger: false, idempotency: { instanceId: INSTANCE, leaseMs: LEASE_MS, renewMs: RENEW_MS } });
    const owner = await tenantWithKey(app, 'admin');
    tenantId = owner.tenantId;
    authorization = `Bearer ${owner.key}`;
    for (const route of ['default', 'failing', 'slow']) {
      const pushed = await server.inject({
        method: 'POST',
        url: '/v1/tasks',
        headers: { authorization },
        payload: triageDefinition({ name: `triage-${route}`, route }),
      });
      expect(pushed.statusCode).toBe(201);
    }
  });

  afterAll(async () => {
    await server?.close();
    await app?.close();
    await Promise.all([healthy?.close(), failing?.close(), slow?.close()]);
  });

  describe('Idempotency-Key stores only final outcomes', () => {
    it('does not replay a 429 QUOTA_EXCEEDED: once the quota is raised the same key runs and answers 200', async () => {
      const key = freshKey();
      await app.limits.quotas.setQuota(tenantId, { metric: 'tokens', period: 'day', limit: 1, enforcement: 'hard' });
      try {
        const refused = await post('triage-default', key);
        expect(refused.statusCode).toBe(429);
        expect(refused.json().error.code).toBe('QUOTA_EXCEEDED');
        expect(await row(key)).toBeUndefined();

        await app.limits.quotas.setQuota(tenantId, { metric: 'tokens', period: 'day', limit: 10_000_000, enforcement: 'hard' });
        const ran = await post('triage-default', key);
        expect(ran.statusCode).toBe(200);
        expect(ran.headers['idempotent-replayed']).toBeUndefined();
        const replayed = await post('triage-default', key);
        expect(replayed.headers['idempotent-replayed']).toBe('true');
        expect(replayed.json().run_id).toBe(ran.json().run_id);
      } finally {
        await app.limits.quotas.removeQuota(tenantId, 'tokens', 'day');
      }
    });

    it('does not store a 5xx: a retry with the same key calls the model again', async () => {
      const key = freshKey();
      const first = await post('triage-failing', key);
      expect(first.statusCode).toBeGreaterThanOrEqual(500);
      const calls = failing.stats().total;
      const retry = await post('triage-failing', key);
      expect(retry.statusCode).toBeGreaterThanOrEqual(500);
      expect(retry.headers['idempotent-replayed']).toBeUndefined();
      expect(failing.stats().total).toBeGreaterThan(calls);
      expect(await row(key)).toBeUndefined();
    });

    it('replays a final client error (400) and the first answer after a refused different body', async () => {
      const key = freshKey();
      const bad = { input: { subject: 'Refund' } };
      const first = await post('triage-default', key, bad);
      expect(first.statusCode).toBe(400);
      expect(first.json().error.code).toBe('TASK_INPUT_INVALID');
      const replayed = await post('triage-default', key, bad);
      expect(replayed.statusCode).toBe(400);
      expect(replayed.headers['idempotent-replayed']).toBe('true');
      expect(replayed.json()).toEqual(first.json());

      // IDEMPOTENCY_KEY_REUSED is an answer to the second request only: the stored one stands.
      const reused = await post('triage-default', key);
      expect(reused.json().error.code).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(await row(key)).toMatchObject({ status: 'done', response_status: 400 });
      expect((await post('triage-default', key, bad)).json()).toEqual(first.json());
    });
  });

  describe('Idempotency-Key never strands a key', () => {
    it('takes over at once a pending claim whose owner died (its lease ran out)', async () => {
      const key = freshKey();
      await foreignClaim(key, -1_000);
      const response = await post('triage-default', key);
      expect(response.statusCode).toBe(200);
      expect(response.headers['idempotent-replayed']).toBeUndefined();
      expect(await row(key)).toMatchObject({ status: 'done', owner: INSTANCE, response_status: 200 });
    });

    it('answers IN_PROGRESS while a live owner holds the claim, and leaves that claim as it was', async () => {
      const key = freshKey();
      await foreignClaim(key, 3_600_000);
      const before = await row(key);
      const busy = await post('triage-default', key);
      expect(busy.statusCode).toBe(409);
      expect(busy.json().error.code).toBe('IDEMPOTENCY_IN_PROGRESS');
      const other = await post('triage-default', key, { input: { ...input, subject: 'Other' } });
      expect(other.json().error.code).toBe('IDEMPOTENCY_KEY_REUSED');
      expect(await row(key)).toEqual(before);
      expect(before).toMatchObject({ status: 'pending', owner: 'inst_other', claim_id: 'claim-other' });
    });

    it('renews the lease of a request in flight: past its first lease a second request is still IN_PROGRESS, then gets the answer', async () => {
      const key = freshKey();
      const callsBefore = slow.stats().total;
      const first = post('triage-slow', key);
      // The first request is in flight once its model call has reached the mock.
      for (let waited = 0; slow.stats().total === callsBefore && waited < 10_000; waited += 5) await new Promise((r) => setTimeout(r, 5));
      const claimed = (await row(key))!;
      expect(claimed).toMatchObject({ status: 'pending', owner: INSTANCE });
      // Wait (on the database's clock, which leases use) until the first lease would have run out.
      const firstLease = claimed.lease_until as Date;
      for (let waited = 0; waited < 10_000; waited += 20) {
        const [{ past }] = await app.store.db.query<{ past: boolean }>('SELECT clock_timestamp() > $1::timestamptz AS past', [firstLease]);
        if (past) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      const renewed = (await row(key))!;
      expect(renewed.status).toBe('pending');
      expect((renewed.lease_until as Date).getTime()).toBeGreaterThan(firstLease.getTime());
      const second = await post('triage-slow', key);
      expect(second.json().error?.code).toBe('IDEMPOTENCY_IN_PROGRESS');

      const done = await first;
      expect(done.statusCode).toBe(200);
      const replayed = await post('triage-slow', key);
      expect(replayed.headers['idempotent-replayed']).toBe('true');
      expect(replayed.json().run_id).toBe(done.json().run_id);
      expect(slow.stats().total).toBe(callsBefore + 1);
    });
  });
}
