import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { loadConfig, type Config } from '../config/config.js';
import { testServer } from '../store/test-server.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { jobServiceContract } from './job-service.contract.js';

const server = await testServer();
const silent = { error: () => undefined, warn: () => undefined, info: () => undefined };

/** createApp puts pg-boss in `<schema>_boss`; test-server drops only the schemas it made. */
async function dropQueueSchemas(schemas: string[]): Promise<void> {
  if (schemas.length === 0) return;
  const client = new pg.Client({ connectionString: server.url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${schemas.map((s) => `${s}_boss`).join(', ')} CASCADE`);
  } finally {
    await client.end();
  }
}

describe.skipIf(!server.available)('durable jobs on a PostgreSQL server', () => {
  const schemas: string[] = [];
  afterAll(async () => {
    await dropQueueSchemas(schemas);
    await server.cleanup();
  });

  describe('the job service contract', () => {
    jobServiceContract(async () => {
      const schema = await server.createSchema('gw_jobs');
      schemas.push(schema);
      return { store: { databaseUrl: server.url }, schema, queueSchema: `${schema}_boss` };
    });
  });

  describe('replicas', () => {
    let mock: MockLlm;
    let worker: App;
    let api: App;

    beforeAll(async () => {
      const schema = await server.createSchema('gw_jobs');
      schemas.push(schema);
      mock = await startMockLlm({ seed: 3 });
      const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-jobs-')), overrides: { databaseUrl: server.url, logLevel: 'silent' } });
      const config: Config = {
        ...base,
        providers: {
          ...base.providers,
          hanging: { name: 'hanging', type: 'openai-compatible', base_url: mock.url, native_structured_output: true, headers: { 'x-mock-fault': 'hang' } },
        },
        models: { ...base.models, 'hanging-model': { name: 'hanging-model', provider: 'hanging' } },
        routes: { default: ['hanging-model'] },
        resilience: { ...base.resilience, retries: 0 },
        jobs: { ...base.jobs, poll_interval_ms: 100 },
      };
      // Two processes' worth of app on one database: one works jobs, the other only serves the API.
      worker = await createApp(config, { lock: false, schema, logger: silent });
      api = await createApp(config, { lock: false, schema, logger: silent });
      await worker.jobs.start(worker, { logger: silent });
      await api.auth.createTenant({ id: 'acme' });
      await api.tasks.pushRaw('acme', triageDefinition());
    });

    afterAll(async () => {
      await Promise.all([worker?.close(), api?.close()]);
      await mock?.close();
    });

    it('a job cancelled through another replica stops on its worker within about a second', async () => {
      const job = await api.jobs.enqueueTaskRun('acme', { task: 'triage', input: { subject: 'a', body: 'b' } });
      const deadline = Date.now() + 15_000;
      while ((await api.jobs.get('acme', job.id)).status !== 'running') {
        if (Date.now() > deadline) throw new Error('the job never started');
        await new Promise((r) => setTimeout(r, 50));
      }
      await new Promise((r) => setTimeout(r, 200));
      const cancelledAt = Date.now();
      await api.jobs.cancel('acme', job.id);
      // The worker's aborted try records its run as an error.
      let run = await api.store.runs.list('acme', { limit: 1 });
      while (run.length === 0 && Date.now() - cancelledAt < 5_000) {
        await new Promise((r) => setTimeout(r, 50));
        run = await api.store.runs.list('acme', { limit: 1 });
      }
      expect(run[0]?.status).toBe('error');
      expect(Date.now() - cancelledAt).toBeLessThan(2_000);
      expect(await api.jobs.get('acme', job.id)).toMatchObject({ status: 'cancelled', attempts: 1 });
    });
  });
});
