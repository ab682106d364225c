import type { UsageAmount } from './ports.js';

/**
 * Quota arithmetic is in integers: tokens, and USD in nano-dollars. A hard limit of $1.00
 * admits exactly 100 reservations of $0.01 — floating-point sums would admit 99 or 101.
 * (2^53 nano-dollars is $9M, far beyond one tenant's period.)
 */

export interface Amount {
  tokens: number;
  nanos: number;
}

export const ZERO: Amount = Object.freeze({ tokens: 0, nanos: 0 });

export function usdToNanos(usd: number): number {
  return Number.isFinite(usd) && usd > 0 ? Math.round(usd * 1e9) : 0;
}

export function nanosToUsd(nanos: number): number {
  return nanos / 1e9;
}

/** What a caller passed, made safe: negative, NaN or infinite parts count as 0. */
export function toAmount(usage: UsageAmount): Amount {
  // Clamped to what a bigint parameter and exact arithmetic take: a request asking for 1e21
  // tokens is refused by a hard quota, not failed by the database.
  const tokens = Number.isFinite(usage.tokens) && usage.tokens > 0 ? Math.min(Math.ceil(usage.tokens), Number.MAX_SAFE_INTEGER) : 0;
  return { tokens, nanos: Math.min(usdToNanos(usage.usd), Number.MAX_SAFE_INTEGER) };
}

/** Exact decimal text for a numeric parameter ($1::numeric), e.g. 10000000 → "0.010000000". */
export function nanosToDecimal(nanos: number): string {
  const sign = nanos < 0 ? '-' : '';
  const digits = String(Math.abs(Math.trunc(nanos))).padStart(10, '0');
  return `${sign}${digits.slice(0, -9)}.${digits.slice(-9)}`;
}

/** A numeric column as the drivers return it (text) → nano-dollars. */
export function decimalToNanos(value: string | number | null | undefined): number {
  if (value === null || value === undefined) return 0;
  const text = String(value);
  const match = /^(-?)(\d*)(?:\.(\d*))?$/.exec(text);
  if (!match) return Math.round(Number(text) * 1e9);
  const [, sign, whole, fraction = ''] = match;
  const nanos = Number(whole || '0') * 1e9 + Number(fraction.slice(0, 9).padEnd(9, '0'));
  return sign ? -nanos : nanos;
}
