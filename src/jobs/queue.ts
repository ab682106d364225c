import PgBoss from 'pg-boss';
import type { Database, SqlExecutor } from '../store/ports.js';

/**
 * pg-boss over the store's own Database port, so the queue runs wherever the store does:
 * PGlite (embedded) and a PostgreSQL pool (server) alike, through pg-boss's one-method
 * `db.executeSql` port. pg-boss keeps its tables in its own schema (per test: the test's
 * schema + `_boss`).
 */

/** Queue names. Dead-letter queues keep what ran out of tries, for inspection. */
export const QUEUES = {
  jobs: 'groundwork-jobs',
  jobsDead: 'groundwork-jobs-dead',
  webhooks: 'groundwork-webhooks',
  webhooksDead: 'groundwork-webhooks-dead',
} as const;

/** What a queued job carries: only the key of its row, which holds everything else. */
export interface QueueData {
  tenantId: string;
  jobId: string;
}

export type Delivery = PgBoss.JobWithMetadata<QueueData>;

// pg-boss wraps statements that must hold its advisory lock in `BEGIN; … COMMIT;` and sends
// them as one multi-statement string. Run the inside as a real transaction instead: PGlite's
// parameterized query cannot take several statements, and on a pool a failed statement would
// otherwise return a connection to the pool still inside an aborted transaction.
const LOCKED = /^\s*BEGIN;([\s\S]*)COMMIT;\s*$/;

/** pg-boss's database port over one of ours (the Database, or a transaction for atomic enqueues). */
export function bossDb(db: Pick<Database, 'query'> & Partial<Pick<Database, 'transaction'>>): PgBoss.Db {
  return {
    async executeSql(text: string, values?: unknown[]) {
      const locked = LOCKED.exec(text);
      if (locked && db.transaction) {
        await db.transaction((tx) => tx.exec(locked[1]));
        return { rows: [] };
      }
      return { rows: await (db as SqlExecutor).query(text, values && values.length > 0 ? values : undefined) };
    },
  };
}

export interface OpenQueueOptions {
  db: Database;
  schema: string;
  maintenanceIntervalMs: number;
  onError(error: unknown): void;
}

/** Starts pg-boss (creating or migrating its schema) and makes sure our queues exist. */
export async function openQueue(options: OpenQueueOptions): Promise<PgBoss> {
  const boss = new PgBoss({
    db: bossDb(options.db),
    schema: options.schema,
    // No cron schedules; maintenance re-delivers tries whose worker died (expiry) and archives.
    schedule: false,
    supervise: true,
    maintenanceIntervalSeconds: Math.max(1, Math.round(options.maintenanceIntervalMs / 1000)),
  });
  // An 'error' event without a listener would crash the process.
  boss.on('error', options.onError);
  await boss.start();
  await boss.createQueue(QUEUES.jobsDead);
  await boss.createQueue(QUEUES.webhooksDead);
  await boss.createQueue(QUEUES.jobs, { name: QUEUES.jobs, deadLetter: QUEUES.jobsDead });
  await boss.createQueue(QUEUES.webhooks, { name: QUEUES.webhooks, deadLetter: QUEUES.webhooksDead });
  return boss;
}

/** pg-boss counts delays in whole seconds; backoff needs at least one. */
export function retryOptions(delayMs: number): { retryDelay: number; retryBackoff: boolean } {
  return delayMs <= 0 ? { retryDelay: 0, retryBackoff: false } : { retryDelay: Math.max(1, Math.round(delayMs / 1000)), retryBackoff: true };
}

/** pg-boss refuses expirations of 24 h or more. */
export const MAX_EXPIRE_SECONDS = 24 * 60 * 60 - 1;
