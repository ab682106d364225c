import type { SqlExecutor } from '../store/ports.js';

/**
 * Removing every row of a tenant, for tenant deletion (auth-service.ts), inside the caller's
 * transaction. The tables are named here, not found in the catalogue: on a database server the
 * schema may be shared with other software whose tables have a `tenant_id` column too. The
 * tenant-lifecycle contract checks that this list holds every table of Groundwork's schema with
 * a `tenant_id` column, so a migration that adds one fails the tests until it is listed here.
 */

/** Rows removed, by table (only tables where something was removed). */
export type RemovedRows = Record<string, number>;

/**
 * Extra clean-up in the deletion's transaction for state outside the tenant-scoped tables (the
 * job queue's entries), supplied by the composition root; returns what it removed.
 */
export type TenantPurge = (tx: SqlExecutor, tenantId: string) => Promise<RemovedRows>;

/**
 * Every tenant-scoped table, in deletion order: children before the parents their foreign keys
 * point at (run_attempts → runs, tasks → task_versions, documents/changes → collections,
 * api_keys and quota_definitions → tenants).
 */
export const TENANT_TABLES: readonly string[] = [
  'run_attempts',
  'runs',
  'task_releases',
  'tasks',
  'task_versions',
  'evals',
  'eval_datasets',
  'retrieval_chunks',
  'retrieval_changes',
  'retrieval_documents',
  'retrieval_collections',
  'jobs',
  'idempotency_keys',
  'quota_counters',
  'quota_definitions',
  'api_keys',
];

/**
 * Deletes the tenant's rows from every tenant-scoped table, and its rate-limit windows (the one
 * table keyed by a string that starts with the tenant: 'gw-<scope>:<tenant>:<key id>').
 */
export async function purgeTenantRows(tx: SqlExecutor, tenantId: string): Promise<RemovedRows> {
  const removed: RemovedRows = {};
  const count = async (table: string, sql: string) => {
    const [row] = await tx.query<{ n: number }>(`WITH d AS (${sql} RETURNING 1) SELECT count(*)::int AS n FROM d`, [tenantId]);
    if (row.n > 0) removed[table] = row.n;
  };
  for (const table of TENANT_TABLES) await count(table, `DELETE FROM ${table} WHERE tenant_id = $1`);
  // Tenant ids hold no ':' (TENANT_ID_PATTERN), so the second field is exactly the tenant.
  await count('rate_limit_counters', `DELETE FROM rate_limit_counters WHERE key LIKE 'gw-%' AND split_part(key, ':', 2) = $1`);
  return removed;
}
