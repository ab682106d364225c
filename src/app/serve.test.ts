import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { GroundworkError } from '../kernel/errors.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { startServer } from './serve.js';

let slow: MockLlm;

function configWith(tasks: Record<string, unknown>[]) {
  const dir = mkdtempSync(join(tmpdir(), 'gw-serve-'));
  const tasksDir = join(dir, 'tasks');
  writeFileSync(
    join(dir, 'groundwork.yaml'),
    stringify({
      port: 0,
      log_level: 'silent',
      data_dir: 'memory://',
      providers: { slow: { type: 'openai-compatible', base_url: slow.url } },
      models: { 'slow-model': { provider: 'slow' } },
      routes: { default: ['slow-model'] },
    }),
  );
  mkdirSync(tasksDir);
  tasks.forEach((t, i) => writeFileSync(join(tasksDir, `t${i}.yaml`), stringify(t)));
  return loadConfig({ env: {}, cwd: dir, overrides: { dataDir: 'memory://' } });
}

beforeAll(async () => {
  slow = await startMockLlm({ latency: { minMs: 1_000, maxMs: 1_000 } });
});
afterAll(async () => {
  await slow.close();
});

describe('startServer', () => {
  it('pushes the task files at start-up and drains in-flight requests on shutdown while refusing new ones', async () => {
    const running = await startServer(configWith([triageDefinition({ name: 'slow-task' })]));
    const input = { subject: 's', body: 'b' };
    const inFlight = fetch(`${running.url}/v1/tasks/slow-task/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${running.localAdmin?.key}` },
      body: JSON.stringify({ input }),
    });
    // Shut down once the run is really in flight (its model call has reached the mock), not
    // after a fixed sleep that a loaded machine can outlast.
    const before = slow.stats().total;
    for (let waited = 0; slow.stats().total === before && waited < 10_000; waited += 5) await new Promise((r) => setTimeout(r, 5));
    const closing = running.close();
    await new Promise((r) => setTimeout(r, 20));
    const refused = await fetch(`${running.url}/healthz`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect([503, 'refused']).toContain(refused);
    const finished = await inFlight;
    expect(finished.status).toBe(200);
    expect((await finished.json()).output).toBeDefined();
    await closing;
  });

  it('refuses to start when a task file is invalid, naming the file and problem', async () => {
    const error = await startServer(configWith([triageDefinition({ name: 'ok' }), triageDefinition({ name: 'broken', prompt: { user: '{{nope}}' } })])).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(GroundworkError);
    expect((error as GroundworkError).message).toMatch(/t1\.yaml: prompt\.user: unknown variable "\{\{nope\}\}"/);
  });
});
