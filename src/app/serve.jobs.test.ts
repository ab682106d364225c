import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../config/config.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { startServer } from './serve.js';

/** `serve` and jobs: embedded, the server works the jobs itself; with in_process off it only queues them. */

// Counts the servers' calls to `jobs.start` (the job worker of this process), so "nobody works
// the jobs here" is a fact to assert rather than a status that merely held for a while.
const workers = vi.hoisted(() => ({ started: 0 }));
vi.mock('./app.js', async (importOriginal) => {
  const original = await importOriginal<typeof import('./app.js')>();
  return {
    ...original,
    async createApp(...args: Parameters<typeof original.createApp>) {
      const app = await original.createApp(...args);
      const start = app.jobs.start;
      app.jobs.start = (...startArgs) => {
        workers.started++;
        return start(...startArgs);
      };
      return app;
    },
  };
});

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
beforeEach(() => {
  workers.started = 0;
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
      expect(workers.started).toBe(1);
    } finally {
      await running.close();
    }
  }, 60_000);

  it('with jobs.in_process off: queues only (workers run elsewhere)', async () => {
    const running = await startServer(configWith({ in_process: false }));
    const calls = mock.stats().total;
    try {
      const key = running.localAdmin!.key;
      const created = await fetch(`${running.url}/v1/tasks/triage/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${key}` },
        body: JSON.stringify({ input: { subject: 'Refund', body: 'Charged twice' } }),
      });
      expect(created.status).toBe(202);
      const { job } = (await created.json()) as { job: { id: string; status: string } };
      expect(job.status).toBe('queued');
      // No worker was started in this process, so nothing here will take the job: it stays
      // queued for a `groundwork worker` (no waiting to see that it does), and no model was called.
      expect(workers.started).toBe(0);
      expect((await jobAfter(running.url, key, job.id, 0)).status).toBe('queued');
      expect(mock.stats().total).toBe(calls);
    } finally {
      await running.close();
    }
  }, 60_000);
});
