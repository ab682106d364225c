import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { loadConfig, type Config } from '../config/config.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { buildServer } from './server.js';
import { authorizeAsLocalAdmin } from './test-auth.js';

/**
 * The HTTP API contract, in-process (inject), against real mock-llm servers. Run on the
 * embedded store (server.test.ts) and on a PostgreSQL server (server.int.test.ts).
 */

export interface StoreUnderTest {
  /** Config overrides selecting the store (dataDir memory:// or a databaseUrl). */
  store: Partial<Config>;
  schema?: string;
  kind: 'embedded' | 'server';
}

async function testConfig(mocks: Record<string, MockLlm>, overrides: Partial<Config> = {}): Promise<Config> {
  const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-api-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
  const providers = Object.fromEntries(
    Object.entries(mocks).map(([name, mock]) => [name, { name, type: 'openai-compatible' as const, base_url: mock.url, native_structured_output: true }]),
  );
  const models = Object.fromEntries(
    Object.keys(mocks).map((name) => [`${name}-model`, { name: `${name}-model`, provider: name, price: { input_per_mtok: 1, output_per_mtok: 2 } }]),
  );
  return {
    ...base,
    providers,
    models,
    routes: { default: ['healthy-model'], fallback: ['failing-model', 'healthy-model'], broken: ['violating-model'] },
    resilience: { ...base.resilience, retries: 0, backoff_base_ms: 1, attempt_timeout_ms: 2_000 },
    bodyLimitBytes: 64 * 1024,
    ...overrides,
  };
}

export function apiContract(storeUnderTest: () => Promise<StoreUnderTest>): void {
  let healthy: MockLlm;
  let failing: MockLlm;
  let violating: MockLlm;
  let app: App;
  let server: FastifyInstance;
  let kind: StoreUnderTest['kind'];

  beforeAll(async () => {
    const target = await storeUnderTest();
    kind = target.kind;
    healthy = await startMockLlm({ seed: 1 });
    failing = await startMockLlm({ seed: 2, faults: { error5xx: 1 } });
    violating = await startMockLlm({ seed: 3, faults: { schemaViolation: 1 } });
    const config = await testConfig({ healthy, failing, violating }, target.store);
    app = await createApp(config, { lock: false, schema: target.schema, logger: { error: () => undefined } });
    server = await authorizeAsLocalAdmin(app, await buildServer(app, { logger: false }));
    for (const route of ['default', 'fallback', 'broken']) {
      const response = await server.inject({ method: 'POST', url: '/v1/tasks', payload: triageDefinition({ name: `triage-${route}`, route }) });
      expect(response.statusCode).toBe(201);
    }
  });

  afterAll(async () => {
    await server?.close();
    await app?.close();
    await Promise.all([healthy?.close(), failing?.close(), violating?.close()]);
  });

  const input = { subject: 'Refund', body: 'Charged twice', customer: { name: 'Dana' } };

  describe('POST /v1/tasks/{name}/run', () => {
    it('returns validated output with the run contract and records every attempt', async () => {
      const response = await server.inject({ method: 'POST', url: '/v1/tasks/triage-default/run', payload: { input } });
      expect(response.statusCode).toBe(200);
      const body = response.json();
      expect(body).toMatchObject({ model: 'healthy-model', attempts: 1, degraded: false, task_version: expect.stringMatching(/^[0-9a-f]{16}$/) });
      expect(['billing', 'bug', 'other']).toContain(body.output.category);
      expect(body.usage.input_tokens).toBeGreaterThan(0);
      expect(body.usage.cost_usd).toBeGreaterThan(0);

      const run = await server.inject({ method: 'GET', url: `/v1/runs/${body.run_id}` });
      expect(run.statusCode).toBe(200);
      expect(run.json()).toMatchObject({
        id: body.run_id,
        status: 'ok',
        input,
        output: body.output,
        attempts: [{ seq: 1, outcome: 'ok', model: 'healthy-model' }],
      });
    });

    it('falls back to the next tier when the first fails, and says the answer is degraded', async () => {
      const response = await server.inject({ method: 'POST', url: '/v1/tasks/triage-fallback/run', payload: { input } });
      expect(response.statusCode).toBe(200);
      expect(response.json()).toMatchObject({ model: 'healthy-model', degraded: true, attempts: 2 });
      const run = (await server.inject({ method: 'GET', url: `/v1/runs/${response.json().run_id}` })).json();
      expect(run.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['provider_error', 'ok']);
      expect(run.attempts[1].escalation_reason).toMatch(/provider_error/);
    });

    it('answers a typed 502 (never a 500) when every tier returns invalid output, and records the run', async () => {
      const response = await server.inject({ method: 'POST', url: '/v1/tasks/triage-broken/run', payload: { input } });
      expect(response.statusCode).toBe(502);
      const { error } = response.json();
      expect(error.code).toBe('MODEL_ALL_TIERS_FAILED');
      expect(error.run_id).toMatch(/^run_/);
      expect(error.details.attempts.map((a: { outcome: string }) => a.outcome)).toEqual(['invalid_output', 'invalid_output']);
      expect(response.body).not.toMatch(/at .*\.ts:\d+/);
      const run = (await server.inject({ method: 'GET', url: `/v1/runs/${error.run_id}` })).json();
      expect(run.status).toBe('error');
    });

    it('rejects input that does not match the task input schema with field paths', async () => {
      const response = await server.inject({ method: 'POST', url: '/v1/tasks/triage-default/run', payload: { input: { subject: 1, surprise: true } } });
      expect(response.statusCode).toBe(400);
      expect(response.json().error.code).toBe('TASK_INPUT_INVALID');
      expect(response.json().error.details.issues).toEqual(
        expect.arrayContaining([
          { path: '/subject', message: 'must be string' },
          { path: '/surprise', message: 'is not allowed (unknown field)' },
        ]),
      );
    });

    it('rejects malformed JSON, unknown envelope fields, wrong media types and huge bodies with typed errors', async () => {
      const malformed = await server.inject({
        method: 'POST',
        url: '/v1/tasks/triage-default/run',
        headers: { 'content-type': 'application/json' },
        payload: '{"input": {',
      });
      expect(malformed.statusCode).toBe(400);
      expect(malformed.json().error.code).toBe('REQUEST_INVALID_BODY');

      const unknown = await server.inject({ method: 'POST', url: '/v1/tasks/triage-default/run', payload: { input, temperature: 2 } });
      expect(unknown.statusCode).toBe(400);
      expect(unknown.json().error.code).toBe('REQUEST_INVALID_BODY');

      const text = await server.inject({ method: 'POST', url: '/v1/tasks/triage-default/run', headers: { 'content-type': 'text/plain' }, payload: 'hello' });
      expect(text.statusCode).toBe(415);
      expect(text.json().error.code).toBe('REQUEST_UNSUPPORTED_MEDIA_TYPE');

      const huge = await server.inject({ method: 'POST', url: '/v1/tasks/triage-default/run', payload: { input: { ...input, body: 'x'.repeat(100_000) } } });
      expect(huge.statusCode).toBe(413);
      expect(huge.json().error.code).toBe('REQUEST_BODY_TOO_LARGE');
    });

    it('answers 404 for unknown tasks and versions', async () => {
      const task = await server.inject({ method: 'POST', url: '/v1/tasks/nope/run', payload: { input } });
      expect(task.statusCode).toBe(404);
      expect(task.json().error.code).toBe('TASK_NOT_FOUND');
      const version = await server.inject({ method: 'POST', url: '/v1/tasks/triage-default/run', payload: { input, version: '0123456789abcdef' } });
      expect(version.statusCode).toBe(404);
      expect(version.json().error.code).toBe('TASK_VERSION_NOT_FOUND');
    });
  });

  describe('tasks catalogue', () => {
    it('keeps every pushed definition as an immutable version and runs an older one on request', async () => {
      const first = (await server.inject({ method: 'POST', url: '/v1/tasks', payload: triageDefinition({ name: 'catalogue' }) })).json();
      const again = await server.inject({ method: 'POST', url: '/v1/tasks', payload: triageDefinition({ name: 'catalogue' }) });
      expect(again.statusCode).toBe(200);
      expect(again.json()).toMatchObject({ version: first.version, created: false, active: true });
      const second = (await server.inject({ method: 'POST', url: '/v1/tasks', payload: triageDefinition({ name: 'catalogue', description: 'v2' }) })).json();
      expect(second.version).not.toBe(first.version);

      const detail = (await server.inject({ method: 'GET', url: '/v1/tasks/catalogue' })).json();
      expect(detail).toMatchObject({ name: 'catalogue', version: second.version, definition: { description: 'v2' } });
      const versions = (await server.inject({ method: 'GET', url: '/v1/tasks/catalogue/versions' })).json().versions;
      expect(versions.map((v: { version: string; active: boolean }) => [v.version, v.active])).toEqual([
        [second.version, true],
        [first.version, false],
      ]);
      const list = (await server.inject({ method: 'GET', url: '/v1/tasks' })).json().tasks;
      expect(list.find((t: { name: string }) => t.name === 'catalogue')).toMatchObject({ active_version: second.version, version_count: 2 });

      const old = await server.inject({ method: 'POST', url: '/v1/tasks/catalogue/run', payload: { input, version: first.version } });
      expect(old.json().task_version).toBe(first.version);
    });

    it('rejects an invalid definition with every problem and stores nothing', async () => {
      const response = await server.inject({
        method: 'POST',
        url: '/v1/tasks',
        payload: triageDefinition({ name: 'bad-one', route: ['gpt-9'], prompt: { user: '{{missing}}' } }),
      });
      expect(response.statusCode).toBe(400);
      const { error } = response.json();
      expect(error.code).toBe('TASK_DEFINITION_INVALID');
      expect(error.details.issues.map((i: { path: string }) => i.path)).toEqual(['prompt.user', 'route[0]']);
      expect((await server.inject({ method: 'GET', url: '/v1/tasks/bad-one' })).statusCode).toBe(404);
    });
  });

  describe('runs, health, docs and errors', () => {
    it('lists runs newest first with filters and pagination', async () => {
      const page = (await server.inject({ method: 'GET', url: '/v1/runs?task=triage-default&limit=1' })).json();
      expect(page.runs).toHaveLength(1);
      expect(page.runs[0].task).toBe('triage-default');
      expect(page.next_before).toBe(page.runs[0].id);
      const errors = (await server.inject({ method: 'GET', url: '/v1/runs?status=error' })).json();
      expect(errors.runs.every((r: { status: string }) => r.status === 'error')).toBe(true);
      const bad = await server.inject({ method: 'GET', url: '/v1/runs?limit=0' });
      expect(bad.statusCode).toBe(400);
      expect((await server.inject({ method: 'GET', url: '/v1/runs/run_missing' })).json().error.code).toBe('RUN_NOT_FOUND');
    });

    it('serves health, readiness, request ids, the OpenAPI document and a docs page', async () => {
      expect((await server.inject({ method: 'GET', url: '/healthz' })).json()).toEqual({ status: 'ok' });
      expect((await server.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({ status: 'ready', store: kind });
      const withId = await server.inject({ method: 'GET', url: '/healthz', headers: { 'x-request-id': 'abc-123' } });
      expect(withId.headers['x-request-id']).toBe('abc-123');
      expect((await server.inject({ method: 'GET', url: '/healthz' })).headers['x-request-id']).toMatch(/^req_/);
      const openapi = (await server.inject({ method: 'GET', url: '/openapi.json' })).json();
      expect(Object.keys(openapi.paths)).toEqual(
        expect.arrayContaining(['/v1/tasks', '/v1/tasks/{name}', '/v1/tasks/{name}/versions', '/v1/tasks/{name}/run', '/v1/runs', '/v1/runs/{id}']),
      );
      const docs = await server.inject({ method: 'GET', url: '/docs' });
      expect([200, 302]).toContain(docs.statusCode);
    });

    it('answers unknown routes with a typed 404', async () => {
      const response = await server.inject({ method: 'GET', url: '/v1/nothing' });
      expect(response.statusCode).toBe(404);
      expect(response.json().error.code).toBe('REQUEST_NOT_FOUND');
    });
  });

  describe('authentication, roles and keys', () => {
    const runUrl = '/v1/tasks/triage-default/run';

    it('answers 401 for a missing, malformed, unknown, revoked or expired key, with no hint which', async () => {
      const missing = await server.inject({ method: 'GET', url: '/v1/tasks', headers: { authorization: '' } });
      expect(missing.statusCode).toBe(401);
      const created = (await server.inject({ method: 'POST', url: '/v1/keys', payload: { role: 'viewer', name: 'soon revoked' } })).json();
      expect(created.key).toMatch(/^gwk_/);
      const revoked = await server.inject({ method: 'DELETE', url: `/v1/keys/${created.api_key.id}` });
      expect(revoked.json().revoked_at).toBeDefined();
      const bodies = new Set<string>();
      for (const header of ['Bearer gwk_nope', `Bearer ${created.key}`, 'Basic abc', `Bearer ${created.key.slice(0, -2)}xx`]) {
        const response = await server.inject({ method: 'GET', url: '/v1/tasks', headers: { authorization: header } });
        expect(response.statusCode, header).toBe(401);
        bodies.add(JSON.stringify(response.json()));
      }
      expect([...bodies]).toEqual([JSON.stringify({ error: { code: 'AUTH_INVALID_KEY', message: 'the API key is not valid', details: {} } })]);
      expect(missing.json().error.code).toBe('AUTH_REQUIRED');
    });

    it('lets each role do what it may and answers 403 for the rest', async () => {
      const keyFor = async (role: string) => (await server.inject({ method: 'POST', url: '/v1/keys', payload: { role } })).json().key as string;
      const viewer = `Bearer ${await keyFor('viewer')}`;
      const runner = `Bearer ${await keyFor('runner')}`;
      expect((await server.inject({ method: 'GET', url: '/v1/runs', headers: { authorization: viewer } })).statusCode).toBe(200);
      const denied = await server.inject({ method: 'POST', url: runUrl, headers: { authorization: viewer }, payload: { input } });
      expect(denied.statusCode).toBe(403);
      expect(denied.json().error).toMatchObject({ code: 'AUTH_FORBIDDEN', details: { role: 'viewer', required: 'runner' } });
      expect((await server.inject({ method: 'POST', url: runUrl, headers: { authorization: runner }, payload: { input } })).statusCode).toBe(200);
      expect((await server.inject({ method: 'POST', url: '/v1/tasks', headers: { authorization: runner }, payload: triageDefinition() })).statusCode).toBe(403);
      expect((await server.inject({ method: 'GET', url: '/v1/keys', headers: { authorization: runner } })).statusCode).toBe(403);
    });

    it('sends rate-limit headers on admitted requests', async () => {
      const response = await server.inject({ method: 'GET', url: '/v1/tasks' });
      expect(Number(response.headers['x-ratelimit-limit'])).toBeGreaterThan(0);
      expect(Number(response.headers['x-ratelimit-remaining'])).toBeGreaterThanOrEqual(0);
      expect(response.headers['x-ratelimit-reset']).toBeDefined();
    });

    it('validates key creation', async () => {
      for (const payload of [{ role: 'root' }, { role: 'viewer', expires_at: '2000-01-01T00:00:00Z' }, { role: 'viewer', extra: 1 }]) {
        const response = await server.inject({ method: 'POST', url: '/v1/keys', payload });
        expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      }
      expect((await server.inject({ method: 'DELETE', url: '/v1/keys/key_missing' })).json().error.code).toBe('KEY_NOT_FOUND');
    });
  });

  describe('Idempotency-Key', () => {
    const runUrl = '/v1/tasks/triage-default/run';

    it('answers the same key and body with the same run, a different body with 409', async () => {
      const key = `idem-${Math.random()}`;
      const first = await server.inject({ method: 'POST', url: runUrl, headers: { 'idempotency-key': key }, payload: { input } });
      expect(first.statusCode).toBe(200);
      const again = await server.inject({ method: 'POST', url: runUrl, headers: { 'idempotency-key': key }, payload: { input } });
      expect(again.statusCode).toBe(200);
      expect(again.json().run_id).toBe(first.json().run_id);
      expect(again.headers['idempotent-replayed']).toBe('true');
      const other = await server.inject({
        method: 'POST',
        url: runUrl,
        headers: { 'idempotency-key': key },
        payload: { input: { ...input, subject: 'Other' } },
      });
      expect(other.statusCode).toBe(409);
      expect(other.json().error.code).toBe('IDEMPOTENCY_KEY_REUSED');
      const runs = (await server.inject({ method: 'GET', url: '/v1/runs?task=triage-default&limit=500' })).json().runs as Array<{ id: string }>;
      expect(runs.filter((r) => r.id === first.json().run_id)).toHaveLength(1);
    });

    it('lets only one of two concurrent requests with a key run; the other is told it is in progress or replayed', async () => {
      const key = `idem-${Math.random()}`;
      const [a, b] = await Promise.all(
        [0, 1].map(() => server.inject({ method: 'POST', url: runUrl, headers: { 'idempotency-key': key }, payload: { input } })),
      );
      expect([a, b].filter((r) => r.statusCode === 200).length).toBeGreaterThanOrEqual(1);
      const refused = [a, b].find((r) => r.statusCode !== 200);
      if (refused) expect(refused.json().error.code).toBe('IDEMPOTENCY_IN_PROGRESS');
      else expect(a.json().run_id).toBe(b.json().run_id);
    });

    it('rejects an invalid key and keeps keys per tenant', async () => {
      const bad = await server.inject({ method: 'POST', url: runUrl, headers: { 'idempotency-key': 'has space' }, payload: { input } });
      expect(bad.statusCode).toBe(400);
      expect(bad.json().error.code).toBe('IDEMPOTENCY_KEY_INVALID');
      const long = await server.inject({ method: 'POST', url: runUrl, headers: { 'idempotency-key': 'x'.repeat(256) }, payload: { input } });
      expect(long.json().error.code).toBe('IDEMPOTENCY_KEY_INVALID');
    });
  });
}
