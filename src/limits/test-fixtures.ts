import type { Principal } from '../auth/principal.js';
import type { Database, RunRecord } from '../store/ports.js';

/** Shared by the limits tests: tenants, principals and recorded runs. */

export async function addTenant(db: Database, id: string): Promise<void> {
  await db.query(`INSERT INTO tenants (id, name, webhook_secret) VALUES ($1, $1, 'test-secret') ON CONFLICT (id) DO NOTHING`, [id]);
}

export const principal = (tenantId: string, overrides: Partial<Principal> = {}): Principal => ({
  tenantId,
  keyId: `key-${tenantId}`,
  role: 'runner',
  ...overrides,
});

let seq = 0;

/** A finished run as the run pipeline records it. */
export function runRecord(overrides: Partial<RunRecord> & { createdAt: Date }): RunRecord {
  seq += 1;
  return {
    id: `run_${String(overrides.createdAt.getTime()).padStart(14, '0')}_${String(seq).padStart(6, '0')}`,
    taskName: 'triage',
    taskVersion: 'v1',
    status: 'ok',
    model: 'mock-model',
    degraded: false,
    input: {},
    output: {},
    inputTokens: 100,
    outputTokens: 20,
    costUsd: 0.001,
    latencyMs: 5,
    attempts: [],
    ...overrides,
  };
}
