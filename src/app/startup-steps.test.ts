import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { startupSteps, type StepLogger } from './startup-steps.js';

/** A step whose end the test decides, with a clock the test moves. */
function harness(level: 'info' | 'debug' | 'silent' = 'info') {
  let clock = 0;
  const lines: Array<Record<string, unknown>> = [];
  const steps = startupSteps({ level, logger: () => server, write: (line) => lines.push(JSON.parse(line) as Record<string, unknown>), now: () => clock });
  let server: StepLogger | undefined;
  const serverLines: Array<{ level: string; details: Record<string, unknown>; message: string }> = [];
  return {
    steps,
    lines,
    serverLines,
    advance: async (ms: number) => {
      clock += ms;
      await vi.advanceTimersByTimeAsync(ms);
    },
    serverExists: () => {
      server = {
        info: (details, message) => serverLines.push({ level: 'info', details, message }),
        debug: (details, message) => serverLines.push({ level: 'debug', details, message }),
      };
    },
  };
}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('start-up steps', () => {
  it('a slow step says so while it runs, then how long it took, in lines shaped like pino', async () => {
    const h = harness();
    const store = deferred();
    const running = h.steps.run('opening the embedded store in ./data', () => store.promise);
    await h.advance(499);
    expect(h.lines).toEqual([]);
    await h.advance(1);
    expect(h.lines).toHaveLength(1);
    expect(h.lines[0]).toMatchObject({
      level: 30,
      pid: process.pid,
      step: 'opening the embedded store in ./data',
      ms: 500,
      msg: 'opening the embedded store in ./data…',
    });
    expect(typeof h.lines[0].time).toBe('number');
    await h.advance(1600);
    store.resolve();
    await running;
    expect(h.lines.map((l) => l.msg)).toEqual(['opening the embedded store in ./data…', 'opening the embedded store in ./data: done in 2.1 s']);
    expect(h.lines[1]).toMatchObject({ level: 30, ms: 2100 });
  });

  it('a fast step prints nothing at info, and its time at debug', async () => {
    const quiet = harness('info');
    const value = await quiet.steps.run('pushing the task files', async () => 42);
    expect(value).toBe(42);
    expect(quiet.lines).toEqual([]);

    const verbose = harness('debug');
    await verbose.steps.run('pushing the task files', async () => undefined);
    expect(verbose.lines).toEqual([expect.objectContaining({ level: 20, msg: 'pushing the task files: done in 0 ms' })]);
  });

  it('an announced step (a first start) says what it does as it begins', async () => {
    const h = harness();
    const creating = deferred();
    const running = h.steps.run(
      { label: 'creating the embedded store', announce: 'creating the embedded store (first start: a few seconds)' },
      () => creating.promise,
    );
    expect(h.lines.map((l) => l.msg)).toEqual(['creating the embedded store (first start: a few seconds)']);
    await h.advance(3000);
    creating.resolve();
    await running;
    // No "…" line on top of the announcement.
    expect(h.lines.map((l) => l.msg)).toEqual(['creating the embedded store (first start: a few seconds)', 'creating the embedded store: done in 3.0 s']);
  });

  it("once the server exists, steps log through its logger; a failed step logs no 'done' and rethrows", async () => {
    const h = harness();
    h.serverExists();
    const jobs = deferred();
    const running = h.steps.run('starting the job worker', () => jobs.promise);
    await h.advance(500);
    await h.advance(100);
    jobs.resolve();
    await running;
    expect(h.lines).toEqual([]);
    expect(h.serverLines).toEqual([
      { level: 'info', details: { step: 'starting the job worker', ms: 500 }, message: 'starting the job worker…' },
      { level: 'info', details: { step: 'starting the job worker', ms: 600 }, message: 'starting the job worker: done in 600 ms' },
    ]);

    const failed = h.steps.run('listening', async () => {
      throw new Error('EADDRINUSE');
    });
    await expect(failed).rejects.toThrow('EADDRINUSE');
    await h.advance(1000);
    expect(h.serverLines).toHaveLength(2);
  });

  it('log level silent prints nothing', async () => {
    const h = harness('silent');
    const slow = deferred();
    const running = h.steps.run({ label: 'creating', announce: 'creating (first start)' }, () => slow.promise);
    await h.advance(2000);
    slow.resolve();
    await running;
    expect(h.lines).toEqual([]);
  });
});
