import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import type { AttemptRecord, RunRecord, Store } from './ports.js';

/** `RunRepository.recordMany` on both backends (run.repository.test.ts, run.repository.int.test.ts). */
export function recordManyContract(getStore: () => Store): void {
  const attempt = (seq: number, outcome: AttemptRecord['outcome']): AttemptRecord => ({
    seq,
    tier: seq - 1,
    model: `m${seq}`,
    provider: 'p',
    outcome,
    inputTokens: 10,
    outputTokens: outcome === 'ok' ? 5 : 0,
    tokensEstimated: false,
    costUsd: outcome === 'ok' ? 0.00002 : 0,
    latencyMs: 1.5,
    ...(outcome === 'ok' ? { escalationReason: 'tier 0 (m1): provider_error: HTTP 503' } : { error: 'HTTP 503' }),
  });
  const run = (id: string, extra: Partial<RunRecord> = {}): RunRecord => ({
    id,
    taskName: 'chat.completions',
    taskVersion: 'gateway',
    status: 'ok',
    model: 'm2',
    degraded: true,
    input: { model: 'smart', messages: [{ role: 'user', content: "it's \\ a 'quote'" }] },
    output: { message: { role: 'assistant', content: 'hi' } },
    inputTokens: 20,
    outputTokens: 5,
    costUsd: 0.00002,
    latencyMs: 12.25,
    createdAt: new Date('2025-01-02T03:04:05.678Z'),
    attempts: [attempt(1, 'provider_error'), attempt(2, 'ok')],
    keyId: 'key_1',
    ...extra,
  });

  it('stores runs of several tenants and their attempts in one call, readable like record()', async () => {
    const { runs } = getStore();
    const [a, b] = [`t_${randomBytes(5).toString('hex')}`, `t_${randomBytes(5).toString('hex')}`];
    const error = { code: 'MODEL_ALL_TIERS_FAILED', message: 'all failed', details: { attempts: 2 } };
    await runs.recordMany([
      { tenantId: a, run: run('run_1') },
      { tenantId: b, run: run('run_2', { status: 'error', model: undefined, output: undefined, error, attempts: [attempt(1, 'provider_error')] }) },
      { tenantId: a, run: run('run_3', { attempts: [] }) },
    ]);
    expect(await runs.get(a, 'run_1')).toEqual(run('run_1'));
    const failed = await runs.get(b, 'run_2');
    expect(failed).toMatchObject({ status: 'error', error, attempts: [{ seq: 1, outcome: 'provider_error', error: 'HTTP 503' }] });
    expect(failed?.model).toBeUndefined();
    expect(failed?.output).toBeUndefined();
    expect((await runs.list(a, { limit: 10 })).map((r) => [r.id, r.attemptCount])).toEqual([
      ['run_3', 0],
      ['run_1', 2],
    ]);
    // Tenant scoping holds for batched writes too.
    expect(await runs.get(b, 'run_1')).toBeUndefined();
  });

  it('replaces NUL characters (which PostgreSQL cannot store) instead of failing the batch', async () => {
    const { runs } = getStore();
    const tenant = `t_${randomBytes(5).toString('hex')}`;
    const failed = { ...attempt(1, 'provider_error'), error: 'bad\u0000byte' };
    await runs.recordMany([{ tenantId: tenant, run: run('run_nul', { input: { text: 'a\u0000b', literal: 'back\\u0000slash' }, attempts: [failed] }) }]);
    const stored = await runs.get(tenant, 'run_nul');
    expect(stored?.input).toEqual({ text: 'a\ufffdb', literal: 'back\\u0000slash' });
    expect(stored?.attempts[0].error).toBe('bad\ufffdbyte');
  });

  it('keeps tabs, newlines, carriage returns and backslashes in text and JSON exactly', async () => {
    const { runs } = getStore();
    const tenant = `t_${randomBytes(5).toString('hex')}`;
    const awkward = 'tab\there\nnew line\r\nCRLF \\N not null \\t \\ \\\\ end\\';
    const stored = run('run_awkward', {
      input: { text: awkward, [awkward]: [awkward] },
      model: awkward,
      error: { code: 'X', message: awkward, details: {} },
      attempts: [{ ...attempt(1, 'provider_error'), error: awkward, validationErrors: [awkward] }],
    });
    await runs.recordMany([{ tenantId: tenant, run: stored }]);
    expect(await runs.get(tenant, 'run_awkward')).toEqual(stored);
  });

  it('writes nothing for an empty batch, and all or nothing for a bad one', async () => {
    const { runs } = getStore();
    const tenant = `t_${randomBytes(5).toString('hex')}`;
    await runs.recordMany([]);
    await expect(runs.recordMany([{ tenantId: tenant, run: run('dup') }, { tenantId: tenant, run: run('dup') }])).rejects.toMatchObject({ code: '23505' });
    expect(await runs.get(tenant, 'dup')).toBeUndefined();
  });
}
