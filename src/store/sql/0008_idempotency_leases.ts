/** Migration 0008: owners and leases for Idempotency-Key claims (src/api/idempotency.ts). Never edit once applied. */
export const IDEMPOTENCY_LEASES_SQL = `
-- A pending claim names the process that holds it (owner, a per-process instance id), the
-- claim itself (claim_id: only that request may finish or release it) and how long it is held
-- (lease_until). The owner renews the lease while its request runs; a pending claim whose lease
-- ran out belongs to a dead process, and the next request with its key takes it over.
-- Rows written before this migration (or by an older release during a rolling deploy) have no
-- lease: they keep the old rule, taken over 10 minutes after created_at.
ALTER TABLE idempotency_keys ADD COLUMN owner text;
ALTER TABLE idempotency_keys ADD COLUMN claim_id text;
ALTER TABLE idempotency_keys ADD COLUMN lease_until timestamptz;
`;
