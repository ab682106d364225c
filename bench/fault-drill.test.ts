import { describe, expect, it } from 'vitest';
import { DEFAULT_DRILL, runFaultDrill } from './fault-drill.js';

describe('fault drill: 1,000 runs, tier 1 with 20% 5xx, 10% 429 + Retry-After, 5% hangs, 10% malformed JSON; healthy tier 2', () => {
  it('ends every run with schema-valid output or a typed error, within its deadline', async () => {
    const { report } = await runFaultDrill(DEFAULT_DRILL);
    console.log(`fault drill: ${JSON.stringify(report)}`);
    expect(report.runs).toBe(1_000);
    expect(report.untyped_errors).toBe(0);
    expect(report.invalid_outputs_returned).toBe(0);
    expect(report.over_deadline).toBe(0);
    expect(report.ok + Object.values(report.typed_errors).reduce((a, b) => a + b, 0)).toBe(1_000);
    // Tier 2 is healthy, so the route should practically always answer.
    expect(report.ok).toBeGreaterThanOrEqual(995);
    // The faults really happened and were handled by each mechanism.
    for (const outcome of ['provider_error', 'rate_limited', 'timeout', 'ok']) expect(report.attempts_by_outcome[outcome]).toBeGreaterThan(0);
    expect(report.tier1_mock.outcomes.hang).toBeGreaterThan(20);
    expect(report.degraded).toBeGreaterThan(0);
  }, 180_000);
});
