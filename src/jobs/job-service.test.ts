import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../app/app.js';
import { loadConfig, type Config } from '../config/config.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { jobServiceContract } from './job-service.contract.js';
import { QUEUES } from './queue.js';

describe('durable jobs on the embedded store (PGlite)', () => {
  jobServiceContract(async () => ({ store: { dataDir: 'memory://' }, queueSchema: 'groundwork_boss' }));
});

describe('embedded restart after a crash', () => {
  let mock: MockLlm;
  let config: Config;
  const silent = { error: () => undefined };

  beforeAll(async () => {
    mock = await startMockLlm({ seed: 2 });
    const dir = mkdtempSync(join(tmpdir(), 'gw-jobs-restart-'));
    const base = loadConfig({ env: {}, cwd: dir, overrides: { dataDir: join(dir, 'data'), logLevel: 'silent' } });
    config = {
      ...base,
      providers: { ...base.providers, mock: { name: 'mock', type: 'openai-compatible', base_url: mock.url, native_structured_output: true } },
      models: { ...base.models, 'mock-model': { name: 'mock-model', provider: 'mock' } },
      routes: { default: ['mock-model'] },
      jobs: { ...base.jobs, poll_interval_ms: 100 },
    };
  });
  afterAll(() => mock?.close());

  it('hands back the tries the dead process held at once, not after their expiry (minutes)', async () => {
    const before = await createApp(config, { lock: false, logger: silent });
    await before.auth.createTenant({ id: 'acme' });
    await before.tasks.pushRaw('acme', triageDefinition());
    const job = await before.jobs.enqueueTaskRun('acme', { task: 'triage', input: { subject: 'a', body: 'b' } });
    // The process took the job and died mid-try (its rows say so; nothing finished them).
    await before.store.db.query(`UPDATE groundwork_boss.job SET state = 'active', started_on = now() WHERE name = $1 AND id = $2`, [QUEUES.jobs, job.queueId]);
    await before.store.db.query(`UPDATE jobs SET status = 'running', attempts = 1 WHERE tenant_id = 'acme' AND id = $1`, [job.id]);
    await before.close();

    const after = await createApp(config, { lock: false, logger: silent });
    try {
      await after.jobs.start(after);
      const deadline = Date.now() + 15_000;
      let state = await after.jobs.get('acme', job.id);
      while (state.status !== 'succeeded' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 50));
        state = await after.jobs.get('acme', job.id);
      }
      expect(state).toMatchObject({ status: 'succeeded', attempts: 2 });
      expect(config.jobs.timeout_ms + config.jobs.expiry_grace_ms).toBeGreaterThan(60_000);
    } finally {
      await after.close();
    }
  }, 60_000);
});
