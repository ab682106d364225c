import type { RunRecord, RunRepository } from './ports.js';

/**
 * Batching run recorder for high-rate traffic (the OpenAI-compatible gateway): `add` only
 * queues, so recording never adds a database round trip to a response; a flush writes
 * everything queued in one `recordMany` statement every `flushMs` or once `maxBatch` runs
 * wait. One flush is in flight at a time, so a slow database gets bigger batches, not more
 * concurrent statements. The cost: a run is readable up to `flushMs` after its response,
 * and runs still queued when a process is killed (not closed) are lost.
 */

export interface RunBatcherLogger {
  error(details: Record<string, unknown>, message: string): void;
}

export interface RunBatcherOptions {
  /** recordMany for batches; record for a run that failed its batch (it repairs what cannot be stored). */
  runs: Pick<RunRepository, 'recordMany' | 'record'>;
  logger: RunBatcherLogger;
  /** Longest a queued run waits for its write; default 50 ms. */
  flushMs?: number;
  /** Runs per statement; a full batch is written at once. Default 200. */
  maxBatch?: number;
  /** Queued runs beyond this are dropped (and counted in the log) while the database cannot keep up; default 20,000. */
  maxQueued?: number;
}

export interface RunBatcher {
  /** Queues a run for the next write; never blocks and never throws. */
  add(tenantId: string, run: RunRecord): void;
  /** Writes everything queued so far (tests; shutdown). Never rejects: failed writes are logged. */
  flush(): Promise<void>;
  /** Flushes and stops the timer; later adds are written by a final flush() only. */
  close(): Promise<void>;
}

type Entry = { tenantId: string; run: RunRecord };

/** The database itself is away: bisecting would only multiply failing writes. */
function storeUnavailable(error: unknown): boolean {
  return (error as { code?: unknown } | null)?.code === 'STORE_UNAVAILABLE';
}

export function createRunBatcher(options: RunBatcherOptions): RunBatcher {
  const flushMs = options.flushMs ?? 50;
  const maxBatch = options.maxBatch ?? 200;
  const maxQueued = options.maxQueued ?? 20_000;
  let queue: Entry[] = [];
  let timer: NodeJS.Timeout | undefined;
  let writing: Promise<void> | undefined;
  let dropped = 0;
  let closed = false;
  // Entries whose batch failed: written one by one through `record`.
  const split = new WeakSet<Entry>();

  const write = async (batch: Entry[]): Promise<void> => {
    try {
      // A lone run that failed its batch is written on its own, repaired where it must be.
      if (batch.length === 1 && split.has(batch[0])) await options.runs.record(batch[0].tenantId, batch[0].run);
      else await options.runs.recordMany(batch);
    } catch (error) {
      // One bad run (a value the database refuses, or one that cannot even be turned into a
      // row) must not lose the rest of its batch, whoever's it is: split until it is alone.
      if (!storeUnavailable(error) && (batch.length > 1 || !split.has(batch[0]))) {
        for (const entry of batch) split.add(entry);
        if (batch.length === 1) return write(batch);
        const half = Math.ceil(batch.length / 2);
        await write(batch.slice(0, half));
        await write(batch.slice(half));
        return;
      }
      options.logger.error(
        { err: error instanceof Error ? error.message : String(error), runs: batch.length, run_ids: batch.slice(0, 5).map((e) => e.run.id) },
        'could not record runs',
      );
    }
  };

  // Drains the queue batch by batch; the only writer, so statements never overlap. Requests
  // get a turn between batches (building a batch's rows is this thread's work).
  const drain = async (): Promise<void> => {
    while (queue.length > 0) {
      const batch = queue.length <= maxBatch ? queue : queue.slice(0, maxBatch);
      queue = queue.length <= maxBatch ? [] : queue.slice(maxBatch);
      await write(batch);
      if (queue.length > 0) await new Promise((resolve) => setImmediate(resolve));
    }
    if (dropped > 0) {
      options.logger.error({ dropped }, 'run recording fell behind: runs were dropped');
      dropped = 0;
    }
  };

  const startFlush = (): Promise<void> => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    writing ??= drain().finally(() => {
      writing = undefined;
      // Runs queued while the last batch was being written.
      if (queue.length > 0 && !closed) schedule();
    });
    return writing;
  };

  const schedule = (): void => {
    if (queue.length >= maxBatch) {
      if (!writing) void startFlush();
      return;
    }
    if (!timer && !writing) {
      timer = setTimeout(() => void startFlush(), flushMs);
      timer.unref();
    }
  };

  const flush = async (): Promise<void> => {
    // A flush in flight may have taken only part of the queue; wait for it, then the rest.
    while (writing || queue.length > 0) await (writing ?? startFlush());
  };

  return {
    add(tenantId, run) {
      if (queue.length >= maxQueued) {
        dropped++;
        return;
      }
      queue.push({ tenantId, run });
      if (!closed) schedule();
    },
    flush,
    async close() {
      closed = true;
      await flush();
    },
  };
}
