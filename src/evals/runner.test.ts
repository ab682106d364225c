import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../kernel/errors.js';
import type { EvalCase } from './dataset.js';
import { planEval, runCases } from './runner.js';
import { defaultScorers, type CaseResult } from './scorers.js';

const cases: EvalCase[] = Array.from({ length: 5 }, (_, i) => ({ id: `c${i}`, line: i + 1, input: { n: i }, expected: { n: i }, tags: [], weight: 1 }));
const scorers = defaultScorers();
const answer = (testCase: EvalCase, costUsd = 0.01): CaseResult => ({ status: 'ok', output: testCase.input, latencyMs: 1, costUsd });
/** Lets every pending callback run: trials finish in the order the test releases them, never by the clock. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('runCases', () => {
  it('runs every case k times, never more than `concurrency` at once, and keeps dataset order whatever finishes first', async () => {
    let inFlight = 0;
    let most = 0;
    const waiting: Array<() => void> = [];
    const running = runCases({
      cases,
      scorers,
      trials: 2,
      concurrency: 3,
      runCase: async (testCase) => {
        inFlight++;
        most = Math.max(most, inFlight);
        await new Promise<void>((resolve) => waiting.push(resolve));
        inFlight--;
        return answer(testCase);
      },
    });
    // Release the newest first, so trials finish out of order.
    while (waiting.length > 0 || inFlight > 0) {
      await settle();
      waiting.pop()?.();
    }
    const result = await running;
    expect(most).toBe(3);
    expect(result.planned).toBe(10);
    expect(result.stopped).toBeUndefined();
    expect(result.trials.map((t) => `${t.caseId}/${t.trial}`)).toEqual(cases.flatMap((c) => [`${c.id}/0`, `${c.id}/1`]));
    expect(result.trials.every((t) => t.scores.exact_match === 1)).toBe(true);
    expect(result.spentUsd).toBeCloseTo(0.1, 12);
  });

  it('stops starting trials before the budget would be passed, and says so', async () => {
    const progress: number[] = [];
    const result = await runCases({
      cases,
      scorers,
      trials: 2,
      concurrency: 1,
      maxCostUsd: 0.035,
      runCase: async (c) => answer(c),
      onProgress: (p) => progress.push(p.done),
    });
    // Three trials spend 0.03; a fourth (estimated at the dearest so far, 0.01) would reach 0.04.
    expect(result.trials).toHaveLength(3);
    expect(result).toMatchObject({ stopped: 'budget', planned: 10 });
    expect(result.spentUsd).toBeCloseTo(0.03, 12);
    expect(progress).toEqual([1, 2, 3]);
    // With an estimate up front, nothing starts that the budget cannot hold.
    const none = await runCases({ cases, scorers, maxCostUsd: 0.005, estimateCostUsd: () => 0.01, runCase: async (c) => answer(c) });
    expect(none).toMatchObject({ trials: [], stopped: 'budget' });
  });

  it('records a trial that failed as an error trial with its code, and stops when aborted', async () => {
    const failed = await runCases({
      cases: cases.slice(0, 2),
      scorers,
      runCase: async (c) => {
        if (c.id === 'c1') throw new GroundworkError('MODEL_UNAVAILABLE', 'no tier answered');
        return answer(c);
      },
    });
    expect(failed.trials[1].result).toMatchObject({ status: 'error', costUsd: 0, error: { code: 'MODEL_UNAVAILABLE', message: 'no tier answered' } });
    expect(Object.keys(failed.trials[1].scores).sort()).toEqual(['cost_usd', 'latency_ms']);

    const controller = new AbortController();
    const aborted = await runCases({
      cases,
      scorers,
      concurrency: 1,
      signal: controller.signal,
      runCase: async (c) => {
        if (c.id === 'c1') controller.abort();
        return answer(c);
      },
    });
    expect(aborted.trials.map((t) => t.caseId)).toEqual(['c0', 'c1']);
    expect(aborted.stopped).toBe('aborted');
  });

  it('plans a dry run: calls and estimated cost, without running anything', () => {
    expect(planEval(cases, 3, () => 0.002)).toEqual({ trials: 15, estimatedUsd: expect.closeTo(0.03, 12) });
  });
});
