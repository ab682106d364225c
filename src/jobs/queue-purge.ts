import type { SqlExecutor } from '../store/ports.js';
import { QUEUES } from './queue.js';

/**
 * Removes a deleted tenant's entries from pg-boss's tables (queued, running, finished and
 * archived deliveries of its jobs and webhooks), inside the tenant deletion's transaction.
 *
 * Safe against a worker that holds one of them: the worker's `jobs` row is gone in the same
 * transaction, and pg-boss's complete/fail of an id it no longer has changes nothing and does
 * not throw. An entry holds only the tenant and job ids (queue.ts QueueData); removing it keeps
 * the queue from delivering work that would find no row. Nothing is done when pg-boss never
 * created its schema (a store whose jobs were never used).
 */
export function queuePurge(schema: string): (tx: SqlExecutor, tenantId: string) => Promise<Record<string, number>> {
  const quoted = `"${schema.replaceAll('"', '""')}"`;
  const names = Object.values(QUEUES);
  return async (tx, tenantId): Promise<Record<string, number>> => {
    let removed = 0;
    for (const table of ['job', 'archive']) {
      const [found] = await tx.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [`${quoted}.${table}`]);
      if (!found.present) continue;
      const [row] = await tx.query<{ n: number }>(
        `WITH d AS (DELETE FROM ${quoted}.${table} WHERE name = ANY($1::text[]) AND data->>'tenantId' = $2 RETURNING 1) SELECT count(*)::int AS n FROM d`,
        [names, tenantId],
      );
      removed += row.n;
    }
    return removed > 0 ? { queue_entries: removed } : {};
  };
}
