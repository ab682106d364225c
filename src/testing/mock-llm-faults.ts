/**
 * Fault selection for the mock model server: a seeded PRNG and one uniform draw per request, so a
 * given seed and request sequence always produces the same faults (retry and fallback tests can
 * assert exact outcomes, and benchmarks are repeatable).
 */

/** Probability (0..1) of each fault per chat completion request; they must sum to at most 1. */
export interface MockFaultRates {
  error5xx?: number;
  rateLimit?: number;
  hang?: number;
  malformed?: number;
  schemaViolation?: number;
  truncated?: number;
}

export type MockFault = keyof MockFaultRates;

/** What happened to one chat completion request. */
export type MockOutcome = 'ok' | MockFault | 'badRequest';

/** Fixed order: the same rates and draw always map to the same fault. */
export const FAULT_ORDER: readonly MockFault[] = ['error5xx', 'rateLimit', 'hang', 'malformed', 'schemaViolation', 'truncated'];

/** Values accepted in the `x-mock-fault` request header. */
export const FAULT_HEADER_VALUES: Readonly<Record<string, MockFault | 'none'>> = {
  none: 'none',
  '5xx': 'error5xx',
  '429': 'rateLimit',
  hang: 'hang',
  malformed: 'malformed',
  schema: 'schemaViolation',
  truncated: 'truncated',
};

/** The seeded generator faults are picked with (kernel/random.ts). */
export { mulberry32 } from '../kernel/random.js';

/** Throws a RangeError naming the first bad rate; returns cumulative thresholds in FAULT_ORDER. */
export function faultThresholds(rates: MockFaultRates = {}): number[] {
  let sum = 0;
  const thresholds: number[] = [];
  for (const fault of FAULT_ORDER) {
    const p = rates[fault] ?? 0;
    if (typeof p !== 'number' || !Number.isFinite(p) || p < 0 || p > 1) {
      throw new RangeError(`mock-llm: faults.${fault} must be a probability between 0 and 1, got ${String(p)}`);
    }
    sum += p;
    thresholds.push(sum);
  }
  // Allow float noise such as 0.1 + 0.2 + 0.7.
  if (sum > 1 + 1e-9) throw new RangeError(`mock-llm: fault probabilities sum to ${sum}, which is more than 1`);
  return thresholds;
}

/** Maps one uniform draw in [0, 1) to at most one fault. */
export function pickFault(draw: number, thresholds: readonly number[]): MockFault | undefined {
  for (let i = 0; i < thresholds.length; i++) {
    if (draw < thresholds[i]) return FAULT_ORDER[i];
  }
  return undefined;
}

/** The `x-mock-fault` header: undefined when absent, null when invalid (a typo must not pass silently). */
export function faultOverride(header: string | string[] | undefined): MockFault | 'none' | undefined | null {
  if (header === undefined) return undefined;
  return FAULT_HEADER_VALUES[String(header).trim().toLowerCase()] ?? null;
}

/** The `x-mock-latency-ms` header, with the same undefined / null convention. */
export function latencyOverride(header: string | string[] | undefined): number | undefined | null {
  if (header === undefined) return undefined;
  const text = String(header).trim();
  const ms = text === '' ? NaN : Number(text);
  return Number.isInteger(ms) && ms >= 0 ? ms : null;
}
