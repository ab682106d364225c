import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { OpenAPI3 } from 'openapi-typescript';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { buildServer } from '../api/server.js';
import { createApp, type App } from '../app/app.js';
import { hashKey } from '../auth/keys.js';
import { loadConfig } from '../config/config.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import type { paths } from './api-types.js';
import {
  createClient,
  GroundworkApiError,
  type AskOptions,
  type AskResult,
  type GroundworkApi,
  type RunAttempt,
  type RunDetail,
  type RunListQuery,
  type RunResult,
  type RunSummary,
  type SearchOptions,
  type TaskSummary,
} from './client.js';
import { API_TYPES_FILE, generateApiTypes } from './test-api-types.js';

/**
 * The client cannot drift from the server: api-types.ts must be exactly what openapi-typescript
 * makes of the document the server serves (GET /openapi.json), and client.ts derives every type
 * it exposes from it (the type checks below are compiled by `npm run typecheck`). Then the
 * client against the real server over HTTP: every operation reaches its route (paths, path
 * parameters, queries and bodies built from the document's route names) and gets the answer
 * its types promise; errors arrive as GroundworkApiError with the server's code.
 */

let root: string;
let mock: MockLlm;
let app: App;
let server: FastifyInstance;
let baseUrl: string;
let client: GroundworkApi;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'gw-client-'));
  mock = await startMockLlm({ seed: 1 });
  const base = loadConfig({ env: {}, cwd: root, overrides: { dataDir: 'memory://', logLevel: 'silent' } });
  app = await createApp(
    {
      ...base,
      providers: { ...base.providers, mock: { name: 'mock', type: 'openai-compatible', base_url: mock.url, native_structured_output: true } },
      models: { ...base.models, 'mock-model': { name: 'mock-model', provider: 'mock', price: { input_per_mtok: 1, output_per_mtok: 2 } } },
      routes: { ...base.routes, default: ['mock-model'] },
    },
    { lock: false, logger: { error: () => undefined } },
  );
  const { key } = await app.auth.ensureLocalAdmin(undefined);
  // With an operator key, as `serve` builds it: the /operator routes exist and the document hides them.
  server = await buildServer(app, { logger: false, operatorKeyHash: hashKey('gwo_client-test-operator-key') });
  await server.listen({ port: 0, host: '127.0.0.1' });
  baseUrl = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
  client = createClient({ baseUrl: `${baseUrl}/`, apiKey: key });
});

afterAll(async () => {
  await server?.close();
  await app?.close();
  await mock?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

type Json<Response extends { content: { 'application/json': unknown } }> = Response['content']['application/json'];

describe('src/client/api-types.ts', () => {
  it('is what the document the server serves generates', async () => {
    const document = (await (await fetch(`${baseUrl}/openapi.json`)).json()) as OpenAPI3;
    // Operator routes are local administration: hidden from the document, so from the client.
    expect(Object.keys(document.paths ?? {}).filter((path) => !path.startsWith('/v1/') && path !== '/healthz' && path !== '/readyz')).toEqual([]);
    const committed = readFileSync(API_TYPES_FILE, 'utf8');
    expect(committed, 'src/client/api-types.ts is stale: the server API changed; run `npm run gen:client` and commit the result').toBe(
      await generateApiTypes(document),
    );
  });

  it("gives the client the server's shapes, with a run's output typed by the caller", () => {
    expectTypeOf<RunResult<{ category: string }>['output']>().toEqualTypeOf<{ category: string }>();
    expectTypeOf<Omit<RunResult, 'output'>>().toEqualTypeOf<Omit<Json<paths['/v1/tasks/{name}/run']['post']['responses'][200]>, 'output'>>();
    expectTypeOf<AskResult>().toEqualTypeOf<Json<paths['/v1/ask']['post']['responses'][200]>>();
    expectTypeOf<AskOptions>().toEqualTypeOf<Omit<Json<paths['/v1/ask']['post']['requestBody']>, 'question' | 'collection'>>();
    expectTypeOf<RunDetail>().toEqualTypeOf<Json<paths['/v1/runs/{id}']['get']['responses'][200]>>();
    expectTypeOf<RunSummary[]>().toEqualTypeOf<Json<paths['/v1/runs']['get']['responses'][200]>['runs']>();
    expectTypeOf<TaskSummary[]>().toEqualTypeOf<Json<paths['/v1/tasks']['get']['responses'][200]>['tasks']>();
    expectTypeOf<RunListQuery>().toEqualTypeOf<NonNullable<paths['/v1/runs']['get']['parameters']['query']>>();
    // Fields the hand-written types had missed: a grounded run's report, the key that made a run, search's embedder check.
    expectTypeOf<RunResult>().toHaveProperty('grounding');
    expectTypeOf<RunSummary>().toHaveProperty('key_id');
    expectTypeOf<SearchOptions>().toHaveProperty('embedder');
    // Enums come from the document too.
    expectTypeOf<RunAttempt['outcome']>().toEqualTypeOf<
      'ok' | 'invalid_output' | 'timeout' | 'rate_limited' | 'provider_error' | 'circuit_open' | 'ungrounded'
    >();
    expectTypeOf<paths>().not.toHaveProperty('/operator/tenants');
  });
});

describe('createClient', () => {
  it('pushes, lists and runs a task, then reads its runs back', async () => {
    const pushed = await client.pushTask(triageDefinition({ name: 'triage' }));
    expect(pushed).toMatchObject({ name: 'triage', created: true, active: true });
    expect((await client.listTasks()).map((t) => t.name)).toEqual(['triage']);
    expect(await client.getTask('triage')).toMatchObject({ name: 'triage', version: pushed.version });
    expect(await client.listVersions('triage')).toEqual([expect.objectContaining({ version: pushed.version, active: true })]);

    const run = await client.runTask<{ category: string }>('triage', { subject: 'Refund', body: 'Charged twice' }, { version: pushed.version });
    expect(['billing', 'bug', 'other']).toContain(run.output.category);
    expect(run).toMatchObject({ task_version: pushed.version, model: 'mock-model', attempts: 1, degraded: false });

    const runs = await client.listRuns({ task: 'triage', status: 'ok', limit: 1 });
    expect(runs.map((r) => r.id)).toEqual([run.run_id]);
    expect(await client.listRuns({ task: 'triage', before: run.run_id })).toEqual([]);
    const detail = await client.getRun(run.run_id);
    expect(detail).toMatchObject({ id: run.run_id, status: 'ok', input: { subject: 'Refund', body: 'Charged twice' }, output: run.output });
    expect(detail.attempts.map((a) => a.outcome)).toEqual(['ok']);
  });

  it('creates a collection, uploads, searches, asks and deletes it', async () => {
    expect(await client.createCollection({ name: 'handbook', description: 'travel rules' })).toMatchObject({ name: 'handbook', document_count: 0 });
    const text = 'Book trains two weeks ahead. Economy class is the rule for trips under four hours.';
    const results = await client.ingestFiles('handbook', [{ source: 'travel/trains.md', bytes: new TextEncoder().encode(text), mime: 'text/markdown' }], {
      team: 'ops',
    });
    expect(results).toEqual([expect.objectContaining({ source: 'travel/trains.md', status: 'created' })]);
    expect((await client.listCollections()).map((c) => [c.name, c.document_count])).toEqual([['handbook', 1]]);

    const hits = await client.search('handbook', 'trains ahead', { k: 3, mode: 'lexical', filters: { team: 'ops' } });
    expect(hits.map((h) => [h.source, h.metadata.team])).toEqual([['travel/trains.md', 'ops']]);
    expect(await client.search('handbook', 'trains ahead', { filters: { team: 'finance' } })).toEqual([]);

    const answer = await client.ask('Which class is the rule for trips under four hours?', 'handbook', { k: 2 });
    expect(answer).toMatchObject({ answerable: true, model: 'builtin-extractive', grounding: { citations_verified: 1 } });
    expect(answer.citations.map((c) => c.document)).toEqual(['travel/trains.md']);

    await client.deleteCollection('handbook');
    expect(await client.listCollections()).toEqual([]);
  });

  it("throws the server's typed errors", async () => {
    const missing = await client.getTask('no-such-task').catch((error: unknown) => error);
    expect(missing).toBeInstanceOf(GroundworkApiError);
    expect(missing).toMatchObject({ status: 404, code: 'TASK_NOT_FOUND' });
    const invalid = await client.createCollection({ name: 'Not Valid' }).catch((error: unknown) => error);
    expect(invalid).toMatchObject({ status: 400, code: expect.stringMatching(/^REQUEST_/) });
  });
});
