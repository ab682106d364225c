import { jsonParam } from './json-param.js';
import type { DatasetRecord, Database, EvalRecord, EvalRepository } from './ports.js';

/**
 * Golden datasets (immutable rows keyed by content hash; the newest row of a name is current)
 * and eval records (a row written when an eval starts, renewed while it runs, finished with its
 * report). Every query names the tenant.
 */
export function createEvalRepository(db: Database): EvalRepository {
  return {
    async saveDataset(tenantId, { name, version, task, cases }) {
      const rows = await db.query(
        `INSERT INTO eval_datasets (tenant_id, name, version, task_name, cases, case_count)
         VALUES ($1, $2, $3, $4, $5::jsonb, $6)
         ON CONFLICT (tenant_id, name, version) DO NOTHING
         RETURNING version`,
        [tenantId, name, version, task, jsonParam(cases), cases.length],
      );
      return { created: rows.length > 0 };
    },

    async getDataset(tenantId, name, version) {
      const rows = await db.query<DatasetRow>(
        `SELECT name, version, task_name, cases, case_count, created_at FROM eval_datasets
          WHERE tenant_id = $1 AND name = $2 AND ($3::text IS NULL OR version = $3)
          ORDER BY created_at DESC, version DESC LIMIT 1`,
        [tenantId, name, version ?? null],
      );
      return rows[0] && { ...toDataset(rows[0]), cases: rows[0].cases };
    },

    async datasetHead(tenantId, name, version) {
      const rows = await db.query<Omit<DatasetRow, 'cases'>>(
        `SELECT name, version, task_name, case_count, created_at FROM eval_datasets
          WHERE tenant_id = $1 AND name = $2 AND ($3::text IS NULL OR version = $3)
          ORDER BY created_at DESC, version DESC LIMIT 1`,
        [tenantId, name, version ?? null],
      );
      return rows[0] && toDataset(rows[0]);
    },

    async listDatasets(tenantId, task) {
      const rows = await db.query<Omit<DatasetRow, 'cases'>>(
        `SELECT DISTINCT ON (name) name, version, task_name, case_count, created_at FROM eval_datasets
          WHERE tenant_id = $1 AND ($2::text IS NULL OR task_name = $2)
          ORDER BY name, created_at DESC, version DESC`,
        [tenantId, task ?? null],
      );
      return rows.map(toDataset);
    },

    async createEval(tenantId, record) {
      await db.query(
        `INSERT INTO evals (tenant_id, id, task_name, version, baseline_version, dataset_name, dataset_version, status, created_by, lease_until)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8, $9)
         ON CONFLICT (tenant_id, id) DO UPDATE
           SET status = 'running', lease_until = excluded.lease_until, gate_passed = NULL, report = NULL, error = NULL, finished_at = NULL`,
        [
          tenantId,
          record.id,
          record.task,
          record.version,
          record.baselineVersion ?? null,
          record.datasetName,
          record.datasetVersion,
          record.createdBy,
          record.leaseUntil,
        ],
      );
    },

    async renewEval(tenantId, id, leaseUntil) {
      await db.query(`UPDATE evals SET lease_until = $3 WHERE tenant_id = $1 AND id = $2 AND status = 'running'`, [tenantId, id, leaseUntil]);
    },

    async finishEval(tenantId, id, result) {
      await db.query(
        `UPDATE evals SET status = $3, gate_passed = $4, report = $5::jsonb, error = $6::jsonb, finished_at = clock_timestamp()
          WHERE tenant_id = $1 AND id = $2`,
        [
          tenantId,
          id,
          result.status,
          result.gatePassed ?? null,
          result.report === undefined ? null : jsonParam(result.report),
          result.error === undefined ? null : jsonParam(result.error),
        ],
      );
    },

    async getEval(tenantId, id) {
      const rows = await db.query<EvalRow>(`SELECT ${EVAL_COLUMNS}, report FROM evals WHERE tenant_id = $1 AND id = $2`, [tenantId, id]);
      return rows[0] && toEval(rows[0]);
    },

    async listEvals(tenantId, task, limit) {
      const rows = await db.query<EvalRow>(
        `SELECT ${EVAL_COLUMNS} FROM evals WHERE tenant_id = $1 AND task_name = $2 ORDER BY created_at DESC, id DESC LIMIT $3`,
        [tenantId, task, limit],
      );
      return rows.map(toEval);
    },

    async running(tenantId, task, version) {
      const rows = await db.query<EvalRow>(
        `SELECT ${EVAL_COLUMNS} FROM evals
          WHERE tenant_id = $1 AND task_name = $2 AND version = $3 AND status = 'running' AND lease_until > clock_timestamp()
          ORDER BY created_at DESC LIMIT 1`,
        [tenantId, task, version],
      );
      return rows[0] && toEval(rows[0]);
    },

    async latestGated(tenantId, query) {
      const rows = await db.query<EvalRow>(
        `SELECT ${EVAL_COLUMNS}, report FROM evals
          WHERE tenant_id = $1 AND task_name = $2 AND version = $3 AND baseline_version IS NOT DISTINCT FROM $4
            AND dataset_name = $5 AND dataset_version = $6 AND status = 'done' AND gate_passed IS NOT NULL
          ORDER BY finished_at DESC LIMIT 1`,
        [tenantId, query.task, query.version, query.baselineVersion ?? null, query.datasetName, query.datasetVersion],
      );
      return rows[0] && toEval(rows[0]);
    },
  };
}

interface DatasetRow {
  name: string;
  version: string;
  task_name: string;
  cases: unknown[];
  case_count: number;
  created_at: Date;
}

function toDataset(row: Omit<DatasetRow, 'cases'>): Omit<DatasetRecord, 'cases'> {
  return { name: row.name, version: row.version, task: row.task_name, caseCount: row.case_count, createdAt: row.created_at };
}

const EVAL_COLUMNS =
  'id, task_name, version, baseline_version, dataset_name, dataset_version, status, gate_passed, error, created_by, lease_until, created_at, finished_at';

interface EvalRow {
  id: string;
  task_name: string;
  version: string;
  baseline_version: string | null;
  dataset_name: string;
  dataset_version: string;
  status: EvalRecord['status'];
  gate_passed: boolean | null;
  report?: unknown;
  error: EvalRecord['error'] | null;
  created_by: string;
  lease_until: Date;
  created_at: Date;
  finished_at: Date | null;
}

function toEval(row: EvalRow): EvalRecord {
  return {
    id: row.id,
    task: row.task_name,
    version: row.version,
    baselineVersion: row.baseline_version ?? undefined,
    datasetName: row.dataset_name,
    datasetVersion: row.dataset_version,
    status: row.status,
    gatePassed: row.gate_passed ?? undefined,
    report: row.report ?? undefined,
    error: row.error ?? undefined,
    createdBy: row.created_by,
    leaseUntil: row.lease_until,
    createdAt: row.created_at,
    finishedAt: row.finished_at ?? undefined,
  };
}
