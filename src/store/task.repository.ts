import { jsonParam } from './json-param.js';
import type { Database, ReleaseRecord, SaveVersionResult, SqlExecutor, TaskRepository, TaskSummary, TaskVersionRecord } from './ports.js';

/**
 * Task versions are immutable rows keyed by content hash; `tasks` holds one row per task that
 * points at its active version. The first version of a task always becomes active, so every
 * task that has versions has an active one (TaskSummary.activeVersion is never empty). Every
 * change of the active version is a `task_releases` row written in the same transaction, with
 * the task's row locked, so releases of one task are numbered without gaps or races.
 */
export function createTaskRepository(db: Database): TaskRepository {
  return {
    saveVersion(tenantId, { name, version, definition, activate, actor = 'api' }): Promise<SaveVersionResult> {
      return db.transaction(async (tx) => {
        const inserted = await tx.query(
          `INSERT INTO task_versions (tenant_id, task_name, version, definition)
           VALUES ($1, $2, $3, $4::jsonb)
           ON CONFLICT (tenant_id, task_name, version) DO NOTHING
           RETURNING version`,
          [tenantId, name, version, jsonParam(definition)],
        );
        const current = await activeForUpdate(tx, tenantId, name);
        if (current === version) return { created: inserted.length > 0, active: true };
        const created = inserted.length > 0;
        if (current !== undefined && (activate === 'never' || (activate === 'if-new' && !created))) return { created, active: false };
        await setActive(tx, tenantId, name, version, current === undefined);
        await recordRelease(tx, tenantId, name, { action: 'push', actor, fromVersion: current, toVersion: version });
        return { created, active: true };
      });
    },

    activate(tenantId, name, version, params) {
      return db.transaction(async (tx) => {
        const current = await activeForUpdate(tx, tenantId, name);
        if (params.expectedActive !== undefined && current !== params.expectedActive) return 'conflict';
        if (current === version) return undefined;
        await setActive(tx, tenantId, name, version, current === undefined);
        return recordRelease(tx, tenantId, name, { ...params, fromVersion: current, toVersion: version });
      });
    },

    rollback(tenantId, name, actor, reason) {
      return db.transaction(async (tx) => {
        const current = await activeForUpdate(tx, tenantId, name);
        if (current === undefined) return undefined;
        const [previous] = await tx.query<{ from_version: string }>(
          `SELECT from_version FROM task_releases
            WHERE tenant_id = $1 AND task_name = $2 AND to_version = $3 AND action <> 'rollback' AND from_version IS NOT NULL
            ORDER BY seq DESC LIMIT 1`,
          [tenantId, name, current],
        );
        if (!previous) return undefined;
        await setActive(tx, tenantId, name, previous.from_version, false);
        return recordRelease(tx, tenantId, name, { action: 'rollback', actor, reason, fromVersion: current, toVersion: previous.from_version });
      });
    },

    async releases(tenantId, name, limit) {
      const rows = await db.query<ReleaseRow>(
        `SELECT ${RELEASE_COLUMNS} FROM task_releases WHERE tenant_id = $1 AND task_name = $2 ORDER BY seq DESC LIMIT $3`,
        [tenantId, name, limit],
      );
      return rows.map(toRelease);
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

/** The active version, with the task's row locked until the transaction ends (undefined: no task yet). */
async function activeForUpdate(tx: SqlExecutor, tenantId: string, name: string): Promise<string | undefined> {
  const rows = await tx.query<{ active_version: string }>('SELECT active_version FROM tasks WHERE tenant_id = $1 AND name = $2 FOR UPDATE', [tenantId, name]);
  return rows[0]?.active_version;
}

/** Points the task at a stored version (creating its row for a first version); the description is that version's. */
async function setActive(tx: SqlExecutor, tenantId: string, name: string, version: string, create: boolean): Promise<void> {
  await tx.query(
    create
      ? `INSERT INTO tasks (tenant_id, name, active_version, description, updated_at)
         SELECT tenant_id, task_name, version, coalesce(definition->>'description', ''), clock_timestamp()
           FROM task_versions WHERE tenant_id = $1 AND task_name = $2 AND version = $3`
      : `UPDATE tasks t
            SET active_version = v.version, description = coalesce(v.definition->>'description', ''), updated_at = clock_timestamp()
           FROM task_versions v
          WHERE t.tenant_id = $1 AND t.name = $2 AND v.tenant_id = t.tenant_id AND v.task_name = t.name AND v.version = $3`,
    [tenantId, name, version],
  );
}

const RELEASE_COLUMNS = 'task_name, seq, action, from_version, to_version, actor, reason, eval_id, evidence, created_at';

async function recordRelease(
  tx: SqlExecutor,
  tenantId: string,
  name: string,
  release: Omit<ReleaseRecord, 'task' | 'seq' | 'createdAt'>,
): Promise<ReleaseRecord> {
  const [row] = await tx.query<ReleaseRow>(
    `INSERT INTO task_releases (tenant_id, task_name, seq, action, from_version, to_version, actor, reason, eval_id, evidence)
     SELECT $1, $2, coalesce(max(seq), 0) + 1, $3, $4, $5, $6, $7, $8, $9::jsonb
       FROM task_releases WHERE tenant_id = $1 AND task_name = $2
     RETURNING ${RELEASE_COLUMNS}`,
    [
      tenantId,
      name,
      release.action,
      release.fromVersion ?? null,
      release.toVersion,
      release.actor,
      release.reason ?? null,
      release.evalId ?? null,
      release.evidence === undefined ? null : jsonParam(release.evidence),
    ],
  );
  return toRelease(row);
}

interface ReleaseRow {
  task_name: string;
  seq: number;
  action: ReleaseRecord['action'];
  from_version: string | null;
  to_version: string;
  actor: string;
  reason: string | null;
  eval_id: string | null;
  evidence: unknown;
  created_at: Date;
}

function toRelease(row: ReleaseRow): ReleaseRecord {
  return {
    task: row.task_name,
    seq: row.seq,
    action: row.action,
    fromVersion: row.from_version ?? undefined,
    toVersion: row.to_version,
    actor: row.actor,
    reason: row.reason ?? undefined,
    evalId: row.eval_id ?? undefined,
    evidence: row.evidence ?? undefined,
    createdAt: row.created_at,
  };
}
