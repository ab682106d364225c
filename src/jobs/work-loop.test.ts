import { describe, expect, it } from 'vitest';
import { SHUTDOWN, startWorkLoop } from './work-loop.js';

/** The per-queue worker loop against a fake queue: slots, wake-ups, graceful and forced stops. */

function fakeQueue(items: number[]) {
  const asked: number[] = [];
  return {
    asked,
    add: (...more: number[]) => items.push(...more),
    fetch: async (batchSize: number) => {
      asked.push(batchSize);
      return items.splice(0, batchSize);
    },
  };
}

const tick = (ms = 20) => new Promise((r) => setTimeout(r, ms));

describe('work loop', () => {
  it('keeps at most `concurrency` deliveries in flight, fetching only as many as there are free slots', async () => {
    const queue = fakeQueue([1, 2, 3, 4, 5]);
    let running = 0;
    let peak = 0;
    const done: number[] = [];
    const loop = startWorkLoop<number>({
      fetch: queue.fetch,
      handle: async (n) => {
        peak = Math.max(peak, ++running);
        await tick(30);
        running--;
        done.push(n);
      },
      concurrency: 2,
      pollIntervalMs: 10_000,
      onError: (error) => {
        throw error;
      },
    });
    while (done.length < 5) await tick();
    await loop.stop(1_000);
    expect(peak).toBe(2);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5]);
    expect(Math.max(...queue.asked)).toBeLessThanOrEqual(2);
  });

  it('sleeps on an empty queue until notified', async () => {
    const queue = fakeQueue([]);
    const done: number[] = [];
    const loop = startWorkLoop<number>({
      fetch: queue.fetch,
      handle: async (n) => void done.push(n),
      concurrency: 1,
      pollIntervalMs: 60_000,
      onError: () => undefined,
    });
    await tick();
    queue.add(7);
    loop.notify();
    await tick();
    expect(done).toEqual([7]);
    await loop.stop(0);
  });

  it('on stop, lets deliveries finish within the timeout, then aborts the rest with SHUTDOWN and waits for them', async () => {
    const queue = fakeQueue([1, 2]);
    const outcomes: string[] = [];
    const loop = startWorkLoop<number>({
      fetch: queue.fetch,
      handle: (n, signal) =>
        new Promise<void>((resolve) => {
          const onAbort = () => {
            clearTimeout(timer);
            outcomes.push(`${n} released (${String(signal.reason)})`);
            resolve();
          };
          const timer = setTimeout(
            () => {
              signal.removeEventListener('abort', onAbort);
              outcomes.push(`${n} finished`);
              resolve();
            },
            n === 1 ? 30 : 5_000,
          );
          signal.addEventListener('abort', onAbort);
        }),
      concurrency: 2,
      pollIntervalMs: 10_000,
      onError: () => undefined,
    });
    await tick();
    const started = Date.now();
    await loop.stop(200);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(outcomes).toEqual(['1 finished', `2 released (${SHUTDOWN})`]);
    expect(loop.inFlight).toBe(0);
  });

  it('survives a failing fetch and reports it', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const loop = startWorkLoop<number>({
      fetch: async () => {
        if (++calls === 1) throw new Error('connection reset');
        return [];
      },
      handle: async () => undefined,
      concurrency: 1,
      pollIntervalMs: 10,
      onError: (error) => errors.push(error),
    });
    await tick(50);
    await loop.stop(0);
    expect(errors).toHaveLength(1);
    expect(calls).toBeGreaterThan(1);
  });
});
