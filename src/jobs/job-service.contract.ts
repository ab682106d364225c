import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { loadConfig, type Config } from '../config/config.js';
import { isGroundworkError } from '../kernel/errors.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { mulberry32 } from '../testing/mock-llm-faults.js';
import { runIdFor } from './job-runner.js';
import { QUEUES } from './queue.js';
import { isTerminal, type Job, type JobStatus } from './types.js';
import { verifyWebhook } from './webhooks.js';

/**
 * The job service contract, against a real store and a real pg-boss: run on PGlite
 * (job-service.test.ts) and on PostgreSQL (job-service.int.test.ts).
 */

export interface JobStoreUnderTest {
  store: Partial<Config>;
  schema?: string;
  /** pg-boss's schema for this app (createApp derives it from `schema`). */
  queueSchema: string;
}

const input = { subject: 'Refund', body: 'Charged twice' };
const silent = { error: () => undefined, warn: () => undefined, info: () => undefined };

/** A seed whose first draw is a fault and second is not (fault rate 0.5): fail once, then succeed. */
function failOnceSeed(): number {
  for (let seed = 1; ; seed++) {
    const draw = mulberry32(seed);
    if (draw() < 0.5 && draw() >= 0.5) return seed;
  }
}

function testConfig(mock: MockLlm, flaky: MockLlm, overrides: Partial<Config>): Config {
  const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-jobs-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
  const provider = (name: string, url: string, headers?: Record<string, string>) => ({
    name,
    type: 'openai-compatible' as const,
    base_url: url,
    native_structured_output: true,
    headers,
  });
  return {
    ...base,
    port: 18_080,
    providers: {
      ...base.providers,
      healthy: provider('healthy', mock.url),
      failing: provider('failing', mock.url, { 'x-mock-fault': '5xx' }),
      hanging: provider('hanging', mock.url, { 'x-mock-fault': 'hang' }),
      flaky: provider('flaky', flaky.url),
    },
    models: {
      ...base.models,
      'healthy-model': { name: 'healthy-model', provider: 'healthy' },
      'failing-model': { name: 'failing-model', provider: 'failing' },
      'hanging-model': { name: 'hanging-model', provider: 'hanging' },
      'flaky-model': { name: 'flaky-model', provider: 'flaky' },
    },
    routes: { default: ['healthy-model'], failing: ['failing-model'], hanging: ['hanging-model'], flaky: ['flaky-model'] },
    resilience: { ...base.resilience, retries: 0, backoff_base_ms: 1, attempt_timeout_ms: 20_000 },
    jobs: {
      ...base.jobs,
      poll_interval_ms: 100,
      retry_delay_ms: 1_000,
      max_attempts: 3,
      timeout_ms: 30_000,
      maintenance_interval_ms: 1_000,
      expiry_grace_ms: 1_000,
      webhook_max_attempts: 3,
      webhook_timeout_ms: 2_000,
      // The webhook receivers below listen on loopback, which is refused unless allowlisted.
      webhook_allow: ['127.0.0.1/32'],
    },
    ...overrides,
  };
}

export function jobServiceContract(target: () => Promise<JobStoreUnderTest>): void {
  let mock: MockLlm;
  let flaky: MockLlm;
  let app: App;
  let queueSchema: string;
  let config: Config;

  beforeAll(async () => {
    const under = await target();
    queueSchema = under.queueSchema;
    mock = await startMockLlm({ seed: 7, latency: { minMs: 20, maxMs: 40 } });
    flaky = await startMockLlm({ seed: failOnceSeed(), faults: { error5xx: 0.5 } });
    config = testConfig(mock, flaky, under.store);
    app = await createApp(config, { lock: false, schema: under.schema, logger: silent });
    await app.jobs.start(app, { logger: silent });
  });

  afterAll(async () => {
    await app?.close();
    await Promise.all([mock?.close(), flaky?.close()]);
  });

  /** A fresh tenant with the triage task on every route; its webhook secret. */
  async function tenant(): Promise<{ id: string; secret: string }> {
    const id = `t-${Math.random().toString(36).slice(2, 10)}`;
    const { webhookSecret } = await app.auth.createTenant({ id });
    for (const route of ['default', 'failing', 'hanging', 'flaky']) await app.tasks.pushRaw(id, triageDefinition({ name: `triage-${route}`, route }));
    return { id, secret: webhookSecret };
  }

  /** Follows the job until it is finished (or `until` says so); its last state. */
  async function settle(tenantId: string, id: string, until: (job: Job) => boolean = (job) => isTerminal(job.status), timeoutMs = 20_000): Promise<Job> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const job = await app.jobs.get(tenantId, id);
      if (until(job)) return job;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status} after ${timeoutMs} ms: ${JSON.stringify(job)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async function errorOf(promise: Promise<unknown>): Promise<{ code: string; details: Record<string, unknown> }> {
    try {
      await promise;
    } catch (error) {
      if (isGroundworkError(error)) return { code: error.code, details: error.details };
      throw error;
    }
    throw new Error('expected a typed error');
  }

  /** Makes a queued job look taken by a worker that then died: active in the queue, running in its row. */
  async function takenByDeadWorker(job: Job): Promise<void> {
    const db = app.store.db;
    await db.query(`UPDATE ${queueSchema}.job SET state = 'active', started_on = now() WHERE name = $1 AND id = $2`, [QUEUES.jobs, job.queueId]);
    await db.query(`UPDATE jobs SET status = 'running', attempts = 1 WHERE tenant_id = $1 AND id = $2`, [job.tenantId, job.id]);
  }

  describe('task run jobs', () => {
    it('queue, run through the app and succeed with the run as result; the run is keyed by the job', async () => {
      const { id: tenantId } = await tenant();
      const queued = await app.jobs.enqueueTaskRun(tenantId, { task: 'triage-default', input, keyId: 'key_test' });
      expect(queued).toMatchObject({ status: 'queued', kind: 'task_run', attempts: 0, maxAttempts: 3, payload: { task: 'triage-default', input } });
      expect(queued.payload).toMatchObject({ version: expect.stringMatching(/^[0-9a-f]{16}$/) });

      const done = await settle(tenantId, queued.id);
      expect(done).toMatchObject({ status: 'succeeded', attempts: 1, progress: { done: 1, total: 1 }, runId: runIdFor(queued.id, 1) });
      expect(done.error).toBeUndefined();
      expect(done.result).toMatchObject({ runId: runIdFor(queued.id, 1), model: 'healthy-model', output: { category: expect.any(String) } });
      expect(done.finishedAt).toBeInstanceOf(Date);
      const run = await app.store.runs.get(tenantId, runIdFor(queued.id, 1));
      expect(run).toMatchObject({ status: 'ok', input });
      // Run on behalf of the key that created the job (usage by key, quotas).
      const [row] = await app.store.db.query<{ key_id: string }>('SELECT key_id FROM runs WHERE tenant_id = $1 AND id = $2', [tenantId, run!.id]);
      expect(row.key_id).toBe('key_test');
      expect((await app.jobs.list(tenantId, { limit: 10 })).map((j) => j.id)).toEqual([queued.id]);
    });

    it('reject bad jobs when they are created, with typed errors', async () => {
      const { id: tenantId } = await tenant();
      expect((await errorOf(app.jobs.enqueueTaskRun(tenantId, { task: 'nope', input }))).code).toBe('TASK_NOT_FOUND');
      const invalid = await errorOf(app.jobs.enqueueTaskRun(tenantId, { task: 'triage-default', input: { subject: 1 } }));
      expect(invalid.code).toBe('TASK_INPUT_INVALID');
      expect(invalid.details.issues).toEqual(expect.arrayContaining([{ path: '/subject', message: 'must be string' }]));
      for (const url of [
        'ftp://example.com/hook',
        'not a url',
        `http://127.0.0.1:${config.port}/hook`,
        `http://localhost:${config.port}/x`,
        `http://[::1]:${config.port}/x`,
        'https://user:pw@example.com/hook',
      ]) {
        expect((await errorOf(app.jobs.enqueueTaskRun(tenantId, { task: 'triage-default', input, webhookUrl: url }))).code, url).toBe('WEBHOOK_URL_INVALID');
      }
      expect((await errorOf(app.jobs.enqueueTaskRun(tenantId, { task: 'triage-default', input, maxAttempts: 0 }))).code).toBe('REQUEST_INVALID_BODY');
      expect((await errorOf(app.jobs.enqueueIngest(tenantId, { collection: 'missing', documents: [{ source: 'a.txt', text: 'a' }] }))).code).toBe(
        'COLLECTION_NOT_FOUND',
      );
      expect(await app.jobs.list(tenantId, { limit: 10 })).toEqual([]);
    });

    it('retry a failed try after a backoff, then succeed', async () => {
      const { id: tenantId } = await tenant();
      flaky.reset();
      const job = await app.jobs.enqueueTaskRun(tenantId, { task: 'triage-flaky', input });
      const done = await settle(tenantId, job.id);
      expect(done).toMatchObject({ status: 'succeeded', attempts: 2, runId: runIdFor(job.id, 2) });
      expect(done.error).toBeUndefined();
      const first = await app.store.runs.get(tenantId, runIdFor(job.id, 1));
      const second = await app.store.runs.get(tenantId, runIdFor(job.id, 2));
      expect(first?.status).toBe('error');
      expect(second?.status).toBe('ok');
      // retry_delay_ms 1000 with backoff: the second try waits at least a second.
      expect(second!.createdAt.getTime() - first!.createdAt.getTime()).toBeGreaterThanOrEqual(900);
    });

    it('dead-letter a job that fails every try: failed with the typed error, kept in the dead-letter queue', async () => {
      const { id: tenantId } = await tenant();
      const job = await app.jobs.enqueueTaskRun(tenantId, { task: 'triage-failing', input, maxAttempts: 2 });
      const failed = await settle(tenantId, job.id);
      expect(failed).toMatchObject({
        status: 'failed',
        attempts: 2,
        runId: runIdFor(job.id, 2),
        error: { code: 'MODEL_UNAVAILABLE', details: { attempts: [{ outcome: 'provider_error' }] } },
      });
      expect(failed.result).toBeUndefined();
      const dead = await app.store.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${queueSchema}.job WHERE name = $1 AND data->>'jobId' = $2`, [
        QUEUES.jobsDead,
        job.id,
      ]);
      expect(dead[0].n).toBe(1);
    });

    it('fail a try that runs past its timeout with JOB_TIMEOUT', async () => {
      const { id: tenantId } = await tenant();
      const started = Date.now();
      const job = await app.jobs.enqueueTaskRun(tenantId, { task: 'triage-hanging', input, timeoutMs: 1_000, maxAttempts: 1 });
      const failed = await settle(tenantId, job.id);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'JOB_TIMEOUT', details: { timeout_ms: 1_000 } } });
      expect(Date.now() - started).toBeLessThan(10_000);
    });
  });

  describe('cancel', () => {
    it('a queued job: it never runs', async () => {
      const { id: tenantId } = await tenant();
      await app.jobs.stop();
      try {
        const job = await app.jobs.enqueueTaskRun(tenantId, { task: 'triage-default', input });
        const cancelled = await app.jobs.cancel(tenantId, job.id);
        expect(cancelled).toMatchObject({ status: 'cancelled', attempts: 0 });
      } finally {
        await app.jobs.start(app, { logger: silent });
      }
      // A job queued after it has run to the end: the worker has been past the cancelled one.
      const later = await app.jobs.enqueueTaskRun(tenantId, { task: 'triage-default', input });
      expect((await settle(tenantId, later.id)).status).toBe('succeeded');
      const [, job] = await app.jobs.list(tenantId, { limit: 2 });
      expect(job).toMatchObject({ status: 'cancelled', attempts: 0 });
      expect(await app.store.runs.get(tenantId, runIdFor(job.id, 1))).toBeUndefined();
    });

    it('a running job: its try is stopped', async () => {
      const { id: tenantId } = await tenant();
      const hanging = mock.stats().outcomes.hang;
      const job = await app.jobs.enqueueTaskRun(tenantId, { task: 'triage-hanging', input });
      await settle(tenantId, job.id, (j) => j.status === 'running');
      // Cancel once its model call is in flight (the mock holds it), not after a guessed pause.
      for (const deadline = Date.now() + 10_000; mock.stats().outcomes.hang === hanging && Date.now() < deadline;) await new Promise((r) => setTimeout(r, 5));
      expect(mock.stats().outcomes.hang).toBe(hanging + 1);
      const cancelled = await app.jobs.cancel(tenantId, job.id);
      expect(cancelled.status).toBe('cancelled');
      // The aborted try records its run as an error (it would have hung for 30 s).
      const deadline = Date.now() + 5_000;
      while (!(await app.store.runs.get(tenantId, runIdFor(job.id, 1))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect((await app.store.runs.get(tenantId, runIdFor(job.id, 1)))?.status).toBe('error');
      expect(await app.jobs.get(tenantId, job.id)).toMatchObject({ status: 'cancelled', attempts: 1 });
    });

    it('a finished job: JOB_ALREADY_FINISHED', async () => {
      const { id: tenantId } = await tenant();
      const job = await app.jobs.enqueueTaskRun(tenantId, { task: 'triage-default', input });
      await settle(tenantId, job.id);
      const error = await errorOf(app.jobs.cancel(tenantId, job.id));
      expect(error).toMatchObject({ code: 'JOB_ALREADY_FINISHED', details: { status: 'succeeded' } });
      expect((await app.jobs.get(tenantId, job.id)).status).toBe('succeeded');
    });
  });

  it("keeps tenants apart: another tenant's job is not found, not listed, not cancellable", async () => {
    const a = await tenant();
    const b = await tenant();
    const job = await app.jobs.enqueueTaskRun(a.id, { task: 'triage-default', input });
    expect((await errorOf(app.jobs.get(b.id, job.id))).code).toBe('JOB_NOT_FOUND');
    expect((await errorOf(app.jobs.cancel(b.id, job.id))).code).toBe('JOB_NOT_FOUND');
    expect((await errorOf(app.jobs.watch(b.id, job.id).next())).code).toBe('JOB_NOT_FOUND');
    expect(await app.jobs.list(b.id, { limit: 10 })).toEqual([]);
    expect((await settle(a.id, job.id)).status).toBe('succeeded');
  });

  it('ingest documents as a job: one outcome per document, progress by document', async () => {
    const { id: tenantId } = await tenant();
    await app.retrieval.createCollection(tenantId, { name: 'docs' });
    const job = await app.jobs.enqueueIngest(tenantId, {
      collection: 'docs',
      documents: [
        { source: 'a.md', text: '# Refunds\nRefunds take five days.' },
        { source: 'b.txt', text: 'Shipping is free over 50 euros.', metadata: { lang: 'en' } },
        { source: 'c.json', text: '{ not json', format: 'json' },
      ],
    });
    const done = await settle(tenantId, job.id);
    expect(done).toMatchObject({ status: 'succeeded', progress: { done: 3, total: 3 } });
    const results = (done.result as { results: Array<{ source: string; status: string }> }).results;
    expect(results.map((r) => [r.source, r.status])).toEqual([
      ['a.md', 'created'],
      ['b.txt', 'created'],
      ['c.json', 'failed'],
    ]);
    const { hits } = await app.retrieval.search(tenantId, { collection: 'docs', query: 'refunds', k: 1 });
    expect(hits[0]?.text).toMatch(/five days/);
  });

  it('follows a job: watch yields each change and ends once it is finished', async () => {
    const { id: tenantId } = await tenant();
    const job = await app.jobs.enqueueTaskRun(tenantId, { task: 'triage-default', input });
    const seen: JobStatus[] = [];
    for await (const state of app.jobs.watch(tenantId, job.id)) seen.push(state.status);
    expect(seen.at(-1)).toBe('succeeded');
    expect(new Set(seen).size).toBe(seen.length);
  });

  describe('a worker that dies', () => {
    it('gets its try delivered again, which finishes with the run the dead try made: no second run, no second model call', async () => {
      const { id: tenantId } = await tenant();
      await app.jobs.stop();
      let job: Job;
      try {
        job = await app.jobs.enqueueTaskRun(tenantId, { task: 'triage-default', input, timeoutMs: 1_000, maxAttempts: 2 });
        await takenByDeadWorker(job);
        // The dead try got as far as recording its successful run.
        await app.runTask({ tenantId, task: await app.tasks.resolve(tenantId, 'triage-default'), input, runId: runIdFor(job.id, 1) });
      } finally {
        await app.jobs.start(app, { logger: silent });
      }
      const calls = mock.stats().total;
      const done = await settle(tenantId, job.id);
      expect(done).toMatchObject({ status: 'succeeded', attempts: 2, runId: runIdFor(job.id, 1), result: { runId: runIdFor(job.id, 1) } });
      expect(mock.stats().total).toBe(calls);
      expect(await app.store.runs.get(tenantId, runIdFor(job.id, 2))).toBeUndefined();
    });

    it('that shuts down releases its running try: queued again at once, not failed, even on the last try', async () => {
      const { id: tenantId } = await tenant();
      const job = await app.jobs.enqueueTaskRun(tenantId, { task: 'triage-hanging', input, maxAttempts: 1 });
      await settle(tenantId, job.id, (j) => j.status === 'running');
      await app.jobs.stop({ timeoutMs: 0 });
      try {
        expect(await app.jobs.get(tenantId, job.id)).toMatchObject({ status: 'queued', attempts: 1 });
      } finally {
        await app.jobs.start(app, { logger: silent });
      }
      expect(await settle(tenantId, job.id, (j) => j.status === 'running' && j.attempts === 2)).toMatchObject({ status: 'running' });
      await app.jobs.cancel(tenantId, job.id);
    });

    it('on its last try: the dead letter fails the job instead of leaving it stuck', async () => {
      const { id: tenantId } = await tenant();
      await app.jobs.stop();
      let job: Job;
      try {
        job = await app.jobs.enqueueTaskRun(tenantId, { task: 'triage-default', input, timeoutMs: 1_000, maxAttempts: 1 });
        await takenByDeadWorker(job);
      } finally {
        await app.jobs.start(app, { logger: silent });
      }
      const failed = await settle(tenantId, job.id);
      expect(failed).toMatchObject({ status: 'failed', attempts: 1, error: { code: 'JOB_TIMEOUT', details: { reason: 'worker_lost' } } });
    });
  });

  describe('webhooks', () => {
    let receiver: Server;
    let url: string;
    const received: Array<{ at: number; headers: IncomingHttpHeaders; body: string; answered: number }> = [];

    beforeAll(async () => {
      receiver = createServer((req, res) => {
        let body = '';
        req.on('data', (chunk) => (body += chunk));
        req.on('end', () => {
          // The first delivery of each job fails with a 500; the next one is accepted.
          const id = (JSON.parse(body) as { job: { id: string } }).job.id;
          const answered = received.some((r) => r.body.includes(id)) ? 200 : 500;
          received.push({ at: Date.now(), headers: req.headers, body, answered });
          res.writeHead(answered).end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks`;
    });
    afterAll(() => new Promise<void>((resolve) => receiver?.close(() => resolve())));

    it('are signed, verify at the receiver, and are retried with backoff after a 500', async () => {
      const { id: tenantId, secret } = await tenant();
      const job = await app.jobs.enqueueTaskRun(tenantId, { task: 'triage-default', input, webhookUrl: url });
      expect(job.webhookUrl).toBe(url);
      const done = await settle(tenantId, job.id, (j) => j.webhook?.status === 'delivered');
      expect(done).toMatchObject({ status: 'succeeded', webhook: { status: 'delivered', attempts: 2, lastStatus: 200 } });

      const deliveries = received.filter((r) => r.body.includes(job.id));
      expect(deliveries.map((d) => d.answered)).toEqual([500, 200]);
      expect(deliveries[1].at - deliveries[0].at).toBeGreaterThanOrEqual(900);
      for (const delivery of deliveries) {
        expect(delivery.headers['content-type']).toMatch(/^application\/json/);
        expect(verifyWebhook(secret, delivery.headers['groundwork-signature'] as string, delivery.body)).toBe(true);
        expect(verifyWebhook('whsec_wrong', delivery.headers['groundwork-signature'] as string, delivery.body)).toBe(false);
      }
      const body = JSON.parse(deliveries[1].body) as { job: Record<string, unknown> };
      expect(body.job).toMatchObject({ id: job.id, status: 'succeeded', result: { run_id: runIdFor(job.id, 1) }, attempts: 1 });
    });

    it('are sent for failed and cancelled jobs too', async () => {
      const { id: tenantId, secret } = await tenant();
      const failing = await app.jobs.enqueueTaskRun(tenantId, { task: 'triage-failing', input, maxAttempts: 1, webhookUrl: url });
      await app.jobs.stop();
      let cancelled: Job;
      try {
        cancelled = await app.jobs.enqueueTaskRun(tenantId, { task: 'triage-default', input, webhookUrl: url });
        await app.jobs.cancel(tenantId, cancelled.id);
      } finally {
        await app.jobs.start(app, { logger: silent });
      }
      for (const id of [failing.id, cancelled.id]) await settle(tenantId, id, (j) => j.webhook?.status === 'delivered');
      const last = (id: string) =>
        JSON.parse(received.filter((r) => r.body.includes(id)).at(-1)!.body) as { job: { status: string; error?: { code: string } } };
      expect(last(failing.id).job).toMatchObject({ status: 'failed', error: { code: 'MODEL_UNAVAILABLE' } });
      expect(last(cancelled.id).job.status).toBe('cancelled');
      const delivery = received.find((r) => r.body.includes(cancelled.id))!;
      expect(verifyWebhook(secret, delivery.headers['groundwork-signature'] as string, delivery.body)).toBe(true);
    });
  });
}
