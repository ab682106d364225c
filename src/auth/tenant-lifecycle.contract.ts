import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { loadConfig, type Config } from '../config/config.js';
import { runRecord } from '../limits/test-fixtures.js';
import { testRouteConfig, triageDefinition } from '../tasks/test-fixtures.js';
import { TENANT_TABLES } from './tenant-purge.js';

/**
 * Disabling and deleting tenants, on the whole app (every tenant-scoped table and the job
 * queue). Run on the embedded store (tenant-lifecycle.test.ts) and on a PostgreSQL server
 * (tenant-lifecycle.int.test.ts).
 */

export interface LifecycleTarget {
  store: Partial<Config>;
  schema?: string;
}

// Every table of the store's schema with a tenant_id column, from the catalogue (not from the purge's list).
const TENANT_SCOPED_SQL = `
SELECT c.relname AS name
  FROM pg_class c
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped
 WHERE c.relnamespace = (SELECT oid FROM pg_namespace WHERE nspname = current_schema())
   AND c.relkind IN ('r', 'p') AND NOT c.relispartition`;

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'resolved';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

export function tenantLifecycleContract(target: () => Promise<LifecycleTarget>): void {
  let app: App;
  let queueSchema: string;

  beforeAll(async () => {
    const { store, schema } = await target();
    const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-tenants-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
    // A long key cache: "at once" below must not be the cache happening to expire.
    const config: Config = { ...base, ...testRouteConfig, ...store, auth: { ...base.auth, key_cache_ms: 60_000 } };
    app = await createApp(config, { lock: false, schema, logger: { error: () => undefined } });
    queueSchema = schema ? `${schema}_boss` : 'groundwork_boss';
  });
  afterAll(async () => {
    await app?.close();
  });

  const bearer = (key: string) => `Bearer ${key}`;

  /** Something in every tenant-scoped table (and the queue and rate-limit windows) for this tenant. */
  async function seed(tenantId: string): Promise<string> {
    await app.auth.createTenant({ id: tenantId });
    const { key, record } = await app.auth.createKey(tenantId, { role: 'admin' });
    await app.tasks.pushRaw(tenantId, triageDefinition());
    await app.evals.uploadDataset(tenantId, 'triage', { name: 'tickets', cases: [{ input: { subject: 'Refund', body: 'Charged twice' } }] });
    const version = (await app.tasks.resolve(tenantId, 'triage')).version;
    await app.store.evals.createEval(tenantId, {
      id: 'eval_1',
      task: 'triage',
      version,
      datasetName: 'tickets',
      datasetVersion: 'v',
      createdBy: 'test',
      leaseUntil: new Date(),
    });
    const run = runRecord({ createdAt: new Date() });
    await app.store.runs.record(tenantId, {
      ...run,
      attempts: [
        { seq: 1, tier: 0, model: 'small', provider: 'fake', outcome: 'ok', inputTokens: 1, outputTokens: 1, tokensEstimated: false, costUsd: 0, latencyMs: 1 },
      ],
    });
    await app.retrieval.createCollection(tenantId, { name: 'kb' });
    await app.ingest(tenantId, 'kb', [{ source: 'refunds.md', bytes: new TextEncoder().encode('# Refunds\n\nCard refunds take five days.') }]);
    await app.jobs.enqueueTaskRun(tenantId, { task: 'triage', input: { subject: 'Refund', body: 'Charged twice' } });
    await app.limits.quotas.setQuota(tenantId, { metric: 'tokens', period: 'day', limit: 1_000_000, enforcement: 'hard' });
    await app.store.db.query(`INSERT INTO idempotency_keys (tenant_id, key, scope, body_hash, status) VALUES ($1, 'idem-1', 'POST /v1/ask', 'h', 'done')`, [
      tenantId,
    ]);
    await app.store.db.query(`INSERT INTO rate_limit_counters (key, points, expire) VALUES ($1, 1, $2)`, [
      `gw-requests:${tenantId}:${record.id}`,
      Date.now() + 60_000,
    ]);
    return key;
  }

  /** Rows of the tenant, by table (every tenant-scoped table, the rate-limit windows and the queue). */
  async function rowsOf(tenantId: string): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    const count = async (name: string, sql: string) => {
      counts[name] = (await app.store.db.query<{ n: number }>(sql, [tenantId]))[0].n;
    };
    for (const { name } of await app.store.db.query<{ name: string }>(TENANT_SCOPED_SQL))
      await count(name, `SELECT count(*)::int AS n FROM "${name}" WHERE tenant_id = $1`);
    await count('rate_limit_counters', `SELECT count(*)::int AS n FROM rate_limit_counters WHERE split_part(key, ':', 2) = $1`);
    await count('queue', `SELECT count(*)::int AS n FROM ${queueSchema}.job WHERE data->>'tenantId' = $1`);
    return counts;
  }

  it('deletion knows every tenant-scoped table of the schema (a new one must be added to TENANT_TABLES)', async () => {
    const tables = (await app.store.db.query<{ name: string }>(TENANT_SCOPED_SQL)).map((row) => row.name).sort();
    expect([...TENANT_TABLES].sort()).toEqual(tables);
  });

  it('disable stops the tenant\u2019s keys at once, enable brings them back, and the listing shows the state', async () => {
    await app.auth.createTenant({ id: 'sleepy' });
    const { key } = await app.auth.createKey('sleepy', { role: 'runner' });
    expect((await app.auth.authenticate(bearer(key))).tenantId).toBe('sleepy'); // cached for a minute now

    const disabled = await app.auth.disableTenant('sleepy');
    expect(disabled).toMatchObject({ id: 'sleepy', state: 'disabled', disabledAt: expect.any(Date) });
    expect(await codeOf(app.auth.authenticate(bearer(key)))).toBe('AUTH_INVALID_KEY');
    // A key made while disabled does not work either; the data stays.
    const later = await app.auth.createKey('sleepy', { role: 'viewer' });
    expect(await codeOf(app.auth.authenticate(bearer(later.key)))).toBe('AUTH_INVALID_KEY');
    expect((await app.auth.listTenants()).find((t) => t.id === 'sleepy')?.state).toBe('disabled');
    expect((await app.auth.getTenant('sleepy')).tenant.state).toBe('disabled');

    const enabled = await app.auth.enableTenant('sleepy');
    expect(enabled.state).toBe('active');
    expect(enabled.disabledAt).toBeUndefined();
    expect((await app.auth.authenticate(bearer(key))).role).toBe('runner');
    expect((await app.auth.authenticate(bearer(later.key))).role).toBe('viewer');

    expect(await codeOf(app.auth.disableTenant('nobody'))).toBe('TENANT_NOT_FOUND');
    expect(await codeOf(app.auth.enableTenant('nobody'))).toBe('TENANT_NOT_FOUND');
  });

  it('delete removes every row of the tenant from every table and the queue, and leaves other tenants alone', async () => {
    const victimKey = await seed('victim');
    // A tenant whose id starts like the victim's: its rate-limit windows share a key prefix.
    const bystanderKey = await seed('victim-next');
    const before = await rowsOf('victim');
    const bystanderBefore = await rowsOf('victim-next');
    // The seed reached every table, so "0 afterwards" below means something.
    for (const [table, n] of Object.entries(before)) expect(n, table).toBeGreaterThan(0);
    expect(bystanderBefore).toEqual(before);
    await app.auth.authenticate(bearer(victimKey)); // cached

    const { tenant, removed } = await app.auth.deleteTenant('victim');
    expect(tenant).toMatchObject({ id: 'victim', state: 'deleted', deletedAt: expect.any(Date) });
    const { queue, ...tables } = before;
    expect(removed).toEqual({ ...tables, queue_entries: queue });

    const after = await rowsOf('victim');
    for (const [table, n] of Object.entries(after)) expect(n, table).toBe(0);
    expect(await rowsOf('victim-next')).toEqual(bystanderBefore);
    expect((await app.auth.authenticate(bearer(bystanderKey))).tenantId).toBe('victim-next');
  });

  it('a deleted tenant never authenticates again and its id cannot be created again', async () => {
    await app.auth.createTenant({ id: 'gone', name: 'Gone Inc' });
    const { key } = await app.auth.createKey('gone', { role: 'admin' });
    await app.auth.authenticate(bearer(key));
    await app.auth.deleteTenant('gone');

    expect(await codeOf(app.auth.authenticate(bearer(key)))).toBe('AUTH_INVALID_KEY');
    expect(await codeOf(app.auth.createTenant({ id: 'gone' }))).toBe('TENANT_DELETED');
    expect(await codeOf(app.auth.createKey('gone', { role: 'admin' }))).toBe('TENANT_DELETED');
    expect(await codeOf(app.limits.quotas.setQuota('gone', { metric: 'usd', period: 'month', limit: 1, enforcement: 'hard' }))).toBe('TENANT_NOT_FOUND');
    expect(await codeOf(app.auth.disableTenant('gone'))).toBe('TENANT_DELETED');
    expect((await app.auth.listTenants()).map((t) => t.id)).not.toContain('gone');
    const shown = await app.auth.getTenant('gone');
    expect(shown).toEqual({ tenant: expect.objectContaining({ id: 'gone', name: 'Gone Inc', state: 'deleted' }) });
    expect(shown.webhookSecret).toBeUndefined();
  });

  it('deleting again sweeps rows that work in flight wrote after the deletion', async () => {
    await app.auth.createTenant({ id: 'straggler' });
    await app.auth.deleteTenant('straggler');
    // A run that was already running when the tenant was deleted, recorded afterwards.
    await app.store.runs.record('straggler', runRecord({ createdAt: new Date() }));
    const again = await app.auth.deleteTenant('straggler');
    expect(again.removed).toEqual({ runs: 1 });
    expect(again.tenant.state).toBe('deleted');
  });

  it('refuses to delete the default tenant or an unknown one', async () => {
    await app.auth.ensureLocalAdmin(undefined);
    expect(await codeOf(app.auth.deleteTenant('default'))).toBe('REQUEST_INVALID_BODY');
    expect((await app.auth.getTenant('default')).tenant.state).toBe('active');
    expect(await codeOf(app.auth.deleteTenant('nobody'))).toBe('TENANT_NOT_FOUND');
  });
}
