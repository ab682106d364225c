import type { LimitsConfig } from '../config/config.js';
import type { Database } from '../store/ports.js';
import { createMemoryCounters, createSqlCounters } from './quota-counters.js';
import { createQuotaService, type QuotaLogger } from './quotas.js';
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
  const logger: QuotaLogger = options.logger ?? { error: (details, message) => console.error(message, details), warn: (details, message) => console.warn(message, details) };
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
      const hold = await quotas.reserve(principal.tenantId, maximum);
      let finished = false;
      // Settling runs after the model answered: a failure here is logged, never turned into
      // a failed request (the caller has a result to return).
      const finish = async (actual: UsageAmount): Promise<void> => {
        if (finished) return;
        finished = true;
        await Promise.all([
          quotas.settle(hold, actual).catch((error: unknown) => logger.error({ err: error, tenant_id: principal.tenantId }, 'could not settle a quota reservation')),
          rate.chargeTokens(principal, actual.tokens).catch((error: unknown) => logger.error({ err: error, key_id: principal.keyId }, 'could not charge tokens to the rate limit')),
        ]);
      };
      return {
        overSoftQuota: hold.overSoftQuota,
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
