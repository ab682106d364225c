import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../app/serve.js';
import { loadConfig } from '../config/config.js';
import { canonicalJson } from '../kernel/json.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { isFinalOutcome } from './idempotency.js';
import { idempotencyContract } from './idempotency.contract.js';

describe('Idempotency-Key on the embedded store', () => {
  idempotencyContract(async () => ({ store: { dataDir: 'memory://' } }));
});

describe('isFinalOutcome', () => {
  it('keeps successes and client errors a retry would meet again, never retryable answers', () => {
    for (const status of [200, 201, 202, 400, 401, 402, 403, 404, 413, 415, 422]) expect(isFinalOutcome(status), String(status)).toBe(true);
    for (const status of [101, 304, 408, 409, 425, 429, 499, 500, 502, 503, 504]) expect(isFinalOutcome(status), String(status)).toBe(false);
  });
});

describe('Idempotency-Key across an embedded restart', () => {
  let mock: MockLlm;
  beforeAll(async () => {
    mock = await startMockLlm({ seed: 21 });
  });
  afterAll(async () => {
    await mock?.close();
  });

  it("releases a dead predecessor's pending claims at start, so the key runs at once", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gw-idem-restart-'));
    mkdirSync(join(dir, 'tasks'));
    writeFileSync(join(dir, 'tasks', 'triage.yaml'), stringify(triageDefinition({ name: 'triage' })));
    writeFileSync(
      join(dir, 'groundwork.yaml'),
      stringify({
        port: 0,
        host: '127.0.0.1',
        log_level: 'silent',
        data_dir: join(dir, 'data'),
        providers: { mock: { type: 'openai-compatible', base_url: mock.url, native_structured_output: true } },
        models: { 'mock-model': { provider: 'mock' } },
        routes: { default: ['mock-model'] },
        jobs: { in_process: false },
      }),
    );
    const config = loadConfig({ env: {}, cwd: dir });
    const body = { input: { subject: 'Refund', body: 'Charged twice' } };
    const key = 'idem-restart';
    const post = (running: Awaited<ReturnType<typeof startServer>>) =>
      fetch(`${running.url}/v1/tasks/triage/run`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${running.localAdmin?.key}`, 'idempotency-key': key },
        body: JSON.stringify(body),
      });

    // A process that claimed the key and was killed mid-request: its lease has not run out yet.
    const first = await startServer(config);
    try {
      await first.app.store.db.query(
        `INSERT INTO idempotency_keys (tenant_id, key, scope, body_hash, status, owner, claim_id, lease_until)
         VALUES ('default', $1, 'POST /v1/tasks/triage/run', $2, 'pending', 'inst_killed', 'claim-killed', clock_timestamp() + interval '1 hour')`,
        [key, createHash('sha256').update(canonicalJson(body)).digest('hex')],
      );
      expect(((await (await post(first)).json()) as { error: { code: string } }).error.code).toBe('IDEMPOTENCY_IN_PROGRESS');
    } finally {
      await first.close();
    }

    const second = await startServer(config);
    try {
      const response = await post(second);
      expect(response.status).toBe(200);
      expect(response.headers.get('idempotent-replayed')).toBeNull();
    } finally {
      await second.close();
    }
  });
});
