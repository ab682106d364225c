import type { LimitsConfig } from '../config/config.js';
import type { Database } from '../store/ports.js';
import { createMemoryCounters, createSqlCounters } from './quota-counters.js';
import { createQuotaService, type Hold, type QuotaLogger } from './quotas.js';
import { createKeyRateLimiter, type RateBackend } from './rate-limiter.js';
import { usageReport } from './usage.js';
import type { LimitsService, Reservation, UsageAmount } from './ports.js';

export type * from './ports.js';
export { limitErrorHeaders, rateLimitHeaders, retryAfterSeconds } from './http.js';
export { parseUsageQuery, USAGE_GROUPS, USAGE_MAX_DAYS } from './usage.js';
export { periodWindow } from './periods.js';
export { presentQuota, presentUsage, type QuotaJson, type UsageJson } from './present.js';

export interface CreateLimitsOptions {
  db: Database;
  config: { limits: Readonly<LimitsConfig> };
  /** Soft-quota alerts go to warn (error when there is none); failures to write usage to error. */
  logger?: QuotaLogger;
  /** Clock for quota periods (tests inject one; rate-limit windows use the library's clock). */
  now?: () => number;
  /** Embedded mode: how long settled usage waits in memory before its batch is written. */
  quotaFlushDelayMs?: number;
}

/** The rate-limit backend `auto` resolves to: memory when one process owns the data, else the shared database. */
export function resolveRateBackend(backend: LimitsConfig['backend'], db: Pick<Database, 'kind'>): RateBackend {
  if (backend !== 'auto') return backend;
  return db.kind === 'embedded' ? 'memory' : 'postgres';
}

/**
 * Builds the limits of one process. Embedded (PGlite): rate windows and quota counters in
 * memory, settled usage written behind, so the hot path makes no database round trip.
 * Server (PostgreSQL): everything in shared rows, so any number of replicas enforce one limit.
 */
export function createLimits(options: CreateLimitsOptions): LimitsService {
  const { db, config } = options;
  const now = options.now ?? Date.now;
  const logger: QuotaLogger = options.logger ?? {
    error: (details, message) => console.error(message, details),
    warn: (details, message) => console.warn(message, details),
  };
  const rate = createKeyRateLimiter({
    backend: resolveRateBackend(config.limits.backend, db),
    db,
    redisUrl: config.limits.redis_url,
    defaults: { requestsPerMinute: config.limits.requests_per_minute, tokensPerMinute: config.limits.tokens_per_minute },
  });
  const embedded = db.kind === 'embedded';
  const quotas = createQuotaService({
    db,
    counters: embedded ? createMemoryCounters({ db, now, logger, flushDelayMs: options.quotaFlushDelayMs }) : createSqlCounters(db),
    now,
    logger,
    // One process owns an embedded store, so its definitions change only through it; replicas re-read within a second.
    definitionsCacheMs: embedded ? Number.POSITIVE_INFINITY : 1_000,
  });
  let closing: Promise<void> | undefined;

  return {
    admit: (principal) => rate.admit(principal),

    async reserve(principal, maximum): Promise<Reservation> {
      const holds: Hold[] = [];
      let heldTokens = 0;
      // Quota first, then the key's tokens per minute; a refusal of either holds nothing.
      const hold = async (amount: UsageAmount): Promise<Hold> => {
        const held = await quotas.reserve(principal.tenantId, amount);
        try {
          await rate.reserveTokens(principal, amount.tokens);
        } catch (error) {
          await quotas
            .settle(held, { tokens: 0, usd: 0 })
            .catch((settleError: unknown) => logger.error({ err: settleError, tenant_id: principal.tenantId }, 'could not release a quota reservation'));
          throw error;
        }
        holds.push(held);
        heldTokens += Math.max(0, Math.ceil(amount.tokens));
        return held;
      };
      const first = await hold(maximum);
      let finished = false;
      // Settling runs after the model answered: a failure here is logged, never turned into
      // a failed request (the caller has a result to return).
      const finish = async (actual: UsageAmount): Promise<void> => {
        if (finished) return;
        finished = true;
        const zero = { tokens: 0, usd: 0 };
        await Promise.all([
          ...holds.map((held, i) =>
            quotas
              .settle(held, i === 0 ? actual : zero)
              .catch((error: unknown) => logger.error({ err: error, tenant_id: principal.tenantId }, 'could not settle a quota reservation')),
          ),
          rate
            .adjustTokens(principal, Math.ceil(actual.tokens) - heldTokens)
            .catch((error: unknown) => logger.error({ err: error, key_id: principal.keyId }, 'could not settle tokens per minute')),
        ]);
      };
      return {
        overSoftQuota: first.overSoftQuota,
        async extend(more) {
          if (finished) throw new Error('extend after settle');
          if (more.tokens <= 0 && more.usd <= 0) return;
          await hold(more);
        },
        settle: finish,
        release: () => finish({ tokens: 0, usd: 0 }),
      };
    },

    quotas: quotas.admin,

    usage: (tenantId, query) => usageReport(db, tenantId, query),

    close() {
      closing ??= (async () => {
        try {
          await quotas.close();
        } finally {
          await rate.close();
        }
      })();
      return closing;
    },
  };
}
