import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AttemptRecord, RunRecord, Store } from './ports.js';

/**
 * Behaviour both store backends must share, run against PGlite (repositories.test.ts) and a
 * PostgreSQL server (store.int.test.ts). Each test works in fresh tenants, so one migrated
 * database serves the whole file; tenant scoping is itself part of the contract.
 */
export function repositoryContract(backend: string, getStore: () => Store): void {
  let tenant: string;
  let other: string;
  beforeEach(() => {
    tenant = `t_${randomBytes(6).toString('hex')}`;
    other = `t_${randomBytes(6).toString('hex')}`;
  });

  describe(`${backend}: task repository`, () => {
    const definition = (description: string, extra: Record<string, unknown> = {}) => ({
      name: 'classify',
      description,
      prompt: { user: 'Classify {{text}}' },
      nested: { list: [1, 2.5, 'three', null, true] },
      ...extra,
    });

    it('stores a version once: the same content hash is never overwritten', async () => {
      const { tasks } = getStore();
      const first = await tasks.saveVersion(tenant, { name: 'classify', version: 'v1', definition: definition('first'), activate: 'always' });
      expect(first).toEqual({ created: true, active: true });
      const again = await tasks.saveVersion(tenant, { name: 'classify', version: 'v1', definition: definition('tampered'), activate: 'always' });
      expect(again).toEqual({ created: false, active: true });
      const stored = await tasks.getVersion(tenant, 'classify', 'v1');
      expect(stored?.definition).toEqual(definition('first'));
    });

    it('activates on request and rolls back to an older version', async () => {
      const { tasks } = getStore();
      await tasks.saveVersion(tenant, { name: 'classify', version: 'v1', definition: definition('one'), activate: 'always' });
      const candidate = await tasks.saveVersion(tenant, { name: 'classify', version: 'v2', definition: definition('two'), activate: 'never' });
      expect(candidate).toEqual({ created: true, active: false });
      expect((await tasks.getActive(tenant, 'classify'))?.version).toBe('v1');

      const promoted = await tasks.saveVersion(tenant, { name: 'classify', version: 'v2', definition: definition('two'), activate: 'always' });
      expect(promoted).toEqual({ created: false, active: true });
      const active = await tasks.getActive(tenant, 'classify');
      expect(active).toMatchObject({ name: 'classify', version: 'v2', active: true, definition: definition('two') });
      expect(active?.createdAt).toBeInstanceOf(Date);
      expect((await tasks.list(tenant))[0]).toMatchObject({ activeVersion: 'v2', description: 'two', versionCount: 2 });

      await tasks.saveVersion(tenant, { name: 'classify', version: 'v1', definition: definition('one'), activate: 'always' });
      expect((await tasks.getActive(tenant, 'classify'))?.version).toBe('v1');
      expect((await tasks.list(tenant))[0].description).toBe('one');
      expect((await tasks.getVersion(tenant, 'classify', 'v2'))?.active).toBe(false);
    });

    it('makes the first version of a task active even when not asked to', async () => {
      const { tasks } = getStore();
      const saved = await tasks.saveVersion(tenant, { name: 'fresh', version: 'a1', definition: definition('x'), activate: 'never' });
      expect(saved).toEqual({ created: true, active: true });
      expect((await tasks.getActive(tenant, 'fresh'))?.version).toBe('a1');
    });

    it('lists tasks by name with version counts, and versions newest first', async () => {
      const { tasks } = getStore();
      await tasks.saveVersion(tenant, { name: 'zeta', version: 'z1', definition: definition('z'), activate: 'always' });
      for (const version of ['b1', 'b2', 'b3']) {
        await tasks.saveVersion(tenant, { name: 'beta', version, definition: definition(version), activate: version !== 'b3' ? 'always' : 'never' });
      }
      const list = await tasks.list(tenant);
      expect(list.map((t) => [t.name, t.activeVersion, t.versionCount])).toEqual([
        ['beta', 'b2', 3],
        ['zeta', 'z1', 1],
      ]);
      expect(list[0].updatedAt).toBeInstanceOf(Date);

      const versions = await tasks.listVersions(tenant, 'beta');
      expect(versions.map((v) => [v.version, v.active])).toEqual([
        ['b3', false],
        ['b2', true],
        ['b1', false],
      ]);
      expect(versions[0]).not.toHaveProperty('definition');
      expect(await tasks.listVersions(tenant, 'missing')).toEqual([]);
      expect(await tasks.getActive(tenant, 'missing')).toBeUndefined();
      expect(await tasks.getVersion(tenant, 'beta', 'nope')).toBeUndefined();
    });

    it('never shows one tenant the tasks of another', async () => {
      const { tasks } = getStore();
      await tasks.saveVersion(tenant, { name: 'secret', version: 's1', definition: definition('mine'), activate: 'always' });
      expect(await tasks.list(other)).toEqual([]);
      expect(await tasks.getActive(other, 'secret')).toBeUndefined();
      expect(await tasks.getVersion(other, 'secret', 's1')).toBeUndefined();
      expect(await tasks.listVersions(other, 'secret')).toEqual([]);
      // The same name and version in another tenant is a separate, new task.
      const theirs = await tasks.saveVersion(other, { name: 'secret', version: 's1', definition: definition('theirs'), activate: 'always' });
      expect(theirs.created).toBe(true);
      expect((await tasks.getActive(tenant, 'secret'))?.definition).toEqual(definition('mine'));
    });
  });

  describe(`${backend}: run repository`, () => {
    let clock = Date.parse('2030-01-01T00:00:00.000Z');
    const runId = () => {
      clock += 1_000;
      return `run_${clock.toString(36).padStart(9, '0')}${randomBytes(8).toString('hex')}`;
    };
    const attempt = (seq: number, extra: Partial<AttemptRecord> = {}): AttemptRecord => ({
      seq,
      tier: seq - 1,
      model: `model-${seq}`,
      provider: 'openai',
      outcome: 'ok',
      inputTokens: 321,
      outputTokens: 45,
      tokensEstimated: false,
      costUsd: 0.000123456789,
      latencyMs: 812.25,
      ...extra,
    });
    const run = (extra: Partial<RunRecord> = {}): RunRecord => ({
      id: runId(),
      taskName: 'classify',
      taskVersion: 'v1',
      status: 'ok',
      model: 'model-2',
      degraded: false,
      input: { text: 'it\'s a \\ back\'slash "quote" — ünïcode 🎉', n: 1.5 },
      output: { label: 'spam', scores: [0.1, 0.9] },
      inputTokens: 642,
      outputTokens: 90,
      costUsd: 0.1 + 0.2,
      latencyMs: 1624.5,
      createdAt: new Date(clock),
      attempts: [
        attempt(1, {
          outcome: 'invalid_output',
          error: "output didn't match",
          validationErrors: ['/label must be one of spam, ham', "/score: can't be > 1"],
          escalationReason: 'invalid_output',
          reask: true,
          repaired: false,
          tokensEstimated: true,
        }),
        attempt(2),
      ],
      ...extra,
    });

    it('records a run with its attempts and reads it back unchanged', async () => {
      const { runs } = getStore();
      const recorded = run();
      await runs.record(tenant, recorded);
      const read = await runs.get(tenant, recorded.id);
      expect(read).toEqual(recorded);
      expect(read?.createdAt).toBeInstanceOf(Date);
      expect(typeof read?.costUsd).toBe('number');
    });

    it('records a failed run with no attempts', async () => {
      const { runs } = getStore();
      const failed = run({
        status: 'error',
        model: undefined,
        output: undefined,
        degraded: true,
        error: { code: 'MODEL_ALL_TIERS_FAILED', message: 'every tier failed', details: { tiers: 2 } },
        attempts: [],
      });
      delete failed.model;
      delete failed.output;
      await runs.record(tenant, failed);
      expect(await runs.get(tenant, failed.id)).toEqual(failed);
      const [summary] = await runs.list(tenant, { limit: 10 });
      expect(summary).toMatchObject({ id: failed.id, status: 'error', attemptCount: 0, error: failed.error });
      expect(summary).not.toHaveProperty('model');
    });

    it('rejects a second run with the same id and stores nothing of it', async () => {
      const { runs } = getStore();
      const first = run();
      await runs.record(tenant, first);
      await expect(runs.record(tenant, { ...first, taskName: 'other', attempts: [attempt(1), attempt(2), attempt(3)] })).rejects.toThrow();
      expect(await runs.get(tenant, first.id)).toEqual(first);
    });

    it('lists newest first with filters and keyset pagination', async () => {
      const { runs } = getStore();
      const recorded: RunRecord[] = [];
      for (let i = 0; i < 7; i++) {
        const r = run({ taskName: i % 2 === 0 ? 'even' : 'odd', status: i % 3 === 0 ? 'error' : 'ok' });
        recorded.push(r);
        await runs.record(tenant, r);
      }
      const newestFirst = [...recorded].reverse().map((r) => r.id);

      const page1 = await runs.list(tenant, { limit: 3 });
      expect(page1.map((r) => r.id)).toEqual(newestFirst.slice(0, 3));
      expect(page1[0]).toMatchObject({ attemptCount: 2, taskName: recorded[6].taskName, costUsd: 0.1 + 0.2 });
      expect(page1[0]).not.toHaveProperty('input');
      const page2 = await runs.list(tenant, { limit: 3, before: page1[2].id });
      expect(page2.map((r) => r.id)).toEqual(newestFirst.slice(3, 6));
      const page3 = await runs.list(tenant, { limit: 3, before: page2[2].id });
      expect(page3.map((r) => r.id)).toEqual(newestFirst.slice(6));

      const even = await runs.list(tenant, { task: 'even', limit: 10 });
      expect(even.map((r) => r.id)).toEqual(newestFirst.filter((id) => recorded.find((r) => r.id === id)!.taskName === 'even'));
      const evenErrors = await runs.list(tenant, { task: 'even', status: 'error', limit: 10 });
      expect(evenErrors.map((r) => r.id)).toEqual([recorded[6].id, recorded[0].id]);
    });

    it('stores text PostgreSQL cannot hold (NUL) with U+FFFD in its place: a served run is never lost to it', async () => {
      const { runs } = getStore();
      const bad = run({ model: 'gpt\u0000-4' });
      await runs.record(tenant, bad);
      expect((await runs.get(tenant, bad.id))?.model).toBe('gpt\ufffd-4');
    });

    it('never shows one tenant the runs of another', async () => {
      const { runs } = getStore();
      const mine = run();
      await runs.record(tenant, mine);
      expect(await runs.get(other, mine.id)).toBeUndefined();
      expect(await runs.list(other, { limit: 100 })).toEqual([]);
      // Ids are unique per tenant, not globally: another tenant's identical id is its own run.
      await runs.record(other, { ...mine, taskName: 'theirs' });
      expect((await runs.get(tenant, mine.id))?.taskName).toBe('classify');
      expect((await runs.get(other, mine.id))?.taskName).toBe('theirs');
    });
  });
}
