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

export function periodWindow(period: QuotaPeriod, nowMs: number): PeriodWindow {
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
