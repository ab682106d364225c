import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Principal } from '../auth/principal.js';
import { GroundworkError } from '../kernel/errors.js';
import { limitErrorHeaders, rateLimitHeaders, retryAfterSeconds } from './http.js';
import { createKeyRateLimiter } from './rate-limiter.js';

const key = (overrides: Partial<Principal> = {}): Principal => ({ tenantId: 't1', keyId: 'k1', role: 'runner', ...overrides });
const defaults = { requestsPerMinute: 5, tokensPerMinute: 1_000 };

async function rejection(promise: Promise<unknown>): Promise<GroundworkError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(GroundworkError);
  return error as GroundworkError;
}

describe('memory rate limiter', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('admits the configured requests per minute, then answers RATE_LIMITED with the window', async () => {
    const limiter = createKeyRateLimiter({ backend: 'memory', defaults });
    const decisions = [];
    for (let i = 0; i < 5; i++) decisions.push(await limiter.admit(key()));
    expect(decisions.map((d) => d.remaining)).toEqual([4, 3, 2, 1, 0]);
    expect(decisions[0]).toMatchObject({ limit: 5 });
    expect(decisions[0].resetMs).toBeGreaterThan(59_000);
    const error = await rejection(limiter.admit(key()));
    expect(error.code).toBe('RATE_LIMITED');
    expect(error.httpStatus).toBe(429);
    expect(error.details).toMatchObject({ limit: 5, remaining: 0, scope: 'requests' });
    expect(error.details.retry_after_ms).toBeGreaterThan(59_000);
    expect(error.details.retry_after_ms).toBeLessThanOrEqual(60_000);
  });

  it("uses the key's own limit over the default, and counts each key apart", async () => {
    const limiter = createKeyRateLimiter({ backend: 'memory', defaults });
    const generous = key({ keyId: 'k-generous', requestsPerMinute: 8 });
    for (let i = 0; i < 8; i++) await limiter.admit(generous);
    expect((await rejection(limiter.admit(generous))).details.limit).toBe(8);
    // Another key of the same tenant, and the same key id in another tenant, are untouched.
    expect((await limiter.admit(key({ keyId: 'k2' }))).remaining).toBe(4);
    expect((await limiter.admit(key({ tenantId: 't2', keyId: 'k-generous' }))).remaining).toBe(4);
  });

  it('frees the key when its minute is over', async () => {
    vi.useFakeTimers({ toFake: ['Date', 'setTimeout', 'clearTimeout'] });
    const limiter = createKeyRateLimiter({ backend: 'memory', defaults: { ...defaults, requestsPerMinute: 2 } });
    await limiter.admit(key());
    await limiter.admit(key());
    await rejection(limiter.admit(key()));
    vi.advanceTimersByTime(60_001);
    expect((await limiter.admit(key())).remaining).toBe(1);
  });

  it('rejects with scope tokens once the settled tokens spent the minute', async () => {
    const limiter = createKeyRateLimiter({ backend: 'memory', defaults: { requestsPerMinute: 100, tokensPerMinute: 1_000 } });
    await limiter.admit(key());
    await limiter.adjustTokens(key(), 600);
    await limiter.admit(key());
    await limiter.adjustTokens(key(), 400.2);
    const error = await rejection(limiter.admit(key()));
    expect(error.details).toMatchObject({ scope: 'tokens', limit: 1_000, remaining: 0 });
    // Another key's budget is its own.
    await expect(limiter.admit(key({ keyId: 'k2' }))).resolves.toMatchObject({ limit: 100 });
  });

  it('honours a per-key tokens/minute', async () => {
    const limiter = createKeyRateLimiter({ backend: 'memory', defaults });
    const small = key({ tokensPerMinute: 10 });
    await limiter.adjustTokens(small, 10);
    expect((await rejection(limiter.admit(small))).details).toMatchObject({ scope: 'tokens', limit: 10 });
  });

  it('ignores zero, negative and NaN token reservations, and zero or NaN corrections', async () => {
    const limiter = createKeyRateLimiter({ backend: 'memory', defaults: { requestsPerMinute: 100, tokensPerMinute: 1 } });
    for (const tokens of [0, -5, Number.NaN]) await limiter.reserveTokens(key(), tokens);
    for (const tokens of [0, Number.NaN]) await limiter.adjustTokens(key(), tokens);
    await expect(limiter.admit(key())).resolves.toBeDefined();
  });

  it("holds a request's tokens before its call: the one that would cross the minute's limit is refused, not let through", async () => {
    // Issue 9 item 14: at 300 tokens/minute, requests were admitted until 369 tokens had been used.
    const limiter = createKeyRateLimiter({ backend: 'memory', defaults: { requestsPerMinute: 100, tokensPerMinute: 300 } });
    await limiter.reserveTokens(key(), 100);
    await limiter.reserveTokens(key(), 100);
    const refused = await rejection(limiter.reserveTokens(key(), 101));
    expect(refused.details).toMatchObject({ scope: 'tokens', limit: 300, remaining: 100, requested: 101 });
    // A refusal holds nothing: what is left still fits.
    await limiter.reserveTokens(key(), 100);
    await rejection(limiter.reserveTokens(key(), 1));
    // Settling below the reservation gives the difference back.
    await limiter.adjustTokens(key(), -60);
    await limiter.reserveTokens(key(), 60);
  });

  it('says what to change when one request alone could pass the tokens per minute', async () => {
    const limiter = createKeyRateLimiter({ backend: 'memory', defaults: { requestsPerMinute: 100, tokensPerMinute: 300 } });
    const refused = await rejection(limiter.reserveTokens(key(), 4_200));
    expect(refused.message).toMatch(/this request alone may use up to 4200 tokens.*lower max_tokens/);
  });

  it('keeps limiting per process while Redis is unreachable (insurance limiter), instead of failing requests', async () => {
    const limiter = createKeyRateLimiter({ backend: 'redis', redisUrl: 'redis://127.0.0.1:1', defaults: { ...defaults, requestsPerMinute: 2 } });
    try {
      await limiter.admit(key());
      await limiter.admit(key());
      expect((await rejection(limiter.admit(key()))).code).toBe('RATE_LIMITED');
      await limiter.adjustTokens(key({ keyId: 'k2' }), 5_000);
      expect((await rejection(limiter.admit(key({ keyId: 'k2' })))).details).toMatchObject({ scope: 'tokens' });
    } finally {
      await limiter.close();
    }
  });

  it('refuses a redis backend without a URL as a config error', () => {
    expect(() => createKeyRateLimiter({ backend: 'redis', defaults })).toThrow(/redis_url/);
  });
});

describe('limit headers', () => {
  it('renders a decision as X-RateLimit-* (reset in seconds)', () => {
    expect(rateLimitHeaders({ limit: 600, remaining: 599, resetMs: 59_001 })).toEqual({
      'x-ratelimit-limit': '600',
      'x-ratelimit-remaining': '599',
      'x-ratelimit-reset': '60',
    });
  });

  it('gives Retry-After for RATE_LIMITED and QUOTA_EXCEEDED, nothing for other errors', () => {
    const limited = new GroundworkError('RATE_LIMITED', 'x', { details: { limit: 600, remaining: 0, retry_after_ms: 1_200, scope: 'requests' } });
    expect(retryAfterSeconds(limited)).toBe(2);
    expect(limitErrorHeaders(limited)).toEqual({ 'retry-after': '2', 'x-ratelimit-limit': '600', 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': '2' });
    const now = Date.parse('2025-03-01T23:59:00Z');
    const quota = new GroundworkError('QUOTA_EXCEEDED', 'x', { details: { resets_at: '2025-03-02T00:00:00.000Z' } });
    expect(limitErrorHeaders(quota, now)).toEqual({ 'retry-after': '60' });
    expect(retryAfterSeconds(new GroundworkError('TASK_NOT_FOUND', 'x'))).toBeUndefined();
    expect(limitErrorHeaders(new Error('x'))).toEqual({});
  });
});
