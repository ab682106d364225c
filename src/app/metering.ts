import type { Principal } from '../auth/principal.js';
import type { Limits, UsageAmount } from '../limits/ports.js';
import { costUsd, type Price } from '../models/pricing.js';
import type { RunTaskParams } from '../tasks/run-task.js';

/**
 * Quota accounting around model-using work (DESIGN.md run path steps 2 and 8).
 *
 * A request reserves what its own first model call can cost at most (its input tokens,
 * estimated generously from characters, plus its own output limit, at the price of the model
 * it calls first), not a multiple of the route's priciest model: a cheap call under a small
 * quota is not refused for what it will never spend. Before every further call (a retry, a
 * re-ask, the next tier) the reservation grows to cover what the run has spent plus that
 * call's worst case, or the run stops there with QUOTA_EXCEEDED / RATE_LIMITED. So settled
 * usage never passes a hard limit, and what is reserved is what the request can really use.
 * Settled with what the run actually used (failed attempts included); released when nothing was.
 */

export type MeterHooks = Pick<RunTaskParams, 'keyId' | 'onUsage' | 'beforeCall'>;

export interface Meter {
  /** The most the request's first call can cost on `model` (the route's first tier). */
  firstCall(params: { model: string | undefined; inputChars: number; maxOutputTokens: number }): UsageAmount;
  /** Runs `fn` holding a reservation; `fn` passes the hooks on to the run. No principal: not metered. */
  run<T>(principal: Principal | undefined, maximum: UsageAmount, fn: (hooks: MeterHooks) => Promise<T>, onSoftQuota?: () => void): Promise<T>;
}

export interface MeterDeps {
  limits: Limits;
  price(model: string): Price;
  logger: { error(details: Record<string, unknown>, message: string): void };
}

// A generous characters-per-token ratio: the reservation should not be below the real count.
const CHARS_PER_TOKEN = 3;

export function createMeter(deps: MeterDeps): Meter {
  return {
    firstCall({ model, inputChars, maxOutputTokens }) {
      const usage = { inputTokens: Math.ceil(inputChars / CHARS_PER_TOKEN), outputTokens: maxOutputTokens };
      // A model this installation lacks fails the run with its own typed error; it costs nothing here.
      return { tokens: usage.inputTokens + usage.outputTokens, usd: model === undefined ? 0 : costUsd(priceOrFree(deps, model), usage) };
    },

    async run(principal, maximum, fn, onSoftQuota) {
      if (!principal) return fn({});
      const reservation = await deps.limits.reserve(principal, maximum);
      if (reservation.overSoftQuota) onSoftQuota?.();
      let held = { ...maximum };
      let used: UsageAmount | undefined;
      try {
        return await fn({
          keyId: principal.keyId,
          onUsage: (usage) => {
            used = { tokens: usage.inputTokens + usage.outputTokens, usd: usage.costUsd };
          },
          beforeCall: async ({ worstCase, spent }) => {
            const more = { tokens: Math.max(0, spent.tokens + worstCase.tokens - held.tokens), usd: Math.max(0, spent.usd + worstCase.usd - held.usd) };
            if (more.tokens === 0 && more.usd === 0) return;
            await reservation.extend(more);
            held = { tokens: held.tokens + more.tokens, usd: held.usd + more.usd };
          },
        });
      } finally {
        const settled = used && (used.tokens > 0 || used.usd > 0) ? reservation.settle(used) : reservation.release();
        await settled.catch((error: unknown) => deps.logger.error({ err: error, tenant: principal.tenantId }, 'failed to settle quota reservation'));
      }
    },
  };
}

function priceOrFree(deps: MeterDeps, model: string): Price {
  try {
    return deps.price(model);
  } catch {
    return { input_per_mtok: 0, output_per_mtok: 0 };
  }
}
