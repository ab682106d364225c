/**
 * One queue's worker loop: keeps up to `concurrency` deliveries in flight, fetching as many as
 * there are free slots (pg-boss `fetch`, SKIP LOCKED), and sleeps `pollIntervalMs` when the
 * queue is empty unless `notify` (a local enqueue) wakes it. Our own loop rather than pg-boss
 * `work()`: that one handles a batch as a unit and waits for the whole batch before fetching
 * again; here each job has its own slot, AbortSignal and outcome.
 */

export interface WorkLoopOptions<T> {
  fetch(batchSize: number): Promise<T[]>;
  /** Works one delivery; must settle it itself and never throw. `signal` aborts on forced shutdown. */
  handle(delivery: T, signal: AbortSignal): Promise<void>;
  concurrency: number;
  pollIntervalMs: number;
  onError(error: unknown): void;
}

export interface WorkLoop {
  /** Wakes an idle loop (work was just enqueued in this process). */
  notify(): void;
  readonly inFlight: number;
  /**
   * Stops fetching, waits up to `timeoutMs` for the deliveries in flight, then aborts the
   * rest (their handlers release them) and waits for them to settle.
   */
  stop(timeoutMs: number): Promise<void>;
}

/** The abort reason of a forced shutdown. */
export const SHUTDOWN = 'shutdown';

export function startWorkLoop<T>(options: WorkLoopOptions<T>): WorkLoop {
  const inFlight = new Set<Promise<void>>();
  const shutdown = new AbortController();
  let stopping = false;
  let wake: (() => void) | undefined;
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const loop = (async () => {
    while (!stopping) {
      const free = options.concurrency - inFlight.size;
      if (free <= 0) {
        // A finishing delivery wakes the loop (see finally below).
        await sleep(options.pollIntervalMs);
        continue;
      }
      let deliveries: T[] = [];
      try {
        deliveries = await options.fetch(free);
      } catch (error) {
        options.onError(error);
      }
      for (const delivery of deliveries) {
        const running: Promise<void> = options
          .handle(delivery, shutdown.signal)
          .catch(options.onError)
          .finally(() => {
            inFlight.delete(running);
            wake?.();
          });
        inFlight.add(running);
      }
      if (deliveries.length === 0 && !stopping) await sleep(options.pollIntervalMs);
    }
  })();

  return {
    notify: () => wake?.(),
    get inFlight() {
      return inFlight.size;
    },
    async stop(timeoutMs) {
      stopping = true;
      wake?.();
      await loop;
      let timer: NodeJS.Timeout | undefined;
      const settled = Promise.allSettled([...inFlight]);
      const finished = await Promise.race([settled.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)))]);
      clearTimeout(timer);
      if (!finished) {
        shutdown.abort(SHUTDOWN);
        await settled;
      }
    },
  };
}
