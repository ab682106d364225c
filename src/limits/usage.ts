import { GroundworkError, type Issue } from '../kernel/errors.js';
import type { SqlExecutor } from '../store/ports.js';
import type { UsageGroupBy, UsageQuery, UsageReport, UsageRow } from './ports.js';

/**
 * Usage is read from the recorded runs (tokens, cost, status, task, model, key), so it needs
 * no ledger of its own and agrees with GET /v1/runs by construction.
 */

export const USAGE_GROUPS: readonly UsageGroupBy[] = ['day', 'task', 'model', 'key'];
const DAY_MS = 86_400_000;
/** Default window: the last 30 days, today included. */
export const USAGE_DEFAULT_DAYS = 30;
export const USAGE_MAX_DAYS = 366;

const GROUP_SQL: Record<UsageGroupBy, string> = {
  day: `to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')`,
  task: 'task_name',
  model: `coalesce(model, '(none)')`,
  key: `coalesce(key_id, '(none)')`,
};

export interface RawUsageQuery {
  from?: string;
  to?: string;
  group_by?: string;
}

const DATE_ONLY = /^\d{4}-\d{2}-\d{2}$/;
// Date-times must say their zone: "10:00" on a server in another zone is not what the caller meant.
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/**
 * `from` and `to` are ISO 8601 dates (UTC days) or date-times with a zone. A date `to`
 * includes that whole day. Defaults: the last 30 days up to now; at most 366 days.
 */
export function parseUsageQuery(raw: RawUsageQuery, nowMs: number): UsageQuery {
  const issues: Issue[] = [];
  const parse = (name: 'from' | 'to', value: string | undefined): Date | undefined => {
    if (value === undefined || value === '') return undefined;
    const ms = DATE_ONLY.test(value) ? Date.parse(`${value}T00:00:00Z`) : DATE_TIME.test(value) ? Date.parse(value) : Number.NaN;
    if (Number.isNaN(ms) || (DATE_ONLY.test(value) && new Date(ms).toISOString().slice(0, 10) !== value)) {
      issues.push({ path: `querystring/${name}`, message: 'must be an ISO 8601 date (2025-01-31) or date-time with a zone (2025-01-31T12:00:00Z)' });
      return undefined;
    }
    // A date `to` means "through that day".
    return new Date(name === 'to' && DATE_ONLY.test(value) ? ms + DAY_MS : ms);
  };
  const groupBy = (raw.group_by ?? 'day') as UsageGroupBy;
  if (!USAGE_GROUPS.includes(groupBy)) issues.push({ path: 'querystring/group_by', message: `must be one of ${USAGE_GROUPS.join(', ')}` });
  const to = parse('to', raw.to) ?? new Date(nowMs);
  const today = Math.floor(nowMs / DAY_MS) * DAY_MS;
  const defaultFrom = raw.to ? to.getTime() - USAGE_DEFAULT_DAYS * DAY_MS : today - (USAGE_DEFAULT_DAYS - 1) * DAY_MS;
  const from = parse('from', raw.from) ?? new Date(defaultFrom);
  if (issues.length === 0) {
    if (from.getTime() >= to.getTime()) issues.push({ path: 'querystring/from', message: 'must be before to' });
    else if (to.getTime() - from.getTime() > USAGE_MAX_DAYS * DAY_MS)
      issues.push({ path: 'querystring/to', message: `the range may span at most ${USAGE_MAX_DAYS} days` });
  }
  if (issues.length > 0) {
    throw new GroundworkError('REQUEST_INVALID_BODY', `invalid usage query: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
      details: { issues },
    });
  }
  return { from, to, groupBy };
}

interface UsageSqlRow {
  group: string;
  runs: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

const RUNS_IN_RANGE = 'FROM runs WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3';

/**
 * Usage by model is read from the attempts: each attempt's tokens and cost count for the model
 * that spent them (a failed cheap tier is not charged to the model that finally answered), and
 * a model's `runs` are the runs it made at least one attempt in. Runs without attempts
 * (abstentions, refusals) count under the run's own model, '(none)' when it has none.
 */
const MODEL_USAGE_SQL = `
WITH r AS (SELECT id, status, model, input_tokens, output_tokens, cost_usd ${RUNS_IN_RANGE}),
spent AS (
  SELECT a.model AS "group", a.run_id, r.status, a.input_tokens, a.output_tokens, a.cost_usd
    FROM run_attempts a JOIN r ON a.run_id = r.id
   WHERE a.tenant_id = $1
  UNION ALL
  SELECT coalesce(r.model, '(none)'), r.id, r.status, r.input_tokens, r.output_tokens, r.cost_usd
    FROM r
   WHERE NOT EXISTS (SELECT 1 FROM run_attempts a WHERE a.tenant_id = $1 AND a.run_id = r.id)
)
SELECT "group",
       count(DISTINCT run_id)::int AS runs,
       (count(DISTINCT run_id) FILTER (WHERE status = 'error'))::int AS errors,
       coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
       coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
       coalesce(sum(cost_usd), 0)::float8 AS cost_usd
  FROM spent
 GROUP BY 1
 ORDER BY 1`;

const TOTALS_SQL = `
SELECT count(*)::int AS runs,
       (count(*) FILTER (WHERE status = 'error'))::int AS errors,
       coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
       coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
       coalesce(sum(cost_usd), 0)::float8 AS cost_usd
  ${RUNS_IN_RANGE}`;

/** One grouped scan of the tenant's runs in [from, to) (index runs_by_time); by model, of their attempts. */
export async function usageReport(db: SqlExecutor, tenantId: string, query: UsageQuery): Promise<UsageReport> {
  const group = GROUP_SQL[query.groupBy];
  const params = [tenantId, query.from, query.to];
  const rows =
    query.groupBy === 'model'
      ? await db.query<UsageSqlRow>(MODEL_USAGE_SQL, params)
      : await db.query<UsageSqlRow>(
          `SELECT ${group} AS "group",
                  count(*)::int AS runs,
                  (count(*) FILTER (WHERE status = 'error'))::int AS errors,
                  coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
                  coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
                  coalesce(sum(cost_usd), 0)::float8 AS cost_usd
             ${RUNS_IN_RANGE}
            GROUP BY 1
            ORDER BY 1`,
          params,
        );
  const out: UsageRow[] = rows.map((row) => ({
    group: row.group,
    runs: Number(row.runs),
    errors: Number(row.errors),
    inputTokens: Number(row.input_tokens),
    outputTokens: Number(row.output_tokens),
    costUsd: Number(row.cost_usd),
  }));
  // Totals are per run (a run that tried two models counts once), so they are read from the runs.
  const [sum] = query.groupBy === 'model' ? await db.query<Omit<UsageSqlRow, 'group'>>(TOTALS_SQL, params) : [undefined];
  const totals = sum
    ? {
        runs: Number(sum.runs),
        errors: Number(sum.errors),
        inputTokens: Number(sum.input_tokens),
        outputTokens: Number(sum.output_tokens),
        costUsd: Number(sum.cost_usd),
      }
    : out.reduce(
        (acc, row) => ({
          runs: acc.runs + row.runs,
          errors: acc.errors + row.errors,
          inputTokens: acc.inputTokens + row.inputTokens,
          outputTokens: acc.outputTokens + row.outputTokens,
          costUsd: acc.costUsd + row.costUsd,
        }),
        { runs: 0, errors: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
      );
  return { from: query.from, to: query.to, groupBy: query.groupBy, rows: out, totals };
}
