import { isGroundworkError } from '../kernel/errors.js';
import { jsonParam, storableText, storableValue } from './json-param.js';
import type { AttemptRecord, Database, RunError, RunListQuery, RunRecord, RunRepository, RunSummary } from './ports.js';

/**
 * Runs and their model attempts. `record` is on the hot path of every task run, so it is one
 * statement and one round trip: the run row in a CTE, the attempts expanded from one jsonb
 * parameter. Foreign keys are checked at the end of the statement, so the order is safe.
 */

/** The columns of a run and of an attempt, in the order every write below gives their values. */
const RUN_COLUMNS = `tenant_id, id, task_name, task_version, status, model, degraded, input, output, error,
  input_tokens, output_tokens, cost_usd, latency_ms, created_at, grounding, key_id, eval_id`;
const ATTEMPT_COLUMNS = `tenant_id, run_id, seq, tier, model, provider, outcome, input_tokens, output_tokens,
  tokens_estimated, cost_usd, latency_ms, error, validation_errors, escalation_reason, reask, repaired`;

const RECORD_SQL = `
WITH run AS (
  INSERT INTO runs (${RUN_COLUMNS})
  VALUES ($1::text, $2::text, $3, $4, $5, $6, $7, $8::jsonb, $9::jsonb, $10::jsonb, $11, $12, $13, $14, $15, $17::jsonb, $18::text, $19::text)
)
INSERT INTO run_attempts (${ATTEMPT_COLUMNS})
SELECT $1::text, $2::text, a.seq, a.tier, a.model, a.provider, a.outcome, a.input_tokens, a.output_tokens,
       a.tokens_estimated, a.cost_usd, a.latency_ms, a.error, a.validation_errors, a.escalation_reason, a.reask, a.repaired
  FROM jsonb_to_recordset($16::jsonb) AS a(seq int, tier int, model text, provider text, outcome text,
       input_tokens int, output_tokens int, tokens_estimated boolean, cost_usd float8, latency_ms float8,
       error text, validation_errors jsonb, escalation_reason text, reask boolean, repaired boolean)`;

/**
 * `recordMany`: runs of any tenants in one statement, for the batching recorder (gateway
 * traffic). One array parameter per column, expanded by unnest, so the statement text (and
 * its plan) is the same whatever the batch size; about a quarter cheaper on PGlite than
 * expanding one jsonb document per row.
 */
const RECORD_MANY_SQL = `
WITH run AS (
  INSERT INTO runs (${RUN_COLUMNS})
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[], $8::jsonb[],
                       $9::jsonb[], $10::jsonb[], $11::int[], $12::int[], $13::float8[], $14::float8[], $15::timestamptz[],
                       $16::jsonb[], $17::text[], $18::text[])
)
INSERT INTO run_attempts (${ATTEMPT_COLUMNS})
SELECT * FROM unnest($19::text[], $20::text[], $21::int[], $22::int[], $23::text[], $24::text[], $25::text[], $26::int[],
                     $27::int[], $28::boolean[], $29::float8[], $30::float8[], $31::text[], $32::jsonb[], $33::text[],
                     $34::boolean[], $35::boolean[])`;

/** The embedded store's `recordMany`: the same columns, loaded with COPY (see `copyRows`). */
const COPY_RUNS_SQL = `COPY runs (${RUN_COLUMNS}) FROM '/dev/blob'`;
const COPY_ATTEMPTS_SQL = `COPY run_attempts (${ATTEMPT_COLUMNS}) FROM '/dev/blob'`;

const SUMMARY_COLUMNS = `r.id, r.task_name, r.task_version, r.status, r.model, r.degraded, r.error,
  r.input_tokens, r.output_tokens, r.cost_usd, r.latency_ms, r.created_at, r.grounding, r.key_id, r.eval_id`;

const MAX_LIST_LIMIT = 1_000;

const RECORD_PARAM_TYPES =
  'text, text, text, text, text, text, boolean, jsonb, jsonb, jsonb, integer, integer, float8, float8, timestamptz, jsonb, jsonb, text, text';

export function createRunRepository(db: Database): RunRepository {
  const recordEmbedded = db.kind === 'embedded' ? preparedRecord(db) : undefined;
  return {
    async record(tenantId, run) {
      const write = async (record: RunRecord) => {
        const params = recordParams(tenantId, record);
        if (recordEmbedded) await recordEmbedded(params);
        else await db.query(RECORD_SQL, params);
      };
      try {
        await write(run);
      } catch (error) {
        // The database is away: nothing to repair here, the caller decides.
        if (isGroundworkError(error) && error.code === 'STORE_UNAVAILABLE') throw error;
        // A value the database refused (out of range, too deep for it, …): the run was served
        // and paid for, so store it with what it could not hold replaced, rather than not at all.
        try {
          await write(storableRun(run, 'repaired'));
        } catch {
          await write(storableRun(run, 'markers'));
        }
      }
    },

    async recordMany(entries) {
      if (entries.length === 0) return;
      if (!db.bulkLoad) {
        await db.query(RECORD_MANY_SQL, recordManyParams(entries));
        return;
      }
      // Embedded: PGlite's thread does every write of this process, so the cheapest form
      // counts. COPY (a third cheaper per row than the unnest statement) loads runs, then
      // attempts, in one transaction and one message to that thread. The foreign key of each
      // attempt row costs a per-row check query that locks its run row, and proves nothing
      // here: every attempt's run is loaded in the same transaction. Replica mode skips foreign-key triggers (as pg_restore does for data it
      // trusts) for this transaction only; primary keys, NOT NULL and CHECK still apply.
      // Its commit does wait for the WAL write: PGlite has no WAL writer process, so with
      // synchronous_commit off a committed batch stayed in memory until some later commit,
      // and a killed process lost runs that readers had already been shown.
      const { runs, attempts } = copyRows(entries);
      const copies = [{ sql: COPY_RUNS_SQL, data: runs }];
      if (attempts) copies.push({ sql: COPY_ATTEMPTS_SQL, data: attempts });
      await db.bulkLoad('SET LOCAL session_replication_role = replica', copies);
    },

    async get(tenantId, id) {
      const rows = await db.query<RunRow & { input: unknown; output: unknown; attempts: AttemptRow[] }>(
        `SELECT ${SUMMARY_COLUMNS}, r.input, r.output,
                coalesce((SELECT jsonb_agg(to_jsonb(a) ORDER BY a.seq) FROM run_attempts a
                           WHERE a.tenant_id = r.tenant_id AND a.run_id = r.id), '[]'::jsonb) AS attempts
           FROM runs r
          WHERE r.tenant_id = $1 AND r.id = $2`,
        [tenantId, id],
      );
      const row = rows[0];
      if (!row) return undefined;
      const attempts = row.attempts.map(rowToAttempt);
      const { attemptCount: _, ...summary } = toSummary({ ...row, attempt_count: attempts.length });
      return {
        ...summary,
        input: row.input,
        ...(row.output === null ? {} : { output: row.output }),
        attempts,
      } satisfies RunRecord;
    },

    async list(tenantId, query: RunListQuery) {
      const params: unknown[] = [tenantId];
      const where = ['r.tenant_id = $1'];
      if (query.task !== undefined) where.push(`r.task_name = $${params.push(query.task)}`);
      if (query.status !== undefined) where.push(`r.status = $${params.push(query.status)}`);
      if (query.evalId !== undefined) where.push(`r.eval_id = $${params.push(query.evalId)}`);
      if (query.before !== undefined) where.push(`r.id < $${params.push(query.before)}`);
      const limit = Math.min(Math.max(Math.trunc(query.limit) || 1, 1), MAX_LIST_LIMIT);
      const rows = await db.query<RunRow & { attempt_count: number }>(
        `SELECT ${SUMMARY_COLUMNS},
                (SELECT count(*) FROM run_attempts a WHERE a.tenant_id = r.tenant_id AND a.run_id = r.id)::int AS attempt_count
           FROM runs r
          WHERE ${where.join(' AND ')}
          ORDER BY r.id DESC
          LIMIT ${limit}`,
        params,
      );
      return rows.map(toSummary);
    },
  };
}

/**
 * RECORD_SQL's parameters: the run's row with its attempts as one jsonb document before
 * grounding. NULs in JSON become U+FFFD (as in recordMany); in plain text they fail the write.
 */
function recordParams(tenantId: string, run: RunRecord): unknown[] {
  const row = runRow(tenantId, run).map(clean);
  return [...row.slice(0, 15), jsonParam(run.attempts.map(attemptToRow)), ...row.slice(15)];
}

type Cell = string | number | boolean | null | undefined;

/** A run's row in the column order of RECORD_MANY_SQL and COPY_RUNS_SQL (text not yet cleaned of NULs). */
function runRow(tenantId: string, run: RunRecord): Cell[] {
  return [
    tenantId,
    run.id,
    run.taskName,
    run.taskVersion,
    run.status,
    run.model,
    run.degraded,
    jsonParam(run.input ?? null),
    jsonParam(run.output),
    jsonParam(run.error),
    run.inputTokens,
    run.outputTokens,
    run.costUsd,
    run.latencyMs,
    run.createdAt.toISOString(),
    jsonParam(run.grounding),
    run.keyId,
    run.evalId,
  ];
}

/** An attempt's row in the column order of RECORD_MANY_SQL and COPY_ATTEMPTS_SQL. */
function attemptRow(tenantId: string, runId: string, a: AttemptRecord): Cell[] {
  return [
    tenantId,
    runId,
    a.seq,
    a.tier,
    a.model,
    a.provider,
    a.outcome,
    a.inputTokens,
    a.outputTokens,
    a.tokensEstimated,
    a.costUsd,
    a.latencyMs,
    a.error,
    jsonParam(a.validationErrors),
    a.escalationReason,
    a.reask,
    a.repaired,
  ];
}

/** RECORD_MANY_SQL's 35 column arrays: 18 of runs, then 17 of attempts. */
function recordManyParams(entries: ReadonlyArray<{ tenantId: string; run: RunRecord }>): unknown[][] {
  const columns: unknown[][] = Array.from({ length: 35 }, () => []);
  const push = (offset: number, values: Cell[]) => {
    for (let i = 0; i < values.length; i++) columns[offset + i].push(clean(values[i]));
  };
  for (const { tenantId, run } of entries) {
    push(0, runRow(tenantId, run));
    for (const a of run.attempts) push(18, attemptRow(tenantId, run.id, a));
  }
  return columns;
}

/** Runs and attempts as COPY text-format rows, in the column order of COPY_RUNS_SQL and COPY_ATTEMPTS_SQL. */
function copyRows(entries: ReadonlyArray<{ tenantId: string; run: RunRecord }>): { runs: string; attempts: string } {
  let runs = '';
  let attempts = '';
  for (const { tenantId, run } of entries) {
    runs += copyLine(runRow(tenantId, run));
    for (const a of run.attempts) attempts += copyLine(attemptRow(tenantId, run.id, a));
  }
  return { runs, attempts };
}

/** One row in COPY's text format: tab-separated, \N for NULL, backslash escapes, NULs replaced. */
function copyLine(values: ReadonlyArray<Cell>): string {
  let line = '';
  for (let i = 0; i < values.length; i++) {
    const value = values[i];
    if (i > 0) line += '\t';
    if (value === null || value === undefined) line += '\\N';
    else if (typeof value === 'boolean') line += value ? 't' : 'f';
    else if (typeof value === 'number') line += String(value);
    else line += copyText(text(value));
  }
  return `${line}\n`;
}

const COPY_SPECIAL = /[\\\t\n\r]/;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' };

function copyText(value: string): string {
  return COPY_SPECIAL.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => COPY_ESCAPES[c]) : value;
}

/** A parameter PostgreSQL accepts: NULs replaced in text, null for undefined. */
function clean(value: Cell): string | number | boolean | null {
  return typeof value === 'string' ? storableText(value) : (value ?? null);
}

const text = storableText;

const MAX_INT4 = 2_147_483_647;
const MARKER_KEY = '$groundwork_unstorable';

/**
 * A run as it can always be stored: counts clamped to the columns' ranges and non-finite
 * numbers zeroed; its JSON values either copied within the depth PostgreSQL parses safely
 * ('repaired'), or replaced by a marker that says why ('markers'), the last resort.
 */
export function storableRun(run: RunRecord, level: 'repaired' | 'markers'): RunRecord {
  const count = (n: number) => (Number.isFinite(n) ? Math.min(Math.max(Math.trunc(n), 0), MAX_INT4) : 0);
  const amount = (n: number) => (Number.isFinite(n) ? n : 0);
  const marker = { [MARKER_KEY]: 'this value could not be stored as it was sent' };
  const json = (value: unknown) => (value === undefined ? undefined : level === 'markers' ? marker : storableValue(value, 32));
  const repaired: RunRecord = {
    ...run,
    input: json(run.input ?? null),
    inputTokens: count(run.inputTokens),
    outputTokens: count(run.outputTokens),
    costUsd: amount(run.costUsd),
    latencyMs: amount(run.latencyMs),
    attempts: run.attempts.map((a) => ({
      ...a,
      seq: count(a.seq),
      tier: count(a.tier),
      inputTokens: count(a.inputTokens),
      outputTokens: count(a.outputTokens),
      costUsd: amount(a.costUsd),
      latencyMs: amount(a.latencyMs),
      ...(a.validationErrors === undefined ? {} : { validationErrors: level === 'markers' ? [marker[MARKER_KEY]] : a.validationErrors }),
    })),
  };
  if (run.output !== undefined) repaired.output = json(run.output);
  if (run.grounding !== undefined) repaired.grounding = json(run.grounding) as Record<string, unknown>;
  if (run.error !== undefined)
    repaired.error = { code: run.error.code, message: run.error.message, details: (json(run.error.details) ?? {}) as Record<string, unknown> };
  return repaired;
}

/**
 * Embedded mode: a server-side prepared statement, parsed and planned once, cuts `record` from
 * ~320 µs to ~120 µs on PGlite. PGlite's public API cannot bind parameters to a named statement,
 * so EXECUTE gets its arguments as quoted literals (every value quoted, so the PREPARE'd types
 * decide the conversion). PGlite is one connection, so the statement lives as long as the db.
 */
function preparedRecord(db: Database): (params: unknown[]) => Promise<void> {
  const name = 'groundwork_record_run';
  let prepared: Promise<void> | undefined;
  const prepare = async () => {
    try {
      await db.exec(`PREPARE ${name} (${RECORD_PARAM_TYPES}) AS ${RECORD_SQL}`);
    } catch (error) {
      // Another repository over the same database prepared the same text already.
      if ((error as { code?: string }).code !== '42P05') throw error;
    }
  };
  return async (params) => {
    prepared ??= prepare().catch((error: unknown) => {
      prepared = undefined;
      throw error;
    });
    await prepared;
    await db.exec(`EXECUTE ${name} (${params.map(literal).join(', ')})`);
  };
}

/** A SQL literal, as pg's escapeLiteral writes it (E'' form only when backslashes appear). */
export function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  const text = value instanceof Date ? value.toISOString() : String(value);
  // PostgreSQL text cannot hold NUL (pg rejects it as a parameter too); in a query string it
  // would end the statement early.
  if (text.includes('\u0000')) throw new Error('text values cannot contain NUL characters');
  const quoted = `'${text.replace(/'/g, "''")}'`;
  return text.includes('\\') ? ` E${quoted.replace(/\\/g, '\\\\')}` : quoted;
}

interface RunRow {
  id: string;
  task_name: string;
  task_version: string;
  status: 'ok' | 'error';
  model: string | null;
  degraded: boolean;
  error: RunError | null;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
  latency_ms: number;
  created_at: Date;
  grounding: Record<string, unknown> | null;
  key_id: string | null;
  eval_id: string | null;
}

function toSummary(row: RunRow & { attempt_count: number }): RunSummary {
  return {
    id: row.id,
    taskName: row.task_name,
    taskVersion: row.task_version,
    status: row.status,
    ...(row.model === null ? {} : { model: row.model }),
    degraded: row.degraded,
    ...(row.error === null ? {} : { error: row.error }),
    inputTokens: row.input_tokens,
    outputTokens: row.output_tokens,
    costUsd: row.cost_usd,
    latencyMs: row.latency_ms,
    createdAt: row.created_at,
    ...(row.grounding === null ? {} : { grounding: row.grounding }),
    ...(row.key_id === null ? {} : { keyId: row.key_id }),
    ...(row.eval_id === null ? {} : { evalId: row.eval_id }),
    attemptCount: row.attempt_count,
  };
}

/** Column names double as jsonb_to_recordset keys (record) and to_jsonb keys (get). */
interface AttemptRow {
  seq: number;
  tier: number;
  model: string;
  provider: string;
  outcome: AttemptRecord['outcome'];
  input_tokens: number;
  output_tokens: number;
  tokens_estimated: boolean;
  cost_usd: number;
  latency_ms: number;
  error: string | null;
  validation_errors: string[] | null;
  escalation_reason: string | null;
  reask: boolean | null;
  repaired: boolean | null;
}

function attemptToRow(a: AttemptRecord): AttemptRow {
  return {
    seq: a.seq,
    tier: a.tier,
    model: a.model,
    provider: a.provider,
    outcome: a.outcome,
    input_tokens: a.inputTokens,
    output_tokens: a.outputTokens,
    tokens_estimated: a.tokensEstimated,
    cost_usd: a.costUsd,
    latency_ms: a.latencyMs,
    error: a.error ?? null,
    validation_errors: a.validationErrors ?? null,
    escalation_reason: a.escalationReason ?? null,
    reask: a.reask ?? null,
    repaired: a.repaired ?? null,
  };
}

function rowToAttempt(row: AttemptRow): AttemptRecord {
  return {
    seq: row.seq,
    tier: row.tier,
    model: row.model,
    provider: row.provider,
    outcome: row.outcome,
    inputTokens: row.input_tokens,
    outputTokens: row.output_tokens,
    tokensEstimated: row.tokens_estimated,
    costUsd: row.cost_usd,
    latencyMs: row.latency_ms,
    ...(row.error === null ? {} : { error: row.error }),
    ...(row.validation_errors === null ? {} : { validationErrors: row.validation_errors }),
    ...(row.escalation_reason === null ? {} : { escalationReason: row.escalation_reason }),
    ...(row.reask === null ? {} : { reask: row.reask }),
    ...(row.repaired === null ? {} : { repaired: row.repaired }),
  };
}
