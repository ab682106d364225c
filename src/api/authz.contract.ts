import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { ROLES, roleAllows, type Role } from '../auth/principal.js';
import { loadConfig, type Config } from '../config/config.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { buildServer } from './server.js';
import { tenantWithKey } from './test-auth.js';

/**
 * The authorization matrix: every /v1 route × every role × own / foreign tenant. A role
 * below the route's gets 403; another tenant's resource is a 404 (its existence must not
 * leak), another tenant's lists never show it, and the owner's data is intact afterwards.
 * Every registered route must have a row here, so a new route cannot skip the matrix.
 */

type Kind =
  /** Names another tenant's resource in its path or body: foreign callers get 404. */
  | 'resource'
  /** Lists the caller's own things: foreign callers get 200 without the owner's. */
  | 'list'
  /** Creates in the caller's own namespace, or needs no tenant data: allowed for every tenant. */
  | 'own';

interface Fixture {
  task: string;
  version: string;
  dataset: string;
  evalId: string;
  runId: string;
  collection: string;
  documentId: string;
  jobId: string;
  keyId: string;
}

interface Case {
  kind: Kind;
  /** The request; `fresh` makes a throwaway resource of the caller's tenant for destructive own-tenant calls. */
  request(f: Fixture, fresh: Fresh): Promise<{ url: string; payload?: unknown }> | { url: string; payload?: unknown };
}

interface Fresh {
  collection(): Promise<string>;
  document(): Promise<{ collection: string; id: string }>;
  key(): Promise<string>;
  job(): Promise<string>;
  finishedJob(): Promise<string>;
}

const input = { subject: 'Refund', body: 'Charged twice' };
const docs = { documents: [{ source: 'refunds.md', text: '# Refunds\n\nRefunds take five business days to reach the card.' }] };

const CASES: Record<string, Case> = {
  'GET /v1/tasks': { kind: 'list', request: () => ({ url: '/v1/tasks' }) },
  'POST /v1/tasks': { kind: 'own', request: () => ({ url: '/v1/tasks', payload: triageDefinition({ name: 'mine' }) }) },
  'GET /v1/tasks/:name': { kind: 'resource', request: (f) => ({ url: `/v1/tasks/${f.task}` }) },
  'GET /v1/tasks/:name/versions': { kind: 'resource', request: (f) => ({ url: `/v1/tasks/${f.task}/versions` }) },
  'POST /v1/tasks/:name/datasets': {
    kind: 'resource',
    request: (f) => ({ url: `/v1/tasks/${f.task}/datasets`, payload: { name: f.dataset, cases: [{ input }] } }),
  },
  'GET /v1/tasks/:name/datasets': { kind: 'resource', request: (f) => ({ url: `/v1/tasks/${f.task}/datasets` }) },
  'POST /v1/datasets/:name/cases': {
    kind: 'resource',
    request: (f) => ({ url: `/v1/datasets/${f.dataset}/cases`, payload: { run_id: f.runId, id: `c-${Math.random().toString(36).slice(2, 10)}` } }),
  },
  // A dry run: the matrix is about who may, not about running evals.
  'POST /v1/tasks/:name/evals': { kind: 'resource', request: (f) => ({ url: `/v1/tasks/${f.task}/evals`, payload: { dataset: f.dataset, dry_run: true } }) },
  'GET /v1/tasks/:name/evals': { kind: 'resource', request: (f) => ({ url: `/v1/tasks/${f.task}/evals` }) },
  'GET /v1/evals/:id': { kind: 'resource', request: (f) => ({ url: `/v1/evals/${f.evalId}` }) },
  // The active version: the owner's promotion changes nothing, its rollback finds nothing before it (409).
  'POST /v1/tasks/:name/promote': { kind: 'resource', request: (f) => ({ url: `/v1/tasks/${f.task}/promote`, payload: { version: f.version } }) },
  'POST /v1/tasks/:name/rollback': { kind: 'resource', request: (f) => ({ url: `/v1/tasks/${f.task}/rollback`, payload: {} }) },
  'GET /v1/tasks/:name/releases': { kind: 'resource', request: (f) => ({ url: `/v1/tasks/${f.task}/releases` }) },
  'POST /v1/tasks/:name/run': { kind: 'resource', request: (f) => ({ url: `/v1/tasks/${f.task}/run`, payload: { input } }) },
  'GET /v1/runs': { kind: 'list', request: () => ({ url: '/v1/runs' }) },
  'GET /v1/runs/:id': { kind: 'resource', request: (f) => ({ url: `/v1/runs/${f.runId}` }) },
  'POST /v1/collections': { kind: 'own', request: () => ({ url: '/v1/collections', payload: { name: `c-${Math.random().toString(36).slice(2, 8)}` } }) },
  'GET /v1/collections': { kind: 'list', request: () => ({ url: '/v1/collections' }) },
  'GET /v1/collections/:collection': { kind: 'resource', request: (f) => ({ url: `/v1/collections/${f.collection}` }) },
  'DELETE /v1/collections/:collection': {
    kind: 'resource',
    request: async (f, fresh) => ({ url: `/v1/collections/${f.collection === 'FRESH' ? await fresh.collection() : f.collection}` }),
  },
  'POST /v1/collections/:collection/documents': { kind: 'resource', request: (f) => ({ url: `/v1/collections/${f.collection}/documents`, payload: docs }) },
  'GET /v1/collections/:collection/documents': { kind: 'resource', request: (f) => ({ url: `/v1/collections/${f.collection}/documents` }) },
  'GET /v1/collections/:collection/documents/:id': { kind: 'resource', request: (f) => ({ url: `/v1/collections/${f.collection}/documents/${f.documentId}` }) },
  'DELETE /v1/collections/:collection/documents/:id': {
    kind: 'resource',
    request: async (f, fresh) => {
      if (f.collection !== 'FRESH') return { url: `/v1/collections/${f.collection}/documents/${f.documentId}` };
      const doc = await fresh.document();
      return { url: `/v1/collections/${doc.collection}/documents/${doc.id}` };
    },
  },
  'POST /v1/collections/:collection/search': {
    kind: 'resource',
    request: (f) => ({ url: `/v1/collections/${f.collection}/search`, payload: { query: 'refunds' } }),
  },
  'POST /v1/ask': { kind: 'resource', request: (f) => ({ url: '/v1/ask', payload: { question: 'How long do refunds take?', collection: f.collection } }) },
  'GET /v1/keys': { kind: 'list', request: () => ({ url: '/v1/keys' }) },
  'POST /v1/keys': { kind: 'own', request: () => ({ url: '/v1/keys', payload: { role: 'viewer' } }) },
  'DELETE /v1/keys/:id': { kind: 'resource', request: async (f, fresh) => ({ url: `/v1/keys/${f.keyId === 'FRESH' ? await fresh.key() : f.keyId}` }) },
  'POST /v1/tasks/:name/jobs': { kind: 'resource', request: (f) => ({ url: `/v1/tasks/${f.task}/jobs`, payload: { input } }) },
  'POST /v1/collections/:collection/jobs': { kind: 'resource', request: (f) => ({ url: `/v1/collections/${f.collection}/jobs`, payload: docs }) },
  'GET /v1/jobs': { kind: 'list', request: () => ({ url: '/v1/jobs' }) },
  'GET /v1/jobs/:id': { kind: 'resource', request: (f) => ({ url: `/v1/jobs/${f.jobId}` }) },
  'DELETE /v1/jobs/:id': { kind: 'resource', request: async (f, fresh) => ({ url: `/v1/jobs/${f.jobId === 'FRESH' ? await fresh.job() : f.jobId}` }) },
  // The stream ends at a terminal state, so the owner reads the events of a cancelled job.
  'GET /v1/jobs/:id/events': {
    kind: 'resource',
    request: async (f, fresh) => ({ url: `/v1/jobs/${f.jobId === 'FRESH' ? await fresh.finishedJob() : f.jobId}/events` }),
  },
  'GET /v1/usage': { kind: 'list', request: () => ({ url: '/v1/usage?group_by=key' }) },
  'GET /v1/quotas': { kind: 'list', request: () => ({ url: '/v1/quotas' }) },
  'POST /v1/chat/completions': {
    kind: 'own',
    request: () => ({ url: '/v1/chat/completions', payload: { model: 'default', messages: [{ role: 'user', content: 'hi' }] } }),
  },
  'POST /v1/embeddings': { kind: 'own', request: () => ({ url: '/v1/embeddings', payload: { model: 'builtin', input: 'hi' } }) },
  'GET /v1/models': { kind: 'own', request: () => ({ url: '/v1/models' }) },
  'GET /v1/models/:id': { kind: 'own', request: () => ({ url: '/v1/models/default' }) },
};

/** Matrix cells in flight at once: enough to overlap the store's round trips, few enough that no request waits long. */
const MATRIX_CONCURRENCY = 8;

/** Runs `tasks`, at most `limit` at a time. */
async function inParallel(tasks: ReadonlyArray<() => Promise<void>>, limit: number): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < tasks.length) await tasks[next++]();
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, lane));
}

export function authzContract(target: () => Promise<{ store: Partial<Config>; schema?: string }>): void {
  let app: App;
  let server: FastifyInstance;
  let mock: MockLlm;
  const routeTable: Array<{ method: string; url: string; role: Role }> = [];
  const owner = {} as Fixture & { keys: Record<Role, string>; tenantId: string };
  const intruder = {} as { keys: Record<Role, string>; tenantId: string };

  const call = (method: string, key: string, url: string, payload?: unknown) =>
    server.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });

  beforeAll(async () => {
    const { store, schema } = await target();
    mock = await startMockLlm({ seed: 7 });
    const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-authz-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
    const config: Config = {
      ...base,
      ...store,
      providers: { ...base.providers, mock: { name: 'mock', type: 'openai-compatible', base_url: mock.url, native_structured_output: true } },
      models: { ...base.models, 'mock-model': { name: 'mock-model', provider: 'mock', price: { input_per_mtok: 1, output_per_mtok: 2 } } },
      routes: { default: ['mock-model'] },
      // Jobs stay queued: the matrix is about who may see them, not about running them.
      jobs: { ...base.jobs, in_process: false },
    };
    app = await createApp(config, { lock: false, schema, logger: { error: () => undefined } });
    server = await buildServer(app, { logger: false, routeTable });

    for (const [who, id] of [
      [owner, `owner-${Math.random().toString(36).slice(2, 8)}`],
      [intruder, `intruder-${Math.random().toString(36).slice(2, 8)}`],
    ] as const) {
      who.tenantId = id;
      who.keys = {} as Record<Role, string>;
      for (const role of ROLES) who.keys[role] = (await tenantWithKey(app, role, id)).key;
    }
    const admin = owner.keys.admin;
    owner.task = 'triage';
    const pushed = await call('POST', admin, '/v1/tasks', triageDefinition({ route: 'default' }));
    expect(pushed.statusCode).toBe(201);
    owner.version = pushed.json().version;
    owner.dataset = 'tickets';
    expect((await call('POST', admin, '/v1/tasks/triage/datasets', { name: 'tickets', cases: [{ input }] })).statusCode).toBe(201);
    owner.evalId = 'eval_owner';
    await app.store.evals.createEval(owner.tenantId, {
      id: owner.evalId,
      task: 'triage',
      version: owner.version,
      datasetName: 'tickets',
      datasetVersion: 'v',
      createdBy: 'test',
      leaseUntil: new Date(),
    });
    const run = await call('POST', admin, '/v1/tasks/triage/run', { input });
    expect(run.statusCode).toBe(200);
    owner.runId = run.json().run_id;
    owner.collection = 'handbook';
    expect((await call('POST', admin, '/v1/collections', { name: 'handbook' })).statusCode).toBe(201);
    const ingested = await call('POST', admin, '/v1/collections/handbook/documents', docs);
    owner.documentId = ingested.json().results[0].document_id;
    const job = await call('POST', admin, '/v1/tasks/triage/jobs', { input });
    expect(job.statusCode).toBe(202);
    owner.jobId = job.json().job.id;
    owner.keyId = (await app.auth.listKeys(owner.tenantId)).find((k) => k.role === 'viewer')!.id;
  });

  afterAll(async () => {
    await server?.close();
    await app?.close();
    await mock?.close();
  });

  it('has a row for every /v1 route', async () => {
    await server.ready();
    const registered = routeTable.map((r) => `${r.method} ${r.url}`).sort();
    expect(registered.length).toBeGreaterThan(20);
    expect(registered.filter((r) => !(r in CASES))).toEqual([]);
  });

  it('denies every role below the route’s with 403 and every foreign tenant’s resource with 404', async () => {
    const failures: string[] = [];
    const fresh = (key: string): Fresh => ({
      async collection() {
        const name = `tmp-${Math.random().toString(36).slice(2, 8)}`;
        await call('POST', owner.keys.admin, '/v1/collections', { name });
        return name;
      },
      async document() {
        const collection = await this.collection();
        const res = await call('POST', owner.keys.admin, `/v1/collections/${collection}/documents`, docs);
        return { collection, id: res.json().results[0].document_id };
      },
      async key() {
        return (await call('POST', owner.keys.admin, '/v1/keys', { role: 'viewer' })).json().api_key.id;
      },
      async job() {
        return (await call('POST', key, '/v1/tasks/triage/jobs', { input })).json().job?.id ?? 'none';
      },
      async finishedJob() {
        const id = await this.job();
        await call('DELETE', key, `/v1/jobs/${id}`);
        return id;
      },
    });

    // Every (route, role) cell is independent (destructive calls get fresh resources): they run
    // MATRIX_CONCURRENCY at a time, and the failures are sorted so a report reads the same.
    const cells: Array<() => Promise<void>> = [];
    for (const route of routeTable) {
      const id = `${route.method} ${route.url}`;
      const spec = CASES[id];
      for (const role of ROLES)
        cells.push(async () => {
          // Foreign tenant: never sees, changes or runs the owner's things.
          {
            const { url, payload } = await spec.request(owner, fresh(owner.keys.admin));
            const res = await call(route.method, intruder.keys[role], url, payload);
            const allowed = roleAllows(role, route.role);
            const body = res.body;
            if (!allowed && res.statusCode !== 403) failures.push(`${id} foreign ${role}: ${res.statusCode}, wanted 403`);
            if (allowed && spec.kind === 'resource' && res.statusCode !== 404) failures.push(`${id} foreign ${role}: ${res.statusCode}, wanted 404`);
            if (allowed && spec.kind !== 'resource' && (res.statusCode >= 400 || res.statusCode < 200))
              failures.push(`${id} foreign ${role}: ${res.statusCode} ${body.slice(0, 200)}`);
            // A 404 echoes the id the caller sent; lists and creations must not mention the owner's things.
            if (spec.kind !== 'resource')
              for (const secret of [owner.runId, owner.jobId, owner.documentId, owner.keyId, owner.tenantId, 'handbook']) {
                if (body.includes(secret)) failures.push(`${id} foreign ${role}: response mentions ${secret}`);
              }
          }
          // Own tenant: exactly the roles at or above the route's get through.
          {
            const destructive = route.method === 'DELETE' || route.url.endsWith('/events');
            const fixture = destructive ? { ...owner, collection: 'FRESH', keyId: 'FRESH', jobId: 'FRESH' } : owner;
            const { url, payload } = await spec.request(fixture, fresh(owner.keys.admin));
            const started = performance.now();
            const res = await call(route.method, owner.keys[role], url, payload);
            if (performance.now() - started > 2_000) failures.push(`${id} own ${role}: took ${Math.round(performance.now() - started)} ms`);
            const allowed = roleAllows(role, route.role);
            if (!allowed && res.statusCode !== 403) failures.push(`${id} own ${role}: ${res.statusCode}, wanted 403`);
            if (allowed && [401, 403, 404].includes(res.statusCode)) failures.push(`${id} own ${role}: ${res.statusCode} ${res.body.slice(0, 200)}`);
            if (res.statusCode >= 500) failures.push(`${id} own ${role}: ${res.statusCode} ${res.body.slice(0, 200)}`);
          }
        });
    }
    await inParallel(cells, MATRIX_CONCURRENCY);
    expect(failures.sort()).toEqual([]);
  }, 120_000);

  it("leaves the owner's data intact after every foreign attempt", async () => {
    const admin = owner.keys.admin;
    expect((await call('GET', admin, `/v1/tasks/${owner.task}`)).statusCode).toBe(200);
    expect((await call('GET', admin, `/v1/runs/${owner.runId}`)).statusCode).toBe(200);
    expect((await call('GET', admin, `/v1/collections/${owner.collection}/documents/${owner.documentId}`)).statusCode).toBe(200);
    expect((await call('GET', admin, `/v1/jobs/${owner.jobId}`)).json().job.status).not.toBe('cancelled');
    expect((await app.auth.listKeys(owner.tenantId)).find((k) => k.id === owner.keyId)?.revokedAt).toBeUndefined();
  });
}
