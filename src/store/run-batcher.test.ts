import { afterEach, describe, expect, it, vi } from 'vitest';
import type { RunRecord } from './ports.js';
import { createRunBatcher } from './run-batcher.js';

const run = (id: string): RunRecord => ({
  id,
  taskName: 'chat.completions',
  taskVersion: 'gateway',
  status: 'ok',
  degraded: false,
  input: {},
  inputTokens: 1,
  outputTokens: 1,
  costUsd: 0,
  latencyMs: 1,
  createdAt: new Date(0),
  attempts: [],
});

type Entries = Array<{ tenantId: string; run: RunRecord }>;

function recorder(fail?: (batch: Entries) => Error | undefined) {
  const batches: string[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  return {
    batches,
    maxInFlight: () => maxInFlight,
    /** Lone runs that failed their batch come here (the real repository repairs what it cannot store). */
    singles: [] as string[],
    async record(tenantId: string, one: RunRecord) {
      const error = fail?.([{ tenantId, run: one }]);
      if (error) throw error;
      this.singles.push(one.id);
    },
    async recordMany(entries: Entries) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      const error = fail?.(entries);
      if (error) throw error;
      batches.push(entries.map((e) => e.run.id));
    },
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('run batcher', () => {
  it('writes queued runs together after flushMs, not one statement per run', async () => {
    vi.useFakeTimers();
    const runs = recorder();
    const batcher = createRunBatcher({ runs, logger: { error: () => {} }, flushMs: 50 });
    batcher.add('t1', run('a'));
    batcher.add('t2', run('b'));
    await vi.advanceTimersByTimeAsync(49);
    expect(runs.batches).toEqual([]);
    await vi.advanceTimersByTimeAsync(10);
    expect(runs.batches).toEqual([['a', 'b']]);
  });

  it('writes a full batch at once and never runs two statements at the same time', async () => {
    const runs = recorder();
    const batcher = createRunBatcher({ runs, logger: { error: () => {} }, flushMs: 10_000, maxBatch: 3 });
    for (let i = 0; i < 8; i++) batcher.add('t', run(`r${i}`));
    await batcher.flush();
    expect(runs.batches).toEqual([
      ['r0', 'r1', 'r2'],
      ['r3', 'r4', 'r5'],
      ['r6', 'r7'],
    ]);
    expect(runs.maxInFlight()).toBe(1);
  });

  it('logs a failed write instead of throwing, and keeps recording afterwards', async () => {
    const errors: Array<Record<string, unknown>> = [];
    let down = true;
    const runs = recorder(() => (down ? Object.assign(new Error('connection refused'), { code: 'STORE_UNAVAILABLE' }) : undefined));
    const batcher = createRunBatcher({ runs, logger: { error: (details) => errors.push(details) }, flushMs: 1 });
    batcher.add('t', run('lost'));
    await expect(batcher.flush()).resolves.toBeUndefined();
    expect(errors).toEqual([expect.objectContaining({ err: 'connection refused', runs: 1, run_ids: ['lost'] })]);
    down = false;
    batcher.add('t', run('kept'));
    await batcher.flush();
    expect(runs.batches).toEqual([['kept']]);
  });

  it('isolates a run the database rejects, so the rest of its batch is written', async () => {
    const errors: Array<Record<string, unknown>> = [];
    const runs = recorder((batch) => (batch.some((e) => e.run.id === 'bad') ? Object.assign(new Error('invalid input syntax'), { code: '22P02' }) : undefined));
    const batcher = createRunBatcher({ runs, logger: { error: (details) => errors.push(details) } });
    for (const id of ['a', 'b', 'bad', 'c', 'd']) batcher.add('t', run(id));
    await batcher.flush();
    expect(runs.batches.flat().sort()).toEqual(['a', 'b', 'c', 'd']);
    expect(errors).toEqual([expect.objectContaining({ run_ids: ['bad'] })]);
  });

  it('isolates a run whose write fails with any error (not only SQL ones), and gives it its own repairing write', async () => {
    // As seen: one tenant's 10,000-deep body made the whole batch throw "Maximum call stack size
    // exceeded" (a RangeError, no SQLSTATE), and every other tenant's runs were lost.
    const errors: Array<Record<string, unknown>> = [];
    const runs = recorder((batch) =>
      batch.length > 1 && batch.some((e) => e.run.id === 'deep') ? new RangeError('Maximum call stack size exceeded') : undefined,
    );
    const batcher = createRunBatcher({ runs, logger: { error: (details) => errors.push(details) } });
    for (const id of ['b1', 'b2', 'deep', 'b3', 'b4', 'b5']) batcher.add(id === 'deep' ? 'tenant-a' : 'tenant-b', run(id));
    await batcher.flush();
    expect(runs.batches.flat().sort()).toEqual(['b1', 'b2', 'b3', 'b4', 'b5']);
    expect(runs.singles).toEqual(['deep']);
    expect(errors).toEqual([]);
  });

  it('drops (and reports) runs beyond maxQueued while the database cannot keep up', async () => {
    const errors: Array<Record<string, unknown>> = [];
    const runs = recorder();
    const batcher = createRunBatcher({ runs, logger: { error: (details) => errors.push(details) }, flushMs: 10_000, maxBatch: 100, maxQueued: 2 });
    for (const id of ['a', 'b', 'c']) batcher.add('t', run(id));
    await batcher.flush();
    expect(runs.batches).toEqual([['a', 'b']]);
    expect(errors).toEqual([expect.objectContaining({ dropped: 1 })]);
  });

  it('flushes what is queued on close', async () => {
    const runs = recorder();
    const batcher = createRunBatcher({ runs, logger: { error: () => {} }, flushMs: 60_000 });
    batcher.add('t', run('last'));
    await batcher.close();
    expect(runs.batches).toEqual([['last']]);
  });
});
