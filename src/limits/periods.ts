import type { QuotaPeriod } from './ports.js';

/**
 * Quota periods are UTC calendar days and months: every replica and the usage report agree
 * on where one ends, whatever the host's time zone.
 */

export interface PeriodWindow {
  /** Names the counters row: 'day:2025-01-31' or 'month:2025-01'. */
  key: string;
  start: Date;
  /** When the next period starts (the quota resets). */
  end: Date;
}

/** The last window computed for each period: every request asks, and the answer changes once a day. */
const latest: Partial<Record<QuotaPeriod, PeriodWindow>> = {};

/** The period's window around `nowMs`. The result is shared between callers: read it, do not change it. */
export function periodWindow(period: QuotaPeriod, nowMs: number): PeriodWindow {
  const last = latest[period];
  if (last && nowMs >= last.start.getTime() && nowMs < last.end.getTime()) return last;
  const window = computeWindow(period, nowMs);
  latest[period] = window;
  return window;
}

function computeWindow(period: QuotaPeriod, nowMs: number): PeriodWindow {
  const now = new Date(nowMs);
  const year = now.getUTCFullYear();
  const month = now.getUTCMonth();
  if (period === 'day') {
    const day = now.getUTCDate();
    const start = new Date(Date.UTC(year, month, day));
    return { key: `day:${start.toISOString().slice(0, 10)}`, start, end: new Date(Date.UTC(year, month, day + 1)) };
  }
  const start = new Date(Date.UTC(year, month, 1));
  return { key: `month:${start.toISOString().slice(0, 7)}`, start, end: new Date(Date.UTC(year, month + 1, 1)) };
}
