import { jsonParam } from './json-param.js';
import type { Database, SaveVersionResult, TaskRepository, TaskSummary, TaskVersionRecord } from './ports.js';

/**
 * Task versions are immutable rows keyed by content hash; `tasks` holds one row per task that
 * points at its active version. The first version of a task always becomes active, so every
 * task that has versions has an active one (TaskSummary.activeVersion is never empty).
 */
export function createTaskRepository(db: Database): TaskRepository {
  return {
    saveVersion(tenantId, { name, version, definition, activate }): Promise<SaveVersionResult> {
      return db.transaction(async (tx) => {
        const inserted = await tx.query(
          `INSERT INTO task_versions (tenant_id, task_name, version, definition)
           VALUES ($1, $2, $3, $4::jsonb)
           ON CONFLICT (tenant_id, task_name, version) DO NOTHING
           RETURNING version`,
          [tenantId, name, version, jsonParam(definition)],
        );
        // The description comes from the stored (immutable) definition of the version made active.
        const rows = await tx.query<{ active_version: string }>(
          `INSERT INTO tasks (tenant_id, name, active_version, description, updated_at)
           SELECT tenant_id, task_name, version, coalesce(definition->>'description', ''), clock_timestamp()
             FROM task_versions
            WHERE tenant_id = $1 AND task_name = $2 AND version = $3
           ON CONFLICT (tenant_id, name) DO UPDATE
             SET active_version = excluded.active_version,
                 description = excluded.description,
                 updated_at = excluded.updated_at
             WHERE $4 AND tasks.active_version <> excluded.active_version
           RETURNING active_version`,
          [tenantId, name, version, activate],
        );
        let active = rows.length > 0;
        if (!active) {
          const current = await tx.query<{ active_version: string }>('SELECT active_version FROM tasks WHERE tenant_id = $1 AND name = $2', [tenantId, name]);
          active = current[0]?.active_version === version;
        }
        return { created: inserted.length > 0, active };
      });
    },

    async list(tenantId) {
      const rows = await db.query<TaskRow & { version_count: number }>(
        `SELECT t.name, t.description, t.active_version, t.updated_at,
                (SELECT count(*) FROM task_versions v WHERE v.tenant_id = t.tenant_id AND v.task_name = t.name)::int AS version_count
           FROM tasks t
          WHERE t.tenant_id = $1
          ORDER BY t.name`,
        [tenantId],
      );
      return rows.map((row): TaskSummary => ({
        name: row.name,
        description: row.description,
        activeVersion: row.active_version,
        versionCount: row.version_count,
        updatedAt: row.updated_at,
      }));
    },

    async getActive(tenantId, name) {
      const rows = await db.query<VersionRow>(
        `SELECT v.task_name, v.version, v.definition, v.created_at, true AS active
           FROM tasks t
           JOIN task_versions v ON v.tenant_id = t.tenant_id AND v.task_name = t.name AND v.version = t.active_version
          WHERE t.tenant_id = $1 AND t.name = $2`,
        [tenantId, name],
      );
      return rows[0] && toVersion(rows[0]);
    },

    async getVersion(tenantId, name, version) {
      const rows = await db.query<VersionRow>(
        `SELECT v.task_name, v.version, v.definition, v.created_at, (t.active_version IS NOT DISTINCT FROM v.version) AS active
           FROM task_versions v
           LEFT JOIN tasks t ON t.tenant_id = v.tenant_id AND t.name = v.task_name
          WHERE v.tenant_id = $1 AND v.task_name = $2 AND v.version = $3`,
        [tenantId, name, version],
      );
      return rows[0] && toVersion(rows[0]);
    },

    async listVersions(tenantId, name) {
      const rows = await db.query<Omit<VersionRow, 'definition'>>(
        `SELECT v.task_name, v.version, v.created_at, (t.active_version IS NOT DISTINCT FROM v.version) AS active
           FROM task_versions v
           LEFT JOIN tasks t ON t.tenant_id = v.tenant_id AND t.name = v.task_name
          WHERE v.tenant_id = $1 AND v.task_name = $2
          ORDER BY v.created_at DESC, v.version DESC`,
        [tenantId, name],
      );
      return rows.map((row) => ({ name: row.task_name, version: row.version, createdAt: row.created_at, active: row.active }));
    },
  };
}

interface TaskRow {
  name: string;
  description: string;
  active_version: string;
  updated_at: Date;
}

interface VersionRow {
  task_name: string;
  version: string;
  definition: unknown;
  created_at: Date;
  active: boolean;
}

function toVersion(row: VersionRow): TaskVersionRecord {
  return { name: row.task_name, version: row.version, definition: row.definition, createdAt: row.created_at, active: row.active };
}
