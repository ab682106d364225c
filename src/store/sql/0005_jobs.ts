/** Migration 0005: durable jobs (src/jobs). Owned by the jobs module; never edit once applied. */
export const JOBS_SQL = `
-- Durable jobs: the tenant-scoped record of background work (a task run, an ingestion) that
-- the API reads: status, progress, result or typed error, attempts. pg-boss, in its own
-- schema, holds the queue and delivers each job (retries, backoff, expiry, dead letters);
-- this row is the truth a worker claims and finishes with guarded UPDATEs (… WHERE status =
-- 'running' AND attempts = <its attempt>), so a job delivered again after its worker died
-- never produces a second result. revision is bumped by every change: event streams poll it.
CREATE TABLE jobs (
  tenant_id    text        NOT NULL,
  id           text        NOT NULL,
  kind         text        NOT NULL CHECK (kind IN ('task_run', 'ingest')),
  status       text        NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  payload      jsonb       NOT NULL,
  progress     jsonb,
  result       jsonb,
  error        jsonb,
  attempts     integer     NOT NULL DEFAULT 0,
  max_attempts integer     NOT NULL CHECK (max_attempts >= 1),
  timeout_ms   integer     NOT NULL CHECK (timeout_ms > 0),
  webhook_url  text,
  webhook      jsonb,
  key_id       text,
  run_id       text,
  queue_id     uuid        NOT NULL,
  revision     integer     NOT NULL DEFAULT 0,
  created_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
  started_at   timestamptz,
  finished_at  timestamptz,
  PRIMARY KEY (tenant_id, id)
);
-- Job ids sort by time: the primary key lists a tenant's jobs newest first; this index the
-- jobs in one status (e.g. everything still queued), both with keyset pagination on id.
CREATE INDEX jobs_by_status ON jobs (tenant_id, status, id DESC);
`;
