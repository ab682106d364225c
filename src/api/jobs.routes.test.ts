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

/** The jobs API in-process (inject) on the embedded store, through the real auth hook, with workers running. */

const silent = { error: () => undefined, warn: () => undefined, info: () => undefined };
const input = { subject: 'Refund', body: 'Charged twice' };
let mock: MockLlm;
let app: App;
let server: FastifyInstance;
let config: Config;
const keys: Record<'viewer' | 'runner' | 'developer' | 'other', string> = { viewer: '', runner: '', developer: '', other: '' };

beforeAll(async () => {
  mock = await startMockLlm({ seed: 11, latency: { minMs: 150, maxMs: 150 } });
  const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-jobs-api-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
  config = {
    ...base,
    providers: { ...base.providers, mock: { name: 'mock', type: 'openai-compatible', base_url: mock.url, native_structured_output: true } },
    models: { ...base.models, 'mock-model': { name: 'mock-model', provider: 'mock' } },
    routes: { default: ['mock-model'] },
    resilience: { ...base.resilience, retries: 0 },
    jobs: { ...base.jobs, poll_interval_ms: 50, retry_delay_ms: 0 },
  };
  app = await createApp(config, { lock: false, logger: silent });
  server = await buildServer(app, { logger: false });
  await app.jobs.start(app, { logger: silent });
  const runner = await tenantWithKey(app, 'runner', 'acme');
  keys.runner = runner.key;
  keys.viewer = (await tenantWithKey(app, 'viewer', 'acme')).key;
  keys.developer = (await tenantWithKey(app, 'developer', 'acme')).key;
  keys.other = (await tenantWithKey(app, 'admin', 'globex')).key;
  await app.tasks.pushRaw('acme', triageDefinition());
  await app.tasks.pushRaw('globex', triageDefinition());
  await app.retrieval.createCollection('acme', { name: 'docs' });
});

afterAll(async () => {
  await server?.close();
  await app?.close();
  await mock?.close();
});

type Method = 'GET' | 'POST' | 'DELETE';
const call = (method: Method, url: string, key: string | undefined, payload?: unknown, headers: Record<string, string> = {}) =>
  server.inject({ method, url, payload: payload as object | undefined, headers: { ...(key ? { authorization: `Bearer ${key}` } : {}), ...headers } });

async function finished(id: string, key = keys.viewer): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const { job } = (await call('GET', `/v1/jobs/${id}`, key)).json();
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.status}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('POST /v1/tasks/{name}/jobs', () => {
  it('answers 202 with the queued job; GET shows it succeed with the run result', async () => {
    const response = await call('POST', '/v1/tasks/triage/jobs', keys.runner, { input });
    expect(response.statusCode).toBe(202);
    const { job } = response.json();
    expect(job).toMatchObject({
      id: expect.stringMatching(/^job_/),
      kind: 'task_run',
      status: 'queued',
      task: 'triage',
      task_version: expect.stringMatching(/^[0-9a-f]{16}$/),
      attempts: 0,
      max_attempts: config.jobs.max_attempts,
      progress: null,
    });
    const done = await finished(job.id);
    expect(done).toMatchObject({
      status: 'succeeded',
      attempts: 1,
      progress: { done: 1, total: 1 },
      result: { model: 'mock-model', output: { category: expect.any(String) } },
    });
    expect(done.run_id).toBe((done.result as { run_id: string }).run_id);
    const run = await call('GET', `/v1/runs/${done.run_id}`, keys.viewer);
    expect(run.statusCode).toBe(200);
    expect(run.json()).toMatchObject({ status: 'ok', input });
  });

  it('rejects bad requests with precise typed errors', async () => {
    const expectError = async (payload: unknown, status: number, code: string, url = '/v1/tasks/triage/jobs') => {
      const response = await call('POST', url, keys.runner, payload);
      expect(response.statusCode, JSON.stringify(payload)).toBe(status);
      expect(response.json().error.code).toBe(code);
      expect(response.body).not.toMatch(/at .*\.ts:\d+/);
    };
    await expectError({ input, webhook_url: 'ftp://example.com/x' }, 400, 'WEBHOOK_URL_INVALID');
    await expectError({ input, webhook_url: `http://localhost:${config.port}/hook` }, 400, 'WEBHOOK_URL_INVALID');
    // Internal addresses (here the cloud metadata endpoint) are refused by default, naming the field.
    const internal = await call('POST', '/v1/tasks/triage/jobs', keys.runner, { input, webhook_url: 'http://169.254.169.254/latest/meta-data/' });
    expect(internal.statusCode).toBe(400);
    expect(internal.json().error).toMatchObject({ code: 'WEBHOOK_URL_INVALID', details: { issues: [{ path: 'webhook_url' }] } });
    await expectError({ input: { subject: 1 } }, 400, 'TASK_INPUT_INVALID');
    await expectError({ input, surprise: true }, 400, 'REQUEST_INVALID_BODY');
    await expectError({ input, max_attempts: 0 }, 400, 'REQUEST_INVALID_BODY');
    await expectError({ input }, 404, 'TASK_NOT_FOUND', '/v1/tasks/nope/jobs');
  });

  it('stores input holding a NUL character (jsonb cannot) instead of failing with a 500', async () => {
    const response = await call('POST', '/v1/tasks/triage/jobs', keys.runner, { input: { ...input, body: 'before\u0000after' } });
    expect(response.statusCode).toBe(202);
  });

  it('needs the runner role and a key', async () => {
    expect((await call('POST', '/v1/tasks/triage/jobs', keys.viewer, { input })).json().error.code).toBe('AUTH_FORBIDDEN');
    expect((await call('POST', '/v1/tasks/triage/jobs', undefined, { input })).statusCode).toBe(401);
  });

  it('honours Idempotency-Key: the same key and body give the same job, a different body a 409', async () => {
    const headers = { 'idempotency-key': `jobs-${Date.now()}` };
    const first = await call('POST', '/v1/tasks/triage/jobs', keys.runner, { input }, headers);
    const again = await call('POST', '/v1/tasks/triage/jobs', keys.runner, { input }, headers);
    expect(first.statusCode).toBe(202);
    expect(again.statusCode).toBe(202);
    expect(again.json().job.id).toBe(first.json().job.id);
    const other = await call('POST', '/v1/tasks/triage/jobs', keys.runner, { input: { ...input, subject: 'Other' } }, headers);
    expect(other.statusCode).toBe(409);
    expect(other.json().error.code).toBe('IDEMPOTENCY_KEY_REUSED');
    await finished(first.json().job.id);
  });
});

describe('POST /v1/collections/{collection}/jobs', () => {
  it('ingests in the background (developer), progress by document', async () => {
    expect((await call('POST', '/v1/collections/docs/jobs', keys.runner, { documents: [{ source: 'a.txt', text: 'a' }] })).json().error.code).toBe(
      'AUTH_FORBIDDEN',
    );
    const response = await call('POST', '/v1/collections/docs/jobs', keys.developer, {
      documents: [
        { source: 'refunds.md', text: '# Refunds\nRefunds take five days.' },
        { source: 'ship.txt', text: 'Shipping is free.' },
      ],
    });
    expect(response.statusCode).toBe(202);
    expect(response.json().job).toMatchObject({ kind: 'ingest', collection: 'docs', documents: 2, status: 'queued' });
    const done = await finished(response.json().job.id);
    expect(done).toMatchObject({
      status: 'succeeded',
      progress: { done: 2, total: 2 },
      result: {
        results: [
          { source: 'refunds.md', status: 'created' },
          { source: 'ship.txt', status: 'created' },
        ],
      },
    });
    expect((await call('POST', '/v1/collections/missing/jobs', keys.developer, { documents: [{ source: 'a.txt', text: 'a' }] })).statusCode).toBe(404);
  });

  it('refuses documents that would replace each other (the same source after sanitising) or whose source is refused, naming each', async () => {
    const response = await call('POST', '/v1/collections/docs/jobs', keys.developer, {
      documents: [
        { source: 'a/readme.md', text: 'a' },
        { source: './a//readme.md', text: 'b' },
        { source: 'bad\u0001name.md', text: 'c' },
      ],
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.details.issues.map((i: { path: string }) => i.path)).toEqual(['body/documents/1/source', 'body/documents/2/source']);
  });
});

describe('GET /v1/jobs', () => {
  it('lists the tenant’s jobs newest first, with keyset pagination and filters', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await call('POST', '/v1/tasks/triage/jobs', keys.runner, { input })).json().job.id);
    const page = (await call('GET', '/v1/jobs?limit=2&kind=task_run', keys.viewer)).json();
    expect(page.jobs.map((j: { id: string }) => j.id)).toEqual([ids[2], ids[1]]);
    const next = (await call('GET', `/v1/jobs?limit=2&kind=task_run&before=${page.next_before}`, keys.viewer)).json();
    expect(next.jobs[0].id).toBe(ids[0]);
    const other = (await call('GET', '/v1/jobs', keys.other)).json();
    expect(other.jobs.map((j: { id: string }) => j.id)).not.toContain(ids[0]);
    for (const id of ids) await finished(id);
    const succeeded = (await call('GET', '/v1/jobs?status=succeeded&limit=500', keys.viewer)).json().jobs;
    expect(succeeded.every((j: { status: string }) => j.status === 'succeeded')).toBe(true);
    expect((await call('GET', '/v1/jobs?status=nope', keys.viewer)).statusCode).toBe(400);
  });
});

describe('one job', () => {
  it('of another tenant is a 404 everywhere (never a 403): read, cancel, events', async () => {
    const { job } = (await call('POST', '/v1/tasks/triage/jobs', keys.runner, { input })).json();
    for (const [method, url] of [
      ['GET', `/v1/jobs/${job.id}`],
      ['DELETE', `/v1/jobs/${job.id}`],
      ['GET', `/v1/jobs/${job.id}/events`],
    ] as const) {
      const response = await call(method, url, keys.other);
      expect(response.statusCode, `${method} ${url}`).toBe(404);
      expect(response.json().error.code).toBe('JOB_NOT_FOUND');
    }
    expect((await call('GET', '/v1/jobs/job_unknown', keys.viewer)).json().error.code).toBe('JOB_NOT_FOUND');
    await finished(job.id);
  });

  it('DELETE cancels a queued job (runner) and answers 409 for a finished one', async () => {
    await app.jobs.stop();
    let id: string;
    try {
      id = (await call('POST', '/v1/tasks/triage/jobs', keys.runner, { input })).json().job.id;
      expect((await call('DELETE', `/v1/jobs/${id}`, keys.viewer)).json().error.code).toBe('AUTH_FORBIDDEN');
      const cancelled = await call('DELETE', `/v1/jobs/${id}`, keys.runner);
      expect(cancelled.statusCode).toBe(200);
      expect(cancelled.json().job).toMatchObject({ id, status: 'cancelled', attempts: 0 });
    } finally {
      await app.jobs.start(app, { logger: silent });
    }
    const again = await call('DELETE', `/v1/jobs/${id}`, keys.runner);
    expect(again.statusCode).toBe(409);
    expect(again.json().error).toMatchObject({ code: 'JOB_ALREADY_FINISHED', details: { status: 'cancelled' } });
  });

  it('GET /events streams one event per change and ends after the finished state', async () => {
    const { job } = (await call('POST', '/v1/tasks/triage/jobs', keys.runner, { input })).json();
    const response = await call('GET', `/v1/jobs/${job.id}/events`, keys.viewer);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toMatch(/^text\/event-stream/);
    const events = response.body
      .split('\n\n')
      .filter((block) => block.startsWith('id:'))
      .map((block) => {
        const fields = Object.fromEntries(block.split('\n').map((line) => [line.slice(0, line.indexOf(':')), line.slice(line.indexOf(':') + 2)]));
        return { id: Number(fields.id), event: fields.event, job: JSON.parse(fields.data).job as { id: string; status: string } };
      });
    expect(events.length).toBeGreaterThanOrEqual(2);
    expect(events.every((e) => e.job.id === job.id && e.event === 'status')).toBe(true);
    expect(events.map((e) => e.job.status)).toContain('running');
    expect(events.at(-1)?.job.status).toBe('succeeded');
    expect(events.map((e) => e.id)).toEqual([...events.map((e) => e.id)].sort((a, b) => a - b));
  });
});
