import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { startServer } from './serve.js';

/** `serve` and jobs: embedded, the server works the jobs itself; with in_process off it only queues them. */

let mock: MockLlm;

function configWith(jobs: Record<string, unknown>) {
  const dir = mkdtempSync(join(tmpdir(), 'gw-serve-jobs-'));
  writeFileSync(
    join(dir, 'groundwork.yaml'),
    stringify({
      port: 0,
      log_level: 'silent',
      providers: { mock: { type: 'openai-compatible', base_url: mock.url } },
      models: { 'mock-model': { provider: 'mock' } },
      routes: { default: ['mock-model'] },
      jobs: { poll_interval_ms: 100, ...jobs },
    }),
  );
  mkdirSync(join(dir, 'tasks'));
  writeFileSync(join(dir, 'tasks', 'triage.yaml'), stringify(triageDefinition()));
  return loadConfig({ env: {}, cwd: dir, overrides: { dataDir: 'memory://' } });
}

async function jobAfter(url: string, key: string, id: string, ms: number): Promise<{ status: string }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const { job } = (await (await fetch(`${url}/v1/jobs/${id}`, { headers: { authorization: `Bearer ${key}` } })).json()) as { job: { status: string } };
    if (job.status === 'succeeded' || Date.now() > deadline) return job;
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  mock = await startMockLlm({ seed: 4 });
});
afterAll(async () => {
  await mock.close();
});

describe('serve with jobs', () => {
  it('embedded: works the jobs it queues, and shuts down cleanly', async () => {
    const running = await startServer(configWith({}));
    expect(running.app.config.jobs.in_process).toBe(true);
    try {
      const key = running.localAdmin!.key;
      const created = await fetch(`${running.url}/v1/tasks/triage/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ input: { subject: 'Refund', body: 'Charged twice' } }),
      });
      expect(created.status).toBe(202);
      const { job } = (await created.json()) as { job: { id: string } };
      expect((await jobAfter(running.url, key, job.id, 15_000)).status).toBe('succeeded');
    } finally {
      await running.close();
    }
  }, 60_000);

  it('with jobs.in_process off: queues only (workers run elsewhere)', async () => {
    const running = await startServer(configWith({ in_process: false }));
    try {
      const key = running.localAdmin!.key;
      const created = await fetch(`${running.url}/v1/tasks/triage/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ input: { subject: 'Refund', body: 'Charged twice' } }),
      });
      const { job } = (await created.json()) as { job: { id: string } };
      expect((await jobAfter(running.url, key, job.id, 1_000)).status).toBe('queued');
    } finally {
      await running.close();
    }
  }, 60_000);
});
