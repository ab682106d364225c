import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { UNSTORABLE_MARKER } from './json-param.js';
import type { AttemptRecord, RunRecord, Store } from './ports.js';
import { createRunBatcher } from './run-batcher.js';

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
    await expect(
      runs.recordMany([
        { tenantId: tenant, run: run('dup') },
        { tenantId: tenant, run: run('dup') },
      ]),
    ).rejects.toMatchObject({ code: '23505' });
    expect(await runs.get(tenant, 'dup')).toBeUndefined();
  });

  it('stores a lone surrogate (which jsonb refuses) as U+FFFD, through recordMany and record', async () => {
    const { runs } = getStore();
    const tenant = `t_${randomBytes(5).toString('hex')}`;
    const input = { messages: [{ role: 'user', content: 'high \ud800 low \udc00 pair \ud83d\ude00 end' }] };
    await runs.recordMany([{ tenantId: tenant, run: run('run_surrogate_many', { input }) }]);
    await runs.record(tenant, run('run_surrogate_one', { input, output: { text: '\udfff' } }));
    const expected = { messages: [{ role: 'user', content: 'high \ufffd low \ufffd pair \ud83d\ude00 end' }] };
    expect((await runs.get(tenant, 'run_surrogate_many'))?.input).toEqual(expected);
    expect(await runs.get(tenant, 'run_surrogate_one')).toMatchObject({ input: expected, output: { text: '\ufffd' } });
  });

  it('stores a run whose values the database refuses with those values repaired, never dropping it', async () => {
    const { runs } = getStore();
    const tenant = `t_${randomBytes(5).toString('hex')}`;
    // Counts past the integer columns and a NUL in plain text (model name, attempt error).
    await runs.record(tenant, run('run_out_of_range', { inputTokens: 3e9, model: 'm\u00002', attempts: [{ ...attempt(1, 'ok'), outputTokens: Number.NaN }] }));
    const stored = await runs.get(tenant, 'run_out_of_range');
    expect(stored).toMatchObject({ inputTokens: 2_147_483_647, model: 'm\ufffd2', attempts: [{ outputTokens: 0 }] });
  });

  it("one tenant's unstorable run never takes other tenants' runs with it: every served run is recorded (batcher)", async () => {
    // Issue 9 item 1: five runs of tenant B and one of tenant A whose input is 10,000 levels deep.
    const store = getStore();
    const [a, b] = [`t_${randomBytes(5).toString('hex')}`, `t_${randomBytes(5).toString('hex')}`];
    let deep: unknown = 'bottom';
    for (let i = 0; i < 10_000; i++) deep = [deep];
    const errors: unknown[] = [];
    const batcher = createRunBatcher({ runs: store.runs, logger: { error: (details) => errors.push(details) } });
    for (let i = 1; i <= 5; i++) batcher.add(b, run(`run_b${i}`));
    batcher.add(a, run('run_a_deep', { input: { model: 'smart', metadata: deep } }));
    batcher.add(a, run('run_a_surrogate', { input: { content: '\ud800' } }));
    await batcher.close();
    expect(errors).toEqual([]);
    for (let i = 1; i <= 5; i++) expect(await store.runs.get(b, `run_b${i}`)).toEqual(run(`run_b${i}`));
    const stored = await store.runs.get(a, 'run_a_deep');
    // Stored with its usage and cost; the part too deep to store replaced by a marker.
    expect(stored).toMatchObject({ status: 'ok', inputTokens: 20, outputTokens: 5, costUsd: 0.00002, attempts: [{ seq: 1 }, { seq: 2 }] });
    expect(JSON.stringify(stored?.input)).toContain(UNSTORABLE_MARKER);
    expect((await store.runs.get(a, 'run_a_surrogate'))?.input).toEqual({ content: '\ufffd' });
  });
}
