/** Migration 0006: quota counters and usage (src/limits). Owned by the limits module; never edit once applied. */
export const LIMITS_SQL = `
-- Per-tenant quotas, set by an installation operator (groundwork quotas set): at most one per
-- metric (tokens, usd) and period (UTC day, UTC month). hard rejects, soft allows and alerts.
CREATE TABLE quota_definitions (
  tenant_id   text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  metric      text        NOT NULL CHECK (metric IN ('tokens', 'usd')),
  period      text        NOT NULL CHECK (period IN ('day', 'month')),
  limit_value numeric     NOT NULL CHECK (limit_value >= 0),
  enforcement text        NOT NULL CHECK (enforcement IN ('hard', 'soft')),
  updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, metric, period)
);

-- Where a tenant stands in one period (period_key 'day:2025-01-31' or 'month:2025-01'):
-- settled usage and what requests in flight have reserved. Server mode changes a row only with
-- one conditional UPDATE (INSERT … ON CONFLICT DO UPDATE … WHERE used + reserved + new <= limit),
-- so replicas never race a read-modify-write; the embedded mode keeps the row in memory and
-- writes settled usage behind in batches. USD is numeric: sums of many small costs stay exact.
-- Only tenants with quotas have rows; setting a quota seeds the current period from runs.
CREATE TABLE quota_counters (
  tenant_id       text        NOT NULL,
  period_key      text        NOT NULL,
  tokens_used     bigint      NOT NULL DEFAULT 0,
  tokens_reserved bigint      NOT NULL DEFAULT 0,
  usd_used        numeric     NOT NULL DEFAULT 0,
  usd_reserved    numeric     NOT NULL DEFAULT 0,
  updated_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, period_key)
);

-- Per-key rate-limit windows in server mode (requests and tokens per minute), in the layout
-- rate-limiter-flexible's RateLimiterPostgres reads and writes with positional INSERTs
-- (key, points, expire): so, the one table whose first column is not tenant_id. The key
-- itself starts with the tenant ('<prefix>:<tenant>:<key id>'). expire is epoch ms.
CREATE TABLE rate_limit_counters (
  key    varchar(255) PRIMARY KEY,
  points integer      NOT NULL DEFAULT 0,
  expire bigint
);
CREATE INDEX rate_limit_counters_expire ON rate_limit_counters (expire);
`;
