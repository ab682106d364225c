import type { Principal } from '../auth/principal.js';
import type { Limits, UsageAmount } from '../limits/ports.js';
import { costUsd, type Price } from '../models/pricing.js';
import type { RunTaskParams } from '../tasks/run-task.js';

/**
 * Quota accounting around model-using work (DESIGN.md run path steps 1 and 8): reserve the
 * most a call can cost before any model is called, settle with what the run actually used
 * (recorded attempts, failures included), release when nothing was spent.
 *
 * The maximum is the task's max_cost_usd when it sets one (the run stops spending there);
 * otherwise two full-length calls (a call and its one re-ask) of the route's most expensive
 * model. Retries and escalations past that can exceed the reservation: set max_cost_usd to
 * make the bound exact.
 */

export type MeterHooks = Pick<RunTaskParams, 'keyId' | 'onUsage'>;

export interface Meter {
  maximum(params: { models: readonly string[]; inputChars: number; extraInputTokens?: number; maxOutputTokens: number; maxCostUsd?: number }): UsageAmount;
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
const CALLS_RESERVED = 2;

export function createMeter(deps: MeterDeps): Meter {
  return {
    maximum({ models, inputChars, extraInputTokens = 0, maxOutputTokens, maxCostUsd }) {
      const inputTokens = Math.ceil(inputChars / CHARS_PER_TOKEN) + extraInputTokens;
      let usd = 0;
      for (const model of models) {
        // A model this installation lacks fails the run with its own typed error; it costs nothing here.
        const price = priceOrFree(deps, model);
        usd = Math.max(usd, costUsd(price, { inputTokens, outputTokens: maxOutputTokens }));
      }
      return { tokens: (inputTokens + maxOutputTokens) * CALLS_RESERVED, usd: maxCostUsd ?? usd * CALLS_RESERVED };
    },

    async run(principal, maximum, fn, onSoftQuota) {
      if (!principal) return fn({});
      const reservation = await deps.limits.reserve(principal, maximum);
      if (reservation.overSoftQuota) onSoftQuota?.();
      let used: UsageAmount | undefined;
      try {
        return await fn({
          keyId: principal.keyId,
          onUsage: (usage) => {
            used = { tokens: usage.inputTokens + usage.outputTokens, usd: usage.costUsd };
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
