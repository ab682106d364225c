import { RateLimiterMemory, RateLimiterPostgres, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import type { Principal } from '../auth/principal.js';
import { GroundworkError } from '../kernel/errors.js';
import { lazyPackage } from '../kernel/lazy-package.js';
import type { SqlExecutor } from '../store/ports.js';
import type { RateDecision } from './ports.js';

/** Only with `limits.backend: redis`. */
const ioredis = lazyPackage<typeof import('ioredis')>('ioredis');

/**
 * Per-key rate limits: requests per minute and tokens per minute, fixed one-minute windows
 * kept by rate-limiter-flexible. Memory in the embedded mode (one process owns the data:
 * a consume is a Map update, no I/O); PostgreSQL (one atomic INSERT … ON CONFLICT DO UPDATE
 * … RETURNING per request, so replicas share one exact count) or Redis (one Lua script) when
 * replicas share the limit.
 */

export type RateBackend = 'memory' | 'postgres' | 'redis';

export interface KeyRateLimiterOptions {
  backend: RateBackend;
  /** postgres: the database holding `rate_limit_counters` (migration 0006; search_path picks the schema). */
  db?: SqlExecutor;
  /** redis: redis://… */
  redisUrl?: string;
  /** For keys that set no limit of their own. */
  defaults: { requestsPerMinute: number; tokensPerMinute: number };
}

export interface KeyRateLimiter {
  /** Counts the request; RATE_LIMITED when the key's requests or tokens per minute are spent. */
  admit(principal: Principal): Promise<RateDecision>;
  /**
   * Holds tokens a request may use in the key's tokens/minute window before its model call:
   * RATE_LIMITED (nothing held) when they would pass the limit.
   */
  reserveTokens(principal: Principal, tokens: number): Promise<void>;
  /** Corrects the window once the request's real usage is known: `delta` = used − held (either sign). */
  adjustTokens(principal: Principal, delta: number): Promise<void>;
  close(): Promise<void>;
}

type Scope = 'requests' | 'tokens';

const WINDOW_SECONDS = 60;
const TABLE = 'rate_limit_counters';

export function createKeyRateLimiter(options: KeyRateLimiterOptions): KeyRateLimiter {
  const store = storeFor(options);
  // rate-limiter-flexible fixes the points per limiter; keys differ in their limits, so
  // there is one limiter per (scope, limit). With a shared store they all count in the same
  // row per key; in memory a key whose limit is changed starts a fresh window.
  const limiters = new Map<string, RateLimiterAbstract>();
  const limiter = (scope: Scope, points: number): RateLimiterAbstract => {
    const id = `${scope}:${points}`;
    let found = limiters.get(id);
    if (!found) {
      found = store.create(scope, points);
      limiters.set(id, found);
    }
    return found;
  };
  const keyOf = (principal: Principal) => `${principal.tenantId}:${principal.keyId}`;

  return {
    async admit(principal) {
      const connecting = store.ready?.();
      if (connecting) await connecting;
      const key = keyOf(principal);
      const requestLimit = principal.requestsPerMinute ?? options.defaults.requestsPerMinute;
      const tokenLimit = principal.tokensPerMinute ?? options.defaults.tokensPerMinute;
      const [requests, tokens] = await Promise.allSettled([limiter('requests', requestLimit).consume(key, 1), limiter('tokens', tokenLimit).get(key)]);
      if (requests.status === 'rejected') {
        if (requests.reason instanceof RateLimiterRes) throw rateLimited('requests', requestLimit, requests.reason);
        throw storeFailure(requests.reason);
      }
      if (tokens.status === 'rejected') throw storeFailure(tokens.reason);
      const spent = tokens.value;
      if (spent && spent.consumedPoints >= tokenLimit) throw rateLimited('tokens', tokenLimit, spent);
      return { limit: requestLimit, remaining: requests.value.remainingPoints, resetMs: Math.max(0, requests.value.msBeforeNext) };
    },

    async reserveTokens(principal, tokens) {
      const points = Math.ceil(tokens);
      if (!(points > 0)) return;
      const connecting = store.ready?.();
      if (connecting) await connecting;
      const limit = principal.tokensPerMinute ?? options.defaults.tokensPerMinute;
      // More than a whole minute's worth can never fit: refused without touching the store.
      if (points > limit) throw tokensWouldPass(limit, points, { msBeforeNext: 0, consumedPoints: points } as RateLimiterRes);
      const tokenLimiter = limiter('tokens', limit);
      const key = keyOf(principal);
      try {
        await tokenLimiter.consume(key, points);
      } catch (error) {
        if (!(error instanceof RateLimiterRes)) throw storeFailure(error);
        // A refused consume still counted its points: give them back, nothing is held.
        await tokenLimiter.reward(key, points).catch(() => undefined);
        throw tokensWouldPass(limit, points, error);
      }
    },

    async adjustTokens(principal, delta) {
      const points = Math.round(delta);
      if (points === 0 || !Number.isFinite(points)) return;
      const connecting = store.ready?.();
      if (connecting) await connecting;
      const tokenLimiter = limiter('tokens', principal.tokensPerMinute ?? options.defaults.tokensPerMinute);
      if (points > 0) await tokenLimiter.penalty(keyOf(principal), points);
      else await tokenLimiter.reward(keyOf(principal), -points);
    },

    async close() {
      limiters.clear();
      await store.close();
    },
  };
}

interface LimiterStore {
  create(scope: Scope, points: number): RateLimiterAbstract;
  /** A promise while the store is still connecting for the first time. */
  ready?(): Promise<void> | undefined;
  close(): Promise<void>;
}

function storeFor(options: KeyRateLimiterOptions): LimiterStore {
  const base = (scope: Scope, points: number) => ({ keyPrefix: `gw-${scope}`, points, duration: WINDOW_SECONDS });
  // A key over its request limit is answered from memory until its window ends, so a flood
  // on one key does not become a flood of database or Redis writes.
  const blockInMemory = (scope: Scope, points: number) => (scope === 'requests' ? { inMemoryBlockOnConsumed: points + 1 } : {});

  switch (options.backend) {
    case 'memory':
      return { create: (scope, points) => new RateLimiterMemory(base(scope, points)), close: async () => {} };

    case 'postgres': {
      const db = options.db;
      if (!db) throw new Error('the postgres rate-limit backend needs a database');
      // RateLimiterPostgres speaks to a pg client ({ text, values } → { rows, rowCount });
      // going through our Database port keeps its pool, its search_path (per-test schemas)
      // and its STORE_UNAVAILABLE mapping.
      const storeClient = {
        async query(q: { text: string; values?: unknown[] }) {
          const rows = await db.query(q.text, q.values);
          return { rows, rowCount: rows.length };
        },
      };
      let sweeper: NodeJS.Timeout | undefined;
      let sweepWith: RateLimiterPostgres | undefined;
      return {
        create(scope, points) {
          const created = new RateLimiterPostgres({
            ...base(scope, points),
            ...blockInMemory(scope, points),
            storeClient,
            storeType: 'pool',
            tableName: TABLE,
            tableCreated: true,
            clearExpiredByTimeout: false,
          });
          if (!sweeper) {
            // One sweeper for the table (expired windows older than an hour), not one per limiter.
            sweepWith = created;
            sweeper = setInterval(
              () => void (sweepWith as unknown as { clearExpired(t: number): Promise<void> }).clearExpired(Date.now() - 3_600_000),
              300_000,
            );
            sweeper.unref();
          }
          return created;
        },
        async close() {
          if (sweeper) clearInterval(sweeper);
        },
      };
    }

    case 'redis': {
      if (!options.redisUrl) {
        throw new GroundworkError('CONFIG_INVALID', 'limits.backend is redis but no Redis URL is configured: set limits.redis_url or GROUNDWORK_REDIS_URL', {
          details: { issues: [{ path: 'limits.redis_url', message: 'is required when limits.backend is redis' }] },
        });
      }
      const client = new (ioredis().Redis)(options.redisUrl, { maxRetriesPerRequest: 1 });
      // ioredis reconnects by itself; an error event must not crash the process.
      client.on('error', () => {});
      // Requests wait (up to 2 s) for the first connection, so counts are shared from the first
      // request on; after that, while Redis is down, the insurance limiter answers at once.
      let connected = false;
      const firstConnection = new Promise<void>((resolve) => {
        const done = () => {
          connected = true;
          resolve();
        };
        client.once('ready', done);
        setTimeout(done, 2_000).unref();
      });
      return {
        ready: () => (connected ? undefined : firstConnection),
        // While Redis is unreachable each process limits on its own (the library's insurance
        // limiter): requests keep flowing, bounded per replica, instead of failing outright.
        create: (scope, points) =>
          new RateLimiterRedis({
            ...base(scope, points),
            ...blockInMemory(scope, points),
            storeClient: client,
            rejectIfRedisNotReady: true,
            insuranceLimiter: new RateLimiterMemory(base(scope, points)),
          }),
        async close() {
          if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
          else client.disconnect();
        },
      };
    }
  }
}

function rateLimited(scope: Scope, limit: number, res: RateLimiterRes): GroundworkError {
  const retryAfterMs = Math.max(0, Math.ceil(res.msBeforeNext));
  const what = scope === 'requests' ? 'requests' : 'tokens';
  return new GroundworkError(
    'RATE_LIMITED',
    `rate limit reached: this API key may use ${limit} ${what} per minute; retry in ${Math.ceil(retryAfterMs / 1000)} s`,
    {
      details: { limit, remaining: 0, retry_after_ms: retryAfterMs, scope },
    },
  );
}

/** The request's tokens do not fit what is left of the key's tokens/minute window. */
function tokensWouldPass(limit: number, tokens: number, res: RateLimiterRes): GroundworkError {
  const retryAfterMs = Math.max(0, Math.ceil(res.msBeforeNext));
  const remaining = Math.max(0, limit - (res.consumedPoints - tokens));
  const hint =
    tokens > limit
      ? `this request alone may use up to ${tokens} tokens (its prompt and its output limit): lower max_tokens (or the task's max_output_tokens), or raise the key's limit`
      : `this request may use up to ${tokens} tokens and ${remaining} are left in this minute; retry in ${Math.ceil(retryAfterMs / 1000)} s or lower max_tokens`;
  return new GroundworkError('RATE_LIMITED', `rate limit reached: this API key may use ${limit} tokens per minute; ${hint}`, {
    details: { limit, remaining, requested: tokens, retry_after_ms: retryAfterMs, scope: 'tokens' },
  });
}

/** A limiter store that failed (not a limit reached): typed, never a bare 500. */
function storeFailure(error: unknown): GroundworkError {
  if (error instanceof GroundworkError) return error;
  return new GroundworkError('STORE_UNAVAILABLE', `the rate-limit store failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}
