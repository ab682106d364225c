import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runRecord } from '../../limits/test-fixtures.js';
import { openStore } from '../../store/index.js';
import { runCli } from '../test-cli.js';

/**
 * `groundwork quotas` and `groundwork usage` in-process, on a real embedded data folder
 * (each command opens, locks and closes it like a separate CLI process would).
 */

let dir: string;

const cli = (...args: string[]) => runCli(dir, ...args);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gw-quotas-cli-'));
  const store = await openStore({ dataDir: dir, lock: { role: 'cli' } });
  try {
    await store.db.query(`INSERT INTO tenants (id, name, webhook_secret) VALUES ('acme', 'Acme', 'secret')`);
    const now = Date.now();
    await store.runs.record(
      'acme',
      runRecord({ createdAt: new Date(now - 1_000), taskName: 'triage', keyId: 'key-1', inputTokens: 1_000, outputTokens: 200, costUsd: 0.25 }),
    );
    await store.runs.record(
      'acme',
      runRecord({ createdAt: new Date(now - 2_000), taskName: 'extract', keyId: 'key-1', inputTokens: 10, outputTokens: 5, costUsd: 0.01 }),
    );
  } finally {
    await store.close();
  }
});

afterAll(() => {
  process.exitCode = 0;
});

describe('groundwork quotas', () => {
  it('sets quotas (soft with --soft) and shows them with the usage so far', async () => {
    const set = await cli('quotas', 'set', 'acme', '--usd-per-day', '5', '--tokens-per-month', '1000000', '--soft');
    expect(set).toMatchObject({ code: 0, stderr: '' });
    expect(set.stdout).toMatch(/tokens per month\s+soft\s+used 1215 of 1000000/);
    expect(set.stdout).toMatch(/usd per day\s+soft\s+used \$0\.26 of \$5\.00/);

    await cli('quotas', 'set', 'acme', '--usd-per-day', '2.5');
    const shown = await cli('--json', 'quotas', 'show', 'acme');
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toEqual({
      tenant: 'acme',
      quotas: [
        expect.objectContaining({ metric: 'usd', period: 'day', limit: 2.5, enforcement: 'hard', used: 0.26, reserved: 0 }),
        expect.objectContaining({ metric: 'tokens', period: 'month', limit: 1_000_000, enforcement: 'soft', used: 1_215 }),
      ],
    });
  });

  it('unsets quotas', async () => {
    const result = await cli('--json', 'quotas', 'unset', 'acme', '--tokens-per-month');
    expect(JSON.parse(result.stdout).quotas.map((q: { metric: string }) => q.metric)).toEqual(['usd']);
  });

  it('reports an unknown tenant, a missing quota flag and a bad number, exiting 1', async () => {
    const unknown = await cli('quotas', 'set', 'nobody', '--usd-per-day', '1');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/TENANT_NOT_FOUND/);
    const none = await cli('quotas', 'set', 'acme');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/--usd-per-day/);
    // Commander rejects a bad number itself, before the action runs: exit 1 with the reason.
    const written: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => (written.push(String(chunk)), true));
    // Commander exits the process there: stopped here, so the test process lives on.
    const exit = vi.spyOn(process, 'exit').mockImplementation((code) => {
      throw new Error(`process.exit(${String(code)})`);
    });
    try {
      await expect(cli('quotas', 'set', 'acme', '--usd-per-day', 'lots')).rejects.toThrow('process.exit(1)');
    } finally {
      write.mockRestore();
      exit.mockRestore();
    }
    expect(written.join('')).toMatch(/--usd-per-day <n>' argument 'lots' is invalid\. expected a number ≥ 0/);
  });
});

describe('groundwork usage', () => {
  it('prints a table by day, and JSON by task', async () => {
    const table = await cli('usage', '--tenant', 'acme');
    expect(table.code).toBe(0);
    const today = new Date().toISOString().slice(0, 10);
    expect(table.stdout).toMatch(new RegExp(`${today}\\s+2\\s+0\\s+1010\\s+205\\s+\\$0\\.26`));
    expect(table.stdout).toMatch(/total\s+2\s+0\s+1010\s+205/);

    const json = await cli('--json', 'usage', '--tenant', 'acme', '--group-by', 'task');
    expect(JSON.parse(json.stdout).rows.map((r: { group: string; cost_usd: number }) => [r.group, r.cost_usd])).toEqual([
      ['extract', 0.01],
      ['triage', 0.25],
    ]);
  });

  it('says when there is nothing, and rejects bad arguments before opening anything', async () => {
    expect((await cli('usage', '--tenant', 'nobody')).stdout).toMatch(/no runs in this range/);
    const bad = await cli('usage', '--group-by', 'week');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/REQUEST_INVALID_BODY.*group_by/);
  });
});
