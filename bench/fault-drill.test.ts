import { describe, expect, it } from 'vitest';
import { DEFAULT_DRILL, runFaultDrill, type FaultDrillOptions } from './fault-drill.js';

/**
 * The fault drill in `npm test`: the default drill's faults, seed, concurrency and deadline,
 * over 100 runs. The full 1,000 runs, with latency percentiles, is `npm run bench:faults`.
 */
const DRILL: FaultDrillOptions = { ...DEFAULT_DRILL, runs: 100 };

describe(`fault drill: ${DRILL.runs} runs (seed ${DRILL.seed}), tier 1 with 20% 5xx, 10% 429 + Retry-After, 5% hangs, 10% malformed JSON; healthy tier 2`, () => {
  it('ends every run with schema-valid output or a typed error, within its deadline', async () => {
    const { report } = await runFaultDrill(DRILL);
    console.log(`fault drill: ${JSON.stringify(report)}`);
    expect(report.runs).toBe(DRILL.runs);
    expect(report.untyped_errors).toBe(0);
    expect(report.invalid_outputs_returned).toBe(0);
    expect(report.over_deadline).toBe(0);
    expect(report.ok + Object.values(report.typed_errors).reduce((a, b) => a + b, 0)).toBe(DRILL.runs);
    // Tier 2 is healthy, so the route should practically always answer (99.5 %, as in the full drill).
    expect(report.ok).toBeGreaterThanOrEqual(Math.floor(DRILL.runs * 0.995));
    // The faults really happened and were handled by each mechanism.
    for (const outcome of ['provider_error', 'rate_limited', 'timeout', 'ok']) expect(report.attempts_by_outcome[outcome]).toBeGreaterThan(0);
    // 5 % of tier-1 calls hang: at least one per 50 runs (the full drill saw 79 in 1,000).
    expect(report.tier1_mock.outcomes.hang).toBeGreaterThanOrEqual(DRILL.runs / 50);
    expect(report.degraded).toBeGreaterThan(0);
  }, 60_000);
});
