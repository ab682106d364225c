import type { Principal } from '../auth/principal.js';
import type { Limits, Reservation, UsageAmount } from '../limits/ports.js';
import type { RunMeter } from '../tasks/run-task.js';

/**
 * Quota accounting for one run, over the limits (DESIGN.md run path steps 2 and 8). The run
 * pipeline prices its calls (tasks/run-task.ts); this holds and settles those amounts:
 *
 * A run holds what its own first model call can cost at most (not a multiple of the route's
 * priciest model: a cheap call under a small quota is not refused for what it will never
 * spend). Before every further call (a retry, a re-ask, the next tier) the hold grows to cover
 * what the run has spent plus that call's worst case, or the run stops there with
 * QUOTA_EXCEEDED / RATE_LIMITED. So settled usage never passes a hard limit. Settled with what
 * the run actually used (failed attempts included); released when nothing was.
 */
export function runMeter(params: {
  limits: Pick<Limits, 'reserve'>;
  principal: Principal;
  logger: { error(details: Record<string, unknown>, message: string): void };
  /** The tenant is over a soft quota: allowed, and the caller flags it to the client. */
  onSoftQuota?: () => void;
}): RunMeter {
  let reservation: Reservation | undefined;
  let held: UsageAmount = { tokens: 0, usd: 0 };
  return {
    async reserve(firstCall) {
      reservation = await params.limits.reserve(params.principal, firstCall);
      held = { ...firstCall };
      if (reservation.overSoftQuota) params.onSoftQuota?.();
    },
    async beforeCall({ worstCase, spent }) {
      if (!reservation) return;
      const more = { tokens: Math.max(0, spent.tokens + worstCase.tokens - held.tokens), usd: Math.max(0, spent.usd + worstCase.usd - held.usd) };
      if (more.tokens === 0 && more.usd === 0) return;
      await reservation.extend(more);
      held = { tokens: held.tokens + more.tokens, usd: held.usd + more.usd };
    },
    async settle(used) {
      if (!reservation) return;
      const done = used.tokens > 0 || used.usd > 0 ? reservation.settle(used) : reservation.release();
      await done.catch((error: unknown) => params.logger.error({ err: error, tenant: params.principal.tenantId }, 'failed to settle quota reservation'));
    },
  };
}
