import { GroundworkError } from '../kernel/errors.js';
import type { Database, SqlExecutor } from '../store/ports.js';
import { decimalToNanos, nanosToDecimal, nanosToUsd, type Amount } from './amounts.js';
import type { PeriodWindow } from './periods.js';
import type { QuotaEnforcement, QuotaMetric, QuotaPeriod } from './ports.js';

/**
 * Where each tenant stands in each quota period, and the one operation that must never race:
 * "hold this much unless a hard limit would be passed". Two implementations of one contract:
 * SQL (server mode: one conditional upsert per period row, so replicas need no coordination)
 * and memory (embedded mode: one process owns the data, so a synchronous check-and-add is
 * atomic; settled usage is written behind in batches).
 */

/** A quota as the counters compare it: the limit in integer units (tokens, nano-dollars). */
export interface QuotaRule {
  metric: QuotaMetric;
  period: QuotaPeriod;
  enforcement: QuotaEnforcement;
  /** Tokens, or nano-dollars. */
  limitUnits: number;
}

/** One period window of a tenant and the quotas counted in it (at most one per metric). */
export interface WindowCheck {
  window: PeriodWindow;
  rules: QuotaRule[];
}

export interface CounterState {
  tokensUsed: number;
  tokensReserved: number;
  nanosUsed: number;
  nanosReserved: number;
}

/** A soft quota that this reservation took (or found) over its limit. */
export interface SoftBreach {
  rule: QuotaRule;
  window: PeriodWindow;
  state: CounterState;
}

export interface QuotaCounters {
  /** Holds `amount` in every window, all or nothing; QUOTA_EXCEEDED when a hard rule would be passed. */
  reserve(tenantId: string, checks: WindowCheck[], amount: Amount): Promise<SoftBreach[]>;
  /** Swaps a held amount for the actual usage in the windows it was held in. */
  settle(tenantId: string, windowKeys: readonly string[], held: Amount, actual: Amount): Promise<void>;
  standing(tenantId: string, window: PeriodWindow): Promise<CounterState>;
  /** Forgets what is cached for the tenant (after its quotas changed); memory writes pending usage first. */
  invalidate(tenantId: string): Promise<void>;
  close(): Promise<void>;
}

export interface CounterLogger {
  error(details: Record<string, unknown>, message: string): void;
}

const EMPTY: CounterState = Object.freeze({ tokensUsed: 0, tokensReserved: 0, nanosUsed: 0, nanosReserved: 0 });

function used(state: CounterState, metric: QuotaMetric): number {
  return metric === 'tokens' ? state.tokensUsed : state.nanosUsed;
}
function reserved(state: CounterState, metric: QuotaMetric): number {
  return metric === 'tokens' ? state.tokensReserved : state.nanosReserved;
}
function units(amount: Amount, metric: QuotaMetric): number {
  return metric === 'tokens' ? amount.tokens : amount.nanos;
}

/** The first hard rule that holding `amount` on top of `state` would pass. */
export function hardBreach(state: CounterState, rules: readonly QuotaRule[], amount: Amount): QuotaRule | undefined {
  return rules.find(
    (rule) => rule.enforcement === 'hard' && used(state, rule.metric) + reserved(state, rule.metric) + units(amount, rule.metric) > rule.limitUnits,
  );
}

/** Soft rules over their limit once the reservation is counted in `state`. */
function softBreaches(state: CounterState, check: WindowCheck): SoftBreach[] {
  return check.rules
    .filter((rule) => rule.enforcement === 'soft' && used(state, rule.metric) + reserved(state, rule.metric) > rule.limitUnits)
    .map((rule) => ({ rule, window: check.window, state }));
}

/** QUOTA_EXCEEDED with what the operator and the client need: which quota, how far, when it resets. */
export function quotaExceeded(rule: QuotaRule, window: PeriodWindow, state: CounterState, amount: Amount): GroundworkError {
  const show = (value: number) => (rule.metric === 'usd' ? nanosToUsd(value) : value);
  const fmt = (value: number) => (rule.metric === 'usd' ? `$${nanosToUsd(value).toFixed(4)}` : `${value} tokens`);
  const usedNow = used(state, rule.metric);
  const reservedNow = reserved(state, rule.metric);
  return new GroundworkError(
    'QUOTA_EXCEEDED',
    `the tenant's ${rule.metric} quota per ${rule.period} is reached: ${fmt(usedNow)} used and ${fmt(reservedNow)} held by requests in flight ` +
      `of ${fmt(rule.limitUnits)}; this request's next model call may use up to ${fmt(units(amount, rule.metric))} (its prompt and its output limit). ` +
      `Lower max_tokens (or the task's max_output_tokens) to need less, wait for the reset at ${window.end.toISOString()}, or have an operator raise the quota`,
    {
      isRetryable: false,
      details: {
        metric: rule.metric,
        period: rule.period,
        limit: show(rule.limitUnits),
        used: show(usedNow),
        reserved: show(reservedNow),
        requested: show(units(amount, rule.metric)),
        resets_at: window.end.toISOString(),
      },
    },
  );
}

interface CounterRow {
  tokens_used: number | string;
  tokens_reserved: number | string;
  usd_used: string;
  usd_reserved: string;
}

function fromRow(row: CounterRow | undefined): CounterState {
  if (!row) return { ...EMPTY };
  return {
    tokensUsed: Number(row.tokens_used),
    tokensReserved: Number(row.tokens_reserved),
    nanosUsed: decimalToNanos(row.usd_used),
    nanosReserved: decimalToNanos(row.usd_reserved),
  };
}

const SELECT_STATE = `SELECT tokens_used, tokens_reserved, usd_used::text AS usd_used, usd_reserved::text AS usd_reserved
  FROM quota_counters WHERE tenant_id = $1 AND period_key = $2`;

async function readState(db: SqlExecutor, tenantId: string, key: string): Promise<CounterState> {
  return fromRow((await db.query<CounterRow>(SELECT_STATE, [tenantId, key]))[0]);
}

// The hard limits are checked by the row update itself: under READ COMMITTED a concurrent
// update waits for the row lock and then re-evaluates the WHERE against the committed row,
// so two replicas can never both pass a check that only one of them fits under. A fresh row
// (no conflict) skips the WHERE: the caller checks the amount alone against the limits first.
const RESERVE_SQL = `
INSERT INTO quota_counters AS c (tenant_id, period_key, tokens_reserved, usd_reserved)
VALUES ($1, $2, $3, $4::numeric)
ON CONFLICT (tenant_id, period_key) DO UPDATE
   SET tokens_reserved = c.tokens_reserved + EXCLUDED.tokens_reserved,
       usd_reserved    = c.usd_reserved + EXCLUDED.usd_reserved,
       updated_at      = clock_timestamp()
 WHERE ($5::bigint IS NULL OR c.tokens_used + c.tokens_reserved + EXCLUDED.tokens_reserved <= $5::bigint)
   AND ($6::numeric IS NULL OR c.usd_used + c.usd_reserved + EXCLUDED.usd_reserved <= $6::numeric)
RETURNING c.tokens_used, c.tokens_reserved, c.usd_used::text AS usd_used, c.usd_reserved::text AS usd_reserved`;

const SETTLE_SQL = `
UPDATE quota_counters
   SET tokens_used     = tokens_used + $3,
       tokens_reserved = greatest(tokens_reserved - $4, 0),
       usd_used        = usd_used + $5::numeric,
       usd_reserved    = greatest(usd_reserved - $6::numeric, 0),
       updated_at      = clock_timestamp()
 WHERE tenant_id = $1 AND period_key = ANY($2::text[])`;

/** Server mode: every replica works on the same rows; nothing is cached. */
export function createSqlCounters(db: Database): QuotaCounters {
  const reserveOne = async (executor: SqlExecutor, tenantId: string, check: WindowCheck, amount: Amount): Promise<SoftBreach[]> => {
    const hard = (metric: QuotaMetric) => check.rules.find((r) => r.metric === metric && r.enforcement === 'hard');
    const tokensLimit = hard('tokens');
    const usdLimit = hard('usd');
    // The amount alone over a hard limit: no row needs to change to know the answer.
    const alone = hardBreach(EMPTY, check.rules, amount);
    if (alone) throw quotaExceeded(alone, check.window, await readState(executor, tenantId, check.window.key), amount);
    const rows = await executor.query<CounterRow>(RESERVE_SQL, [
      tenantId,
      check.window.key,
      amount.tokens,
      nanosToDecimal(amount.nanos),
      tokensLimit ? tokensLimit.limitUnits : null,
      usdLimit ? nanosToDecimal(usdLimit.limitUnits) : null,
    ]);
    if (rows.length === 0) {
      const state = await readState(executor, tenantId, check.window.key);
      const rule = hardBreach(state, check.rules, amount) ?? tokensLimit ?? usdLimit;
      throw quotaExceeded(rule as QuotaRule, check.window, state, amount);
    }
    return softBreaches(fromRow(rows[0]), check);
  };

  return {
    async reserve(tenantId, checks, amount) {
      if (checks.length === 1) return reserveOne(db, tenantId, checks[0], amount);
      // Several periods (day and month): all or nothing. Rows are locked in one order (the
      // caller sorts day before month), so concurrent reservations cannot deadlock.
      return db.transaction(async (tx) => {
        const breaches: SoftBreach[] = [];
        for (const check of checks) breaches.push(...(await reserveOne(tx, tenantId, check, amount)));
        return breaches;
      });
    },

    async settle(tenantId, windowKeys, held, actual) {
      if (windowKeys.length === 0) return;
      await db.query(SETTLE_SQL, [tenantId, windowKeys, actual.tokens, held.tokens, nanosToDecimal(actual.nanos), nanosToDecimal(held.nanos)]);
    },

    standing: (tenantId, window) => readState(db, tenantId, window.key),
    invalidate: async () => {},
    close: async () => {},
  };
}

export interface MemoryCountersOptions {
  db: Database;
  now: () => number;
  logger: CounterLogger;
  /** How long settled usage may wait in memory before it is written (batched). */
  flushDelayMs?: number;
}

interface MemoryState extends CounterState {
  /** When the period ends: past it, an idle state is dropped. */
  endMs: number;
}

interface PendingUsage {
  tenantId: string;
  periodKey: string;
  tokens: number;
  nanos: number;
}

const FLUSH_SQL = `
INSERT INTO quota_counters AS c (tenant_id, period_key, tokens_used, usd_used)
SELECT d.tenant_id, d.period_key, d.tokens, d.usd
  FROM jsonb_to_recordset($1::jsonb) AS d(tenant_id text, period_key text, tokens bigint, usd numeric)
ON CONFLICT (tenant_id, period_key) DO UPDATE
   SET tokens_used = c.tokens_used + EXCLUDED.tokens_used,
       usd_used    = c.usd_used + EXCLUDED.usd_used,
       updated_at  = clock_timestamp()`;

/**
 * Embedded mode: one process owns the data folder, so the counters live in memory (seeded
 * from the table the first time a tenant's period is used) and the check-and-hold is
 * synchronous, hence atomic. Reservations are never written (a crash voids them anyway);
 * settled usage is written behind in one batched statement, and on close.
 */
export function createMemoryCounters(options: MemoryCountersOptions): QuotaCounters {
  const { db, now, logger } = options;
  const flushDelayMs = options.flushDelayMs ?? 1_000;
  const states = new Map<string, MemoryState>();
  const loading = new Map<string, Promise<MemoryState>>();
  const pending = new Map<string, PendingUsage>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const id = (tenantId: string, key: string) => `${tenantId}\u0000${key}`;

  // Reads of the table and batched writes to it run one after another: a read then sees
  // every batch written before it, and what is still in `pending` is exactly what it misses.
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const run = queue.then(fn);
    queue = run.catch(() => {});
    return run;
  };

  const load = (tenantId: string, window: PeriodWindow): MemoryState | Promise<MemoryState> => {
    const key = id(tenantId, window.key);
    const found = states.get(key);
    if (found) return found;
    let inFlight = loading.get(key);
    if (!inFlight) {
      inFlight = serial(async () => {
        const state = await readState(db, tenantId, window.key);
        const waiting = pending.get(key);
        const loaded: MemoryState = {
          tokensUsed: state.tokensUsed + (waiting?.tokens ?? 0),
          nanosUsed: state.nanosUsed + (waiting?.nanos ?? 0),
          tokensReserved: 0,
          nanosReserved: 0,
          endMs: window.end.getTime(),
        };
        states.set(key, loaded);
        return loaded;
      }).finally(() => loading.delete(key));
      loading.set(key, inFlight);
    }
    return inFlight;
  };

  const flushNow = async (): Promise<void> => {
    if (pending.size === 0) return;
    const batch = [...pending.values()];
    pending.clear();
    try {
      await db.query(FLUSH_SQL, [
        JSON.stringify(batch.map((p) => ({ tenant_id: p.tenantId, period_key: p.periodKey, tokens: p.tokens, usd: nanosToDecimal(p.nanos) }))),
      ]);
    } catch (error) {
      // Keep the usage for the next try: losing it would let a tenant past a hard quota after a restart.
      for (const p of batch) addPending(p.tenantId, p.periodKey, p.tokens, p.nanos);
      logger.error({ err: error, tenants: [...new Set(batch.map((p) => p.tenantId))] }, 'could not write quota usage; will retry');
      if (!closed) schedule();
      throw error;
    }
    prune();
  };

  const flush = (): Promise<void> => serial(flushNow);

  function schedule(): void {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = undefined;
      flush().catch(() => {});
    }, flushDelayMs);
    timer.unref();
  }

  function addPending(tenantId: string, periodKey: string, tokens: number, nanos: number): void {
    const key = id(tenantId, periodKey);
    const entry = pending.get(key);
    if (entry) {
      entry.tokens += tokens;
      entry.nanos += nanos;
    } else {
      pending.set(key, { tenantId, periodKey, tokens, nanos });
    }
  }

  /** Periods that ended, with nothing held or waiting, are dropped (their rows stay in the table). */
  function prune(): void {
    const at = now();
    for (const [key, state] of states) {
      if (state.endMs <= at && state.tokensReserved === 0 && state.nanosReserved === 0 && !pending.has(key)) states.delete(key);
    }
  }

  return {
    async reserve(tenantId, checks, amount) {
      const loaded: MemoryState[] = [];
      for (const check of checks) {
        const state = load(tenantId, check.window);
        loaded.push(state instanceof Promise ? await state : state);
      }
      // From here on nothing awaits: check every window, then hold in every window.
      checks.forEach((check, i) => {
        const rule = hardBreach(loaded[i], check.rules, amount);
        if (rule) throw quotaExceeded(rule, check.window, { ...loaded[i] }, amount);
      });
      const breaches: SoftBreach[] = [];
      checks.forEach((check, i) => {
        const state = loaded[i];
        state.tokensReserved += amount.tokens;
        state.nanosReserved += amount.nanos;
        breaches.push(...softBreaches({ ...state }, check));
      });
      return breaches;
    },

    async settle(tenantId, windowKeys, held, actual) {
      for (const periodKey of windowKeys) {
        const state = states.get(id(tenantId, periodKey));
        if (state) {
          state.tokensReserved = Math.max(0, state.tokensReserved - held.tokens);
          state.nanosReserved = Math.max(0, state.nanosReserved - held.nanos);
          state.tokensUsed += actual.tokens;
          state.nanosUsed += actual.nanos;
        }
        if (actual.tokens > 0 || actual.nanos > 0) addPending(tenantId, periodKey, actual.tokens, actual.nanos);
      }
      // After close (a straggler settling while the app shuts down) nothing is batched: write now.
      if (closed) await flush();
      else if (pending.size > 0) schedule();
    },

    async standing(tenantId, window) {
      const state = load(tenantId, window);
      const { endMs: _, ...counters } = state instanceof Promise ? await state : state;
      return counters;
    },

    async invalidate(tenantId) {
      await flush();
      for (const key of states.keys()) if (key.startsWith(`${tenantId}\u0000`)) states.delete(key);
    },

    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await flush();
    },
  };
}
