import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { queueCandidateEvals } from '../app/eval-jobs.js';
import { evaluateTask } from '../app/evaluate.js';
import { loadConfig, type Config } from '../config/config.js';
import { toJUnit, toMarkdown } from '../evals/report.js';
import { taskVersion, taskDefinitionSchema } from '../tasks/definition.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import type { StoreUnderTest } from './api.contract.js';
import { buildServer } from './server.js';
import { tenantWithKey } from './test-auth.js';

/**
 * Issue 11's gate end to end with the mock model, on both stores (releases.test.ts,
 * releases.int.test.ts): a dataset uploaded; a new version of a gated task waits as a candidate;
 * a candidate whose route returns schema-violating output fails its eval (exit 1, the failing
 * cases in JUnit and Markdown) and its promotion is refused; an unchanged candidate passes and is
 * promoted with its eval as evidence; an override is an admin's, with its reason recorded;
 * rollback restores the previous version, and a restart that pushes the task files again
 * undoes neither.
 */

const gate = { schema_valid: { min: 1 }, 'field:category': { max_drop: 0.02 } };
const gated = (overrides: Record<string, unknown> = {}) =>
  triageDefinition({ eval: { dataset: 'tickets', gate, normalisers: [], k: 10 }, ...overrides } as Parameters<typeof triageDefinition>[0]);
const CASES = [
  { id: 'refund', input: { subject: 'Refund please', body: 'Charged twice' }, expected: { category: 'billing' } },
  { id: 'crash', input: { subject: 'App crashes', body: 'On start' }, expected: { category: 'bug' } },
];

export function releasesContract(storeUnderTest: () => Promise<StoreUnderTest>): void {
  let mock: MockLlm;
  let app: App;
  let server: FastifyInstance;
  let config: Config;
  let target: StoreUnderTest;
  let admin: { tenantId: string; key: string };
  let developer: { key: string };
  const inject = (method: 'GET' | 'POST', url: string, payload?: unknown, key = admin.key) =>
    server.inject({ method, url, headers: { authorization: `Bearer ${key}` }, ...(payload === undefined ? {} : { payload: payload as object }) });
  const good = gated();
  const unchanged = gated({ description: 'classify a ticket (reworded)' });
  const broken = gated({ route: 'broken' });
  const version = (raw: Record<string, unknown>) => taskVersion(taskDefinitionSchema.parse(raw));
  const active = async () => (await inject('GET', '/v1/tasks/triage')).json().version as string;

  beforeAll(async () => {
    target = await storeUnderTest();
    mock = await startMockLlm({
      respond: (request) => {
        const text = request.messages.map((m) => (typeof m.content === 'string' ? m.content : '')).join(' ');
        if (request.model === 'broken') return { category: 'unknown' };
        return { category: /refund|charged/i.test(text) ? 'billing' : 'bug', summary: 'triaged' };
      },
    });
    const root = mkdtempSync(join(tmpdir(), 'gw-releases-'));
    const base = loadConfig({ env: {}, cwd: root, overrides: { dataDir: 'memory://', logLevel: 'silent' } });
    config = {
      ...base,
      ...target.store,
      tasksDir: join(root, 'tasks'),
      providers: { ...base.providers, mock: { name: 'mock', type: 'openai-compatible', base_url: mock.url, native_structured_output: true } },
      models: { ...base.models, good: { name: 'good', provider: 'mock' }, broken: { name: 'broken', provider: 'mock' } },
      routes: { default: ['good'], broken: ['broken'] },
      resilience: { ...base.resilience, retries: 0 },
    };
    mkdirSync(config.tasksDir);
    app = await createApp(config, { lock: false, schema: target.schema, logger: { error: () => undefined } });
    server = await buildServer(app, { logger: false });
    admin = await tenantWithKey(app, 'admin');
    developer = await tenantWithKey(app, 'developer', admin.tenantId);
  });

  afterAll(async () => {
    await server?.close();
    await app?.close();
    await mock?.close();
  });

  it('keeps a new version of a gated task as a candidate until its gate eval passes', async () => {
    expect((await inject('POST', '/v1/tasks', good)).json()).toMatchObject({ version: version(good), active: true, candidate: false });
    const upload = await inject('POST', '/v1/tasks/triage/datasets', { name: 'tickets', jsonl: CASES.map((c) => JSON.stringify(c)).join('\n') });
    expect(upload.statusCode, upload.body).toBe(201);
    expect(upload.json().dataset).toMatchObject({ name: 'tickets', task: 'triage', cases: 2 });

    const pushed = await inject('POST', '/v1/tasks', broken);
    expect(pushed.statusCode).toBe(201);
    expect(pushed.json()).toMatchObject({ version: version(broken), active: false, candidate: true });
    expect(await active()).toBe(version(good));

    const early = await inject('POST', '/v1/tasks/triage/promote', { version: version(broken) });
    expect(early.statusCode).toBe(409);
    expect(early.json().error.code).toBe('EVAL_REQUIRED');
  });

  it('fails the broken candidate (exit 1, failing cases in JUnit and Markdown) and refuses to promote it', async () => {
    const outcome = await evaluateTask(app, { tenantId: admin.tenantId, task: 'triage', version: version(broken), dataset: { name: 'tickets' }, gate: true });
    expect(outcome.exitCode).toBe(1);
    expect(outcome.report.baselineVersion).toBe(version(good));
    expect(toJUnit(outcome.report)).toContain('output never validated; missed schema_valid');
    expect(toMarkdown(outcome.report)).toContain('**Cases that got worse (2):** `refund`, `crash`');
    const trialRuns = outcome.report.trials.map((t) => t.result.runId);
    expect(trialRuns.every((id) => typeof id === 'string')).toBe(true);
    // Every case's run, the candidate's and the baseline's, is recorded tagged with the eval.
    const tagged = (await inject('GET', `/v1/runs?eval_id=${outcome.evalId}`)).json().runs as Array<{ id: string; eval_id: string; task_version: string }>;
    expect(tagged).toHaveLength(4);
    expect(tagged.every((r) => r.eval_id === outcome.evalId)).toBe(true);
    expect(tagged.map((r) => r.id)).toEqual(expect.arrayContaining(trialRuns as string[]));

    const recorded = await inject('GET', `/v1/evals/${outcome.evalId}`);
    expect(recorded.json()).toMatchObject({ status: 'done', gate_passed: false, version: version(broken), baseline_version: version(good) });

    const refused = await inject('POST', '/v1/tasks/triage/promote', { version: version(broken) });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error.code).toBe('RELEASE_GATE_FAILED');
    expect(refused.json().error.details.failed.map((c: { metric: string }) => c.metric)).toEqual(['schema_valid', 'field:category']);
    expect(await active()).toBe(version(good));
  });

  it('refuses a promotion while an eval of the version still runs', async () => {
    await inject('POST', '/v1/tasks', unchanged);
    await app.store.evals.createEval(admin.tenantId, {
      id: 'eval_still_running',
      task: 'triage',
      version: version(unchanged),
      datasetName: 'tickets',
      datasetVersion: 'x',
      createdBy: 'test',
      leaseUntil: new Date(Date.now() + 60_000),
    });
    const refused = await inject('POST', '/v1/tasks/triage/promote', { version: version(unchanged) });
    expect(refused.statusCode).toBe(409);
    expect(refused.json().error).toMatchObject({ code: 'EVAL_RUNNING', details: { eval_id: 'eval_still_running' } });
    await app.store.evals.finishEval(admin.tenantId, 'eval_still_running', { status: 'failed', error: { code: 'INTERNAL', message: 'test' } });
  });

  it('passes an unchanged candidate and promotes it with its eval as evidence', async () => {
    const outcome = await evaluateTask(app, {
      tenantId: admin.tenantId,
      task: 'triage',
      version: version(unchanged),
      dataset: { name: 'tickets' },
      gate: true,
    });
    expect(outcome.exitCode).toBe(0);
    const promoted = await inject('POST', '/v1/tasks/triage/promote', { version: version(unchanged) }, developer.key);
    expect(promoted.statusCode, promoted.body).toBe(200);
    expect(promoted.json()).toMatchObject({
      active_version: version(unchanged),
      changed: true,
      release: { action: 'promote', from_version: version(good), to_version: version(unchanged), eval_id: outcome.evalId },
    });
    expect(promoted.json().release.evidence.gate.every((c: { passed: boolean }) => c.passed)).toBe(true);
    expect(await active()).toBe(version(unchanged));
    const again = await inject('POST', '/v1/tasks/triage/promote', { version: version(unchanged) });
    expect(again.json()).toMatchObject({ changed: false, release: null });
  });

  it("records an admin's override with its reason; refuses one without a reason or from a developer", async () => {
    const asDeveloper = await inject('POST', '/v1/tasks/triage/promote', { version: version(broken), override: true, reason: 'hotfix' }, developer.key);
    expect(asDeveloper.statusCode).toBe(403);
    const noReason = await inject('POST', '/v1/tasks/triage/promote', { version: version(broken), override: true });
    expect(noReason.statusCode).toBe(400);
    expect(noReason.json().error.code).toBe('RELEASE_OVERRIDE_INVALID');
    const overridden = await inject('POST', '/v1/tasks/triage/promote', {
      version: version(broken),
      override: true,
      reason: 'incident 42: the new route is required',
    });
    expect(overridden.statusCode).toBe(200);
    expect(overridden.json().release).toMatchObject({ action: 'override', reason: 'incident 42: the new route is required', from_version: version(unchanged) });
    expect(await active()).toBe(version(broken));
  });

  it('rolls back one release at a time to the first version, then says there is nothing before it', async () => {
    expect((await inject('POST', '/v1/tasks/triage/rollback', { reason: 'bad answers' })).json()).toMatchObject({
      active_version: version(unchanged),
      release: { action: 'rollback', from_version: version(broken), reason: 'bad answers' },
    });
    const second = await inject('POST', '/v1/tasks/triage/rollback');
    expect(second.json().active_version, second.body).toBe(version(good));
    const none = await inject('POST', '/v1/tasks/triage/rollback');
    expect(none.statusCode).toBe(409);
    expect(none.json().error.code).toBe('RELEASE_NO_PREVIOUS');
    const releases = (await inject('GET', '/v1/tasks/triage/releases')).json().releases as Array<{ seq: number; action: string; actor: string }>;
    expect(releases.map((r) => r.action)).toEqual(['rollback', 'rollback', 'override', 'promote', 'push']);
    expect(releases.map((r) => r.seq)).toEqual([5, 4, 3, 2, 1]);
  });

  it('survives a restart that pushes the task files again; a changed gated file becomes a candidate', async () => {
    // The tasks folder holds the broken file (rolled back) and a changed one: neither may go live.
    const changed = gated({ description: 'classify a ticket, v3' });
    writeFileSync(join(config.tasksDir, 'triage.yaml'), stringify(broken));
    // A restart: the app closed (the embedded store's folder released) and opened again.
    await server.close();
    await app.close();
    app = await createApp(config, { lock: false, schema: target.schema, logger: { error: () => undefined } });
    server = await buildServer(app, { logger: false });
    expect(await app.syncTaskFiles(admin.tenantId)).toEqual([{ name: 'triage', version: version(broken), created: false, active: false, candidate: true }]);
    writeFileSync(join(config.tasksDir, 'triage.yaml'), stringify(changed));
    const pushed = await app.syncTaskFiles(admin.tenantId);
    expect(pushed[0]).toMatchObject({ version: version(changed), created: true, active: false, candidate: true });
    expect(await active()).toBe(version(good));
    // What serve does next: the new candidate gets its gate eval, queued as a job.
    const lines: string[] = [];
    await queueCandidateEvals(app, admin.tenantId, pushed, { info: (_, message) => void lines.push(message), warn: (_, message) => void lines.push(message) });
    expect(lines).toEqual([`candidate ${version(changed)} of "triage": its gate eval is queued; it goes live if the gate passes`]);
  });

  it('turns a production run into a case; keeps datasets and evals to their tenant', async () => {
    const run = await inject('POST', '/v1/tasks/triage/run', { input: { subject: 'Card charged', body: 'twice this month' } });
    expect(run.statusCode).toBe(200);
    const added = await inject('POST', '/v1/datasets/tickets/cases', { run_id: run.json().run_id, id: 'from-production' });
    expect(added.statusCode, added.body).toBe(201);
    expect(added.json().dataset.cases).toBe(3);
    const listed = (await inject('GET', '/v1/tasks/triage/datasets')).json().datasets;
    expect(listed).toEqual([expect.objectContaining({ name: 'tickets', cases: 3, version: added.json().dataset.version })]);

    const other = await tenantWithKey(app, 'admin');
    await inject('POST', '/v1/tasks', good, other.key);
    const foreignCase = await inject('POST', '/v1/datasets/tickets/cases', { run_id: run.json().run_id }, other.key);
    expect(foreignCase.statusCode).toBe(404);
    expect(foreignCase.json().error.code).toBe('EVAL_DATASET_NOT_FOUND');
    const [someEval] = (await inject('GET', '/v1/tasks/triage/evals')).json().evals as Array<{ id: string }>;
    expect((await inject('GET', `/v1/evals/${someEval.id}`, undefined, other.key)).json().error.code).toBe('EVAL_NOT_FOUND');
    expect((await inject('GET', '/v1/tasks/triage/releases', undefined, other.key)).json().releases).toHaveLength(1);
  });

  it('runs an eval as a durable job, records it under the job, and promotes through the gate when asked', async () => {
    await app.jobs.start(app);
    const changed = version(gated({ description: 'classify a ticket, v3' }));
    const missing = await inject('POST', '/v1/tasks/triage/evals', { dataset: 'nope', version: changed, gate: true });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error.code).toBe('EVAL_DATASET_NOT_FOUND');
    expect((await inject('POST', '/v1/tasks/triage/evals', { dataset: 'tickets', version: changed, promote: true })).json().error.code).toBe(
      'EVAL_GATE_INVALID',
    );

    const finished = async (id: string) => {
      let job = (await inject('GET', `/v1/jobs/${id}`)).json().job as { status: string; result?: Record<string, unknown>; progress: unknown };
      for (let waited = 0; !['succeeded', 'failed', 'cancelled'].includes(job.status) && waited < 30_000; waited += 50) {
        await new Promise((r) => setTimeout(r, 50));
        job = (await inject('GET', `/v1/jobs/${id}`)).json().job;
      }
      return job;
    };
    // The start-up candidate's eval passed its gate on the dataset as it was; a case was added since,
    // so the promotion is refused (a gate is judged on the newest dataset) and the eval stays done.
    const [startup] = (await inject('GET', '/v1/jobs?kind=eval')).json().jobs as Array<{ id: string }>;
    const early = await finished(startup.id);
    expect(early.status, JSON.stringify(early)).toBe('succeeded');
    expect(early.result).toMatchObject({ exit_code: 0, gate_passed: true, promotion_refused: { code: 'EVAL_REQUIRED' } });
    expect(await active()).toBe(version(good));

    const queued = await inject('POST', '/v1/tasks/triage/evals', { dataset: 'tickets', version: changed, gate: true, promote: true, concurrency: 2 });
    expect(queued.statusCode, queued.body).toBe(202);
    const { id, eval_id: evalId } = queued.json().job as { id: string; eval_id: string };
    expect(queued.json().job).toMatchObject({ kind: 'eval', task: 'triage', task_version: changed, dataset: 'tickets' });
    const job = await finished(id);
    expect(job.status, JSON.stringify(job)).toBe('succeeded');
    expect(job.result).toMatchObject({ eval_id: evalId, exit_code: 0, gate_passed: true, promoted: { active_version: changed } });
    expect(job.progress).toEqual({ done: 6, total: 6 });
    expect((await inject('GET', `/v1/evals/${evalId}`)).json()).toMatchObject({ status: 'done', gate_passed: true, baseline_version: version(good) });
    expect(await active()).toBe(changed);
    const [latest] = (await inject('GET', '/v1/tasks/triage/releases')).json().releases;
    expect(latest).toMatchObject({ action: 'promote', eval_id: evalId, to_version: changed });
  });

  it('answers bad uploads with every bad line and stores nothing', async () => {
    const bad = await inject('POST', '/v1/tasks/triage/datasets', { name: 'broken-set', jsonl: '{"input":{"subject":"no body"}}\nnot json' });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('EVAL_DATASET_INVALID');
    expect(bad.json().error.message).toMatch(/line 2 is not JSON/);
    const wrongInput = await inject('POST', '/v1/tasks/triage/datasets', { name: 'broken-set', cases: [{ input: { subject: 'no body' } }] });
    expect(wrongInput.statusCode).toBe(400);
    expect(wrongInput.json().error.message).toMatch(/input task "triage" refuses: line 1/);
    const empty = await inject('POST', '/v1/tasks/triage/datasets', { name: 'broken-set', jsonl: '\n' });
    expect(empty.json().error.code).toBe('EVAL_DATASET_INVALID');
    expect((await inject('GET', '/v1/tasks/triage/datasets')).json().datasets.map((d: { name: string }) => d.name)).toEqual(['tickets']);
    expect((await inject('POST', '/v1/tasks/nope/datasets', { name: 'x', cases: [] })).json().error.code).toBe('TASK_NOT_FOUND');
    const unknownVersion = await inject('POST', '/v1/tasks/triage/promote', { version: '0123456789abcdef' });
    expect(unknownVersion.json().error.code).toBe('TASK_VERSION_NOT_FOUND');
  });
}
