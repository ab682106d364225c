import { expect, it } from 'vitest';
import type { AttemptRecord, Store } from '../store/ports.js';
import { addTenant, runRecord } from './test-fixtures.js';
import { usageReport } from './usage.js';

/** Usage reports on both stores (usage.test.ts, usage.int.test.ts). */
export function usageContract(getStore: () => Store): void {
  const attempt = (seq: number, model: string, outcome: AttemptRecord['outcome'], tokens: [number, number], costUsd: number): AttemptRecord => ({
    seq,
    tier: seq - 1,
    model,
    provider: 'p',
    outcome,
    inputTokens: tokens[0],
    outputTokens: tokens[1],
    tokensEstimated: false,
    costUsd,
    latencyMs: 1,
  });

  it('by model, charges each attempt to the model that spent it (issue 9 item 16); runs count once in the totals', async () => {
    const { db, runs } = getStore();
    const tenant = `usage-${Math.floor(Date.parse('2025-06-01') / 1000)}-${db.kind}`;
    await addTenant(db, tenant);
    const at = new Date('2025-06-01T10:00:00Z');
    // Tier 0 failed (but spent), tier 1 answered.
    await runs.record(
      tenant,
      runRecord({
        createdAt: at,
        model: 'capable',
        inputTokens: 300,
        outputTokens: 50,
        costUsd: 0.011,
        attempts: [attempt(1, 'cheap', 'invalid_output', [100, 30], 0.001), attempt(2, 'capable', 'ok', [200, 20], 0.01)],
      }),
    );
    // An abstention: no attempts, no model.
    await runs.record(tenant, runRecord({ createdAt: at, model: undefined, inputTokens: 0, outputTokens: 0, costUsd: 0, attempts: [] }));
    const report = await usageReport(db, tenant, { from: new Date('2025-06-01T00:00:00Z'), to: new Date('2025-06-02T00:00:00Z'), groupBy: 'model' });
    expect(report.rows).toEqual([
      { group: '(none)', runs: 1, errors: 0, inputTokens: 0, outputTokens: 0, costUsd: 0 },
      { group: 'capable', runs: 1, errors: 0, inputTokens: 200, outputTokens: 20, costUsd: 0.01 },
      { group: 'cheap', runs: 1, errors: 0, inputTokens: 100, outputTokens: 30, costUsd: 0.001 },
    ]);
    expect(report.totals).toEqual({ runs: 2, errors: 0, inputTokens: 300, outputTokens: 50, costUsd: 0.011 });
  });
}
