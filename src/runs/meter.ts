import type { Principal } from '../auth/principal.js';
import type { Limits, Reservation, UsageAmount } from '../limits/ports.js';

/** Tokens and USD: what a call may cost at most, or what a run has spent. */
export interface CallAmount {
  tokens: number;
  usd: number;
}

/**
 * Quota accounting for one run: hold the first call's worst case before anything is spent,
 * grow the hold before each further call, settle with what the run used. Throws
 * QUOTA_EXCEEDED / RATE_LIMITED where a hold cannot be had.
 */
export interface RunMeter {
  reserve(firstCall: CallAmount): Promise<void>;
  /** Undefined when the hold already covers the call (no promise on the common path). */
  beforeCall(call: { worstCase: CallAmount; spent: CallAmount }): Promise<void> | undefined;
  /** Once per run that reserved, success or failure: what it used. Never rejects (a failure is logged). */
  settle(used: CallAmount): Promise<void>;
}

/**
 * Quota accounting for one run over the limits (DESIGN.md run path steps 2 and 8), the one
 * used by task runs, `ask` and the gateway's calls. The callers price their calls; this holds
 * and settles those amounts:
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
    beforeCall({ worstCase, spent }) {
      if (!reservation) return undefined;
      const more = { tokens: Math.max(0, spent.tokens + worstCase.tokens - held.tokens), usd: Math.max(0, spent.usd + worstCase.usd - held.usd) };
      if (more.tokens === 0 && more.usd === 0) return undefined;
      return reservation.extend(more).then(() => {
        held = { tokens: held.tokens + more.tokens, usd: held.usd + more.usd };
      });
    },
    async settle(used) {
      if (!reservation) return;
      const done = used.tokens > 0 || used.usd > 0 ? reservation.settle(used) : reservation.release();
      await done.catch((error: unknown) => params.logger.error({ err: error, tenant: params.principal.tenantId }, 'failed to settle quota reservation'));
    },
  };
}
