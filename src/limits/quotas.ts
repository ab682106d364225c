import { GroundworkError, type Issue } from '../kernel/errors.js';
import type { Database } from '../store/ports.js';
import { decimalToNanos, nanosToDecimal, nanosToUsd, toAmount, type Amount } from './amounts.js';
import { periodWindow, type PeriodWindow } from './periods.js';
import type { QuotaCounters, QuotaRule, SoftBreach, WindowCheck } from './quota-counters.js';
import type { QuotaAdmin, QuotaMetric, QuotaPeriod, QuotaSetting, QuotaStatus, UsageAmount } from './ports.js';

/**
 * Per-tenant quotas: the definitions (stored per tenant, cached per process), the
 * reserve → settle | release protocol over the counters, and the soft-quota alert.
 */

export interface QuotaLogger {
  error(details: Record<string, unknown>, message: string): void;
  warn?(details: Record<string, unknown>, message: string): void;
}

export interface QuotaServiceOptions {
  db: Database;
  counters: QuotaCounters;
  now: () => number;
  logger: QuotaLogger;
  /** How long a process trusts the quota definitions it read (0: always read). */
  definitionsCacheMs: number;
}

/** What reserve held, to be settled or released exactly once. */
export interface Hold {
  tenantId: string;
  windowKeys: readonly string[];
  amount: Amount;
  overSoftQuota: boolean;
}

export interface QuotaService {
  readonly admin: QuotaAdmin;
  reserve(tenantId: string, maximum: UsageAmount): Promise<Hold>;
  settle(hold: Hold, actual: UsageAmount): Promise<void>;
  close(): Promise<void>;
}

const METRICS: readonly QuotaMetric[] = ['tokens', 'usd'];
const PERIODS: readonly QuotaPeriod[] = ['day', 'month'];

interface DefinitionRow {
  metric: QuotaMetric;
  period: QuotaPeriod;
  limit_value: string;
  enforcement: 'hard' | 'soft';
}

function toRule(row: DefinitionRow): QuotaRule {
  return {
    metric: row.metric,
    period: row.period,
    enforcement: row.enforcement,
    limitUnits: row.metric === 'usd' ? decimalToNanos(row.limit_value) : Number(row.limit_value),
  };
}

/** Day before month, tokens before usd: one lock order for every reservation, one display order. */
function byOrder(a: { period: QuotaPeriod; metric: QuotaMetric }, b: { period: QuotaPeriod; metric: QuotaMetric }): number {
  return PERIODS.indexOf(a.period) - PERIODS.indexOf(b.period) || METRICS.indexOf(a.metric) - METRICS.indexOf(b.metric);
}

export function createQuotaService(options: QuotaServiceOptions): QuotaService {
  const { db, counters, now, logger } = options;
  const cache = new Map<string, { rules: QuotaRule[]; readAt: number }>();
  const loading = new Map<string, Promise<QuotaRule[]>>();
  /** Soft-quota alerts already raised: once per tenant, quota and period (per process). */
  const alerted = new Set<string>();

  const readRules = async (tenantId: string): Promise<QuotaRule[]> => {
    const rows = await db.query<DefinitionRow>(
      'SELECT metric, period, limit_value::text AS limit_value, enforcement FROM quota_definitions WHERE tenant_id = $1',
      [tenantId],
    );
    return rows.map(toRule).sort(byOrder);
  };

  const rulesFor = (tenantId: string): QuotaRule[] | Promise<QuotaRule[]> => {
    const cached = cache.get(tenantId);
    if (cached && now() - cached.readAt < options.definitionsCacheMs) return cached.rules;
    let inFlight = loading.get(tenantId);
    if (!inFlight) {
      const readAt = now();
      inFlight = readRules(tenantId)
        .then((rules) => {
          cache.set(tenantId, { rules, readAt });
          return rules;
        })
        .finally(() => loading.delete(tenantId));
      loading.set(tenantId, inFlight);
    }
    return inFlight;
  };

  const checksFor = (rules: QuotaRule[], at: number): WindowCheck[] => {
    const checks: WindowCheck[] = [];
    for (const period of PERIODS) {
      const periodRules = rules.filter((r) => r.period === period);
      if (periodRules.length > 0) checks.push({ window: periodWindow(period, at), rules: periodRules });
    }
    return checks;
  };

  const alert = (tenantId: string, breach: SoftBreach): void => {
    const id = `${tenantId}\u0000${breach.rule.metric}\u0000${breach.window.key}`;
    if (alerted.has(id)) return;
    alerted.add(id);
    const show = (units: number) => (breach.rule.metric === 'usd' ? nanosToUsd(units) : units);
    const usedUnits = breach.rule.metric === 'usd' ? breach.state.nanosUsed : breach.state.tokensUsed;
    const reservedUnits = breach.rule.metric === 'usd' ? breach.state.nanosReserved : breach.state.tokensReserved;
    const details = {
      alert: 'soft_quota_exceeded',
      tenant_id: tenantId,
      metric: breach.rule.metric,
      period: breach.rule.period,
      period_key: breach.window.key,
      limit: show(breach.rule.limitUnits),
      used: show(usedUnits),
      reserved: show(reservedUnits),
      resets_at: breach.window.end.toISOString(),
    };
    const message = `tenant ${tenantId} is over its soft ${breach.rule.metric} quota per ${breach.rule.period}; requests are still allowed`;
    if (logger.warn) logger.warn(details, message);
    else logger.error(details, message);
  };

  const forget = async (tenantId: string): Promise<void> => {
    cache.delete(tenantId);
    await counters.invalidate(tenantId);
  };

  const admin: QuotaAdmin = {
    async setQuota(tenantId, quota) {
      const setting = validateSetting(quota);
      await assertTenant(db, tenantId);
      const window = periodWindow(setting.period, now());
      await db.transaction(async (tx) => {
        const counted = await tx.query('SELECT 1 FROM quota_definitions WHERE tenant_id = $1 AND period = $2 LIMIT 1', [tenantId, setting.period]);
        await tx.query(
          `INSERT INTO quota_definitions (tenant_id, metric, period, limit_value, enforcement) VALUES ($1, $2, $3, $4::numeric, $5)
           ON CONFLICT (tenant_id, metric, period) DO UPDATE
              SET limit_value = EXCLUDED.limit_value, enforcement = EXCLUDED.enforcement, updated_at = clock_timestamp()`,
          [
            tenantId,
            setting.metric,
            setting.period,
            setting.metric === 'usd' ? nanosToDecimal(Math.round(setting.limit * 1e9)) : String(setting.limit),
            setting.enforcement,
          ],
        );
        // Counters are kept only for periods that have a quota. The first quota of a period
        // starts from what the tenant's recorded runs already used in it.
        if (counted.length === 0) {
          await tx.query(
            `INSERT INTO quota_counters (tenant_id, period_key, tokens_used, usd_used)
             SELECT $1, $2, coalesce(sum(input_tokens + output_tokens), 0), round(coalesce(sum(cost_usd), 0)::numeric, 9)
               FROM runs WHERE tenant_id = $1 AND created_at >= $3 AND created_at < $4
             ON CONFLICT (tenant_id, period_key) DO UPDATE
                SET tokens_used = EXCLUDED.tokens_used, usd_used = EXCLUDED.usd_used, updated_at = clock_timestamp()`,
            [tenantId, window.key, window.start, window.end],
          );
        }
      });
      await forget(tenantId);
    },

    async removeQuota(tenantId, metric, period) {
      const rows = await db.query('DELETE FROM quota_definitions WHERE tenant_id = $1 AND metric = $2 AND period = $3 RETURNING 1', [tenantId, metric, period]);
      await forget(tenantId);
      return rows.length > 0;
    },

    async getQuotas(tenantId) {
      const rules = await readRules(tenantId);
      if (rules.length === 0) await assertTenant(db, tenantId);
      const at = now();
      const standings = new Map<QuotaPeriod, { window: PeriodWindow; state: Awaited<ReturnType<QuotaCounters['standing']>> }>();
      for (const period of new Set(rules.map((r) => r.period))) {
        const window = periodWindow(period, at);
        standings.set(period, { window, state: await counters.standing(tenantId, window) });
      }
      return rules.map((rule): QuotaStatus => {
        const { window, state } = standings.get(rule.period)!;
        const usd = rule.metric === 'usd';
        return {
          metric: rule.metric,
          period: rule.period,
          limit: usd ? nanosToUsd(rule.limitUnits) : rule.limitUnits,
          enforcement: rule.enforcement,
          used: usd ? nanosToUsd(state.nanosUsed) : state.tokensUsed,
          reserved: usd ? nanosToUsd(state.nanosReserved) : state.tokensReserved,
          periodStart: window.start,
          resetsAt: window.end,
        };
      });
    },
  };

  return {
    admin,

    async reserve(tenantId, maximum) {
      const found = rulesFor(tenantId);
      const rules = found instanceof Promise ? await found : found;
      const amount = toAmount(maximum);
      if (rules.length === 0) return { tenantId, windowKeys: [], amount, overSoftQuota: false };
      const at = now();
      const checks = checksFor(rules, at);
      let breaches: SoftBreach[];
      try {
        breaches = await counters.reserve(tenantId, checks, amount);
      } catch (error) {
        // When to come back: the period's reset (the HTTP layer turns it into Retry-After).
        if (error instanceof GroundworkError && error.code === 'QUOTA_EXCEEDED') {
          error.details.retry_after_ms = Math.max(0, Date.parse(String(error.details.resets_at)) - at);
        }
        throw error;
      }
      for (const breach of breaches) alert(tenantId, breach);
      return { tenantId, windowKeys: checks.map((c) => c.window.key), amount, overSoftQuota: breaches.length > 0 };
    },

    async settle(hold, actual) {
      if (hold.windowKeys.length === 0) return;
      await counters.settle(hold.tenantId, hold.windowKeys, hold.amount, toAmount(actual));
    },

    close: () => counters.close(),
  };
}

function validateSetting(quota: QuotaSetting): QuotaSetting {
  const issues: Issue[] = [];
  if (!METRICS.includes(quota.metric)) issues.push({ path: 'metric', message: `must be one of ${METRICS.join(', ')}` });
  if (!PERIODS.includes(quota.period)) issues.push({ path: 'period', message: `must be one of ${PERIODS.join(', ')}` });
  if (quota.enforcement !== 'hard' && quota.enforcement !== 'soft') issues.push({ path: 'enforcement', message: 'must be hard or soft' });
  if (typeof quota.limit !== 'number' || !Number.isFinite(quota.limit) || quota.limit < 0) {
    issues.push({ path: 'limit', message: 'must be a number ≥ 0' });
  } else if (quota.metric === 'tokens' && !Number.isInteger(quota.limit)) {
    issues.push({ path: 'limit', message: 'a tokens quota must be a whole number' });
  } else if (quota.metric === 'tokens' && quota.limit > Number.MAX_SAFE_INTEGER) {
    issues.push({ path: 'limit', message: `a tokens quota must be at most ${Number.MAX_SAFE_INTEGER}` });
  } else if (quota.metric === 'usd' && quota.limit > 1e6) {
    issues.push({ path: 'limit', message: 'a USD quota must be at most 1000000' });
  }
  if (issues.length > 0) {
    throw new GroundworkError('REQUEST_INVALID_BODY', `invalid quota: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`, { details: { issues } });
  }
  return quota;
}

async function assertTenant(db: Database, tenantId: string): Promise<void> {
  const rows = await db.query('SELECT 1 FROM tenants WHERE id = $1', [tenantId]);
  if (rows.length === 0) throw new GroundworkError('TENANT_NOT_FOUND', `no tenant "${tenantId}"`, { details: { tenant_id: tenantId } });
}
