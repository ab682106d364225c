import { createHash } from 'node:crypto';
import { GroundworkError } from '../kernel/errors.js';
import type { Database } from './ports.js';
import { JOBS_SQL } from './sql/0005_jobs.js';
import { LIMITS_SQL } from './sql/0006_limits.js';
import { TENANT_LIFECYCLE_SQL } from './sql/0007_tenant_lifecycle.js';
import { IDEMPOTENCY_LEASES_SQL } from './sql/0008_idempotency_leases.js';
import { EVALS_RELEASES_SQL } from './sql/0009_evals_releases.js';
import { EVAL_JOBS_SQL } from './sql/0010_eval_jobs.js';
import { RUN_EVALS_SQL } from './sql/0011_run_evals.js';

/**
 * Forward-only schema migrations, embedded in code so `dist/` needs no asset copying.
 * Never edit an applied migration: the checksum check refuses to start. Add a new one.
 * Every table starts with `tenant_id` and so does every primary key and index.
 */

export interface Migration {
  /** Sortable id, e.g. '0001_init'. */
  id: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    id: '0001_init',
    sql: `
-- The extension is database-wide; pinning it to public keeps it out of per-tenant or
-- per-test schemas, so dropping such a schema never drops vector columns elsewhere.
CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;

CREATE TABLE task_versions (
  tenant_id   text        NOT NULL,
  task_name   text        NOT NULL,
  version     text        NOT NULL,
  definition  jsonb       NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, task_name, version)
);
CREATE INDEX task_versions_newest ON task_versions (tenant_id, task_name, created_at DESC);

CREATE TABLE tasks (
  tenant_id      text        NOT NULL,
  name           text        NOT NULL,
  active_version text        NOT NULL,
  description    text        NOT NULL DEFAULT '',
  updated_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, name),
  FOREIGN KEY (tenant_id, name, active_version) REFERENCES task_versions (tenant_id, task_name, version)
);

CREATE TABLE runs (
  tenant_id     text             NOT NULL,
  id            text             NOT NULL,
  task_name     text             NOT NULL,
  task_version  text             NOT NULL,
  status        text             NOT NULL CHECK (status IN ('ok', 'error')),
  model         text,
  degraded      boolean          NOT NULL DEFAULT false,
  input         jsonb            NOT NULL,
  output        jsonb,
  error         jsonb,
  input_tokens  integer          NOT NULL DEFAULT 0,
  output_tokens integer          NOT NULL DEFAULT 0,
  cost_usd      double precision NOT NULL DEFAULT 0,
  latency_ms    double precision NOT NULL DEFAULT 0,
  created_at    timestamptz      NOT NULL,
  PRIMARY KEY (tenant_id, id)
);
-- Run ids sort by time: the primary key lists a tenant's runs newest first (backward scan),
-- this index a task's runs; both serve keyset pagination on id.
CREATE INDEX runs_by_task ON runs (tenant_id, task_name, id DESC);

CREATE TABLE run_attempts (
  tenant_id         text             NOT NULL,
  run_id            text             NOT NULL,
  seq               integer          NOT NULL,
  tier              integer          NOT NULL,
  model             text             NOT NULL,
  provider          text             NOT NULL,
  outcome           text             NOT NULL,
  input_tokens      integer          NOT NULL DEFAULT 0,
  output_tokens     integer          NOT NULL DEFAULT 0,
  tokens_estimated  boolean          NOT NULL DEFAULT false,
  cost_usd          double precision NOT NULL DEFAULT 0,
  latency_ms        double precision NOT NULL DEFAULT 0,
  error             text,
  validation_errors jsonb,
  escalation_reason text,
  reask             boolean,
  repaired          boolean,
  PRIMARY KEY (tenant_id, run_id, seq),
  FOREIGN KEY (tenant_id, run_id) REFERENCES runs (tenant_id, id) ON DELETE CASCADE
);
`,
  },
  {
    id: '0002_retrieval',
    sql: `
-- Collections of documents split into chunks for grounding. Lexical (BM25) and vector search
-- run over an in-process index that caches these rows (src/retrieval/collection-index.ts);
-- the database stays the only source of truth. revision is bumped by every write to a
-- collection and retrieval_changes says which documents changed since a given revision,
-- so every replica's cache catches up by reloading only those documents.
CREATE TABLE retrieval_collections (
  tenant_id      text        NOT NULL,
  id             text        NOT NULL,
  name           text        NOT NULL,
  description    text        NOT NULL DEFAULT '',
  embedder       text        NOT NULL,
  dimensions     integer     NOT NULL CHECK (dimensions BETWEEN 1 AND 16000),
  document_count integer     NOT NULL DEFAULT 0,
  chunk_count    integer     NOT NULL DEFAULT 0,
  revision       bigint      NOT NULL DEFAULT 0,
  created_at     timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, id),
  UNIQUE (tenant_id, name)
);

CREATE TABLE retrieval_documents (
  tenant_id     text        NOT NULL,
  collection_id text        NOT NULL,
  id            text        NOT NULL,
  source        text        NOT NULL,
  title         text        NOT NULL DEFAULT '',
  format        text        NOT NULL,
  content_hash  text        NOT NULL,
  metadata      jsonb       NOT NULL DEFAULT '{}',
  status        text        NOT NULL CHECK (status IN ('ready', 'failed')),
  error         jsonb,
  chunk_count   integer     NOT NULL DEFAULT 0,
  bytes         bigint      NOT NULL DEFAULT 0,
  created_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  updated_at    timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, collection_id, id),
  UNIQUE (tenant_id, collection_id, source),
  FOREIGN KEY (tenant_id, collection_id) REFERENCES retrieval_collections (tenant_id, id) ON DELETE CASCADE
);

-- The embedding column is untyped: dimensions vary per collection (checked on write against
-- retrieval_collections.dimensions). No ANN index: search is exact in process (see above).
-- metadata repeats the document's, so SQL can filter chunks without a join. No foreign key:
-- its per-row check costs ~10% of PGlite's insert time; the repository writes a document and
-- its chunks in one transaction and deletes chunks explicitly (document, then collection).
CREATE TABLE retrieval_chunks (
  tenant_id     text    NOT NULL,
  collection_id text    NOT NULL,
  id            bigint  GENERATED ALWAYS AS IDENTITY,
  document_id   text    NOT NULL,
  position      integer NOT NULL,
  text          text    NOT NULL,
  heading_path  text[]  NOT NULL DEFAULT '{}',
  page          integer,
  token_count   integer NOT NULL DEFAULT 0,
  metadata      jsonb   NOT NULL DEFAULT '{}',
  embedding     public.vector NOT NULL,
  PRIMARY KEY (tenant_id, collection_id, id)
);
-- Embeddings do not compress (pglz on float4 arrays only burns CPU, slowest under PGlite's
-- WASM), and moving them out of line costs TOAST rows and index entries on every insert: rows
-- up to ~8 kB stay inline and uncompressed; only larger ones go out of line, uncompressed.
ALTER TABLE retrieval_chunks ALTER COLUMN embedding SET STORAGE EXTERNAL;
ALTER TABLE retrieval_chunks SET (toast_tuple_target = 8160);
CREATE INDEX retrieval_chunks_by_document ON retrieval_chunks (tenant_id, collection_id, document_id, position);

CREATE TABLE retrieval_changes (
  tenant_id     text   NOT NULL,
  collection_id text   NOT NULL,
  document_id   text   NOT NULL,
  revision      bigint NOT NULL,
  PRIMARY KEY (tenant_id, collection_id, document_id),
  FOREIGN KEY (tenant_id, collection_id) REFERENCES retrieval_collections (tenant_id, id) ON DELETE CASCADE
);
CREATE INDEX retrieval_changes_since ON retrieval_changes (tenant_id, collection_id, revision);
`,
  },
  {
    id: '0003_run_grounding',
    sql: `
-- Grounded runs record how well their answer is supported (see src/grounding/ask.ts).
ALTER TABLE runs ADD COLUMN grounding jsonb;
`,
  },
  {
    id: '0004_auth',
    sql: `
-- Tenants own everything; API keys authenticate a request to one tenant with one role.
-- webhook_secret signs the tenant's job webhooks (HMAC-SHA256), so it is kept, not hashed.
CREATE TABLE tenants (
  id             text        PRIMARY KEY,
  name           text        NOT NULL DEFAULT '',
  webhook_secret text        NOT NULL,
  created_at     timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- A key is shown once; only its SHA-256 is stored. prefix is the visible, unique start of
-- the key (gwk_xxxxxxxx) that finds the row; the hash is then compared in constant time.
-- Authentication is the one lookup not scoped by tenant: the key is what names the tenant.
CREATE TABLE api_keys (
  tenant_id           text        NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  id                  text        NOT NULL,
  prefix              text        NOT NULL UNIQUE,
  hash                text        NOT NULL,
  name                text        NOT NULL DEFAULT '',
  role                text        NOT NULL CHECK (role IN ('viewer', 'runner', 'developer', 'admin')),
  requests_per_minute integer     CHECK (requests_per_minute > 0),
  tokens_per_minute   integer     CHECK (tokens_per_minute > 0),
  created_at          timestamptz NOT NULL DEFAULT clock_timestamp(),
  expires_at          timestamptz,
  revoked_at          timestamptz,
  PRIMARY KEY (tenant_id, id)
);

-- Idempotency-Key: the first request with a key claims it (status pending) and stores its
-- answer; the same key and body again gets that answer, a different body a 409.
CREATE TABLE idempotency_keys (
  tenant_id       text        NOT NULL,
  key             text        NOT NULL,
  scope           text        NOT NULL,
  body_hash       text        NOT NULL,
  status          text        NOT NULL CHECK (status IN ('pending', 'done')),
  response_status integer,
  response        jsonb,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  PRIMARY KEY (tenant_id, key)
);

-- Runs say which key made them (usage by key); usage reports and quota seeding read a
-- tenant's runs by time.
ALTER TABLE runs ADD COLUMN key_id text;
CREATE INDEX runs_by_time ON runs (tenant_id, created_at);
`,
  },
  { id: '0005_jobs', sql: JOBS_SQL },
  { id: '0006_limits', sql: LIMITS_SQL },
  { id: '0007_tenant_lifecycle', sql: TENANT_LIFECYCLE_SQL },
  { id: '0008_idempotency_leases', sql: IDEMPOTENCY_LEASES_SQL },
  { id: '0009_evals_releases', sql: EVALS_RELEASES_SQL },
  { id: '0010_eval_jobs', sql: EVAL_JOBS_SQL },
  { id: '0011_run_evals', sql: RUN_EVALS_SQL },
];

export interface MigrateOptions {
  /** For tests: a different migration list. */
  migrations?: readonly Migration[];
}

export function checksum(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex');
}

/**
 * Applies pending migrations in one transaction: all or nothing. On a server, concurrent
 * replicas starting together are serialized by a transaction-scoped advisory lock.
 * Applied migrations this code does not know (a newer release migrated the database) are
 * left alone, so rolling back a deploy keeps working as long as migrations stay additive.
 */
export async function migrate(db: Database, options: MigrateOptions = {}): Promise<{ applied: string[] }> {
  const migrations = options.migrations ?? MIGRATIONS;
  assertOrdered(migrations);
  return db.transaction(async (tx) => {
    if (db.kind === 'server') await tx.query(`SELECT pg_advisory_xact_lock(hashtext('groundwork.migrate'))`);
    await tx.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
      id         text        PRIMARY KEY,
      checksum   text        NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const rows = await tx.query<{ id: string; checksum: string }>('SELECT id, checksum FROM schema_migrations');
    const done = new Map(rows.map((row) => [row.id, row.checksum]));

    const applied: string[] = [];
    for (const migration of migrations) {
      const sum = checksum(migration.sql);
      const recorded = done.get(migration.id);
      if (recorded !== undefined) {
        if (recorded !== sum) throw tampered(migration.id, recorded, sum);
        continue;
      }
      try {
        await tx.exec(migration.sql);
      } catch (error) {
        throw mapMigrationError(error, migration.id);
      }
      await tx.query('INSERT INTO schema_migrations (id, checksum) VALUES ($1, $2)', [migration.id, sum]);
      applied.push(migration.id);
    }
    return { applied };
  });
}

function assertOrdered(migrations: readonly Migration[]): void {
  for (let i = 1; i < migrations.length; i++) {
    if (migrations[i - 1].id >= migrations[i].id) {
      throw new Error(`migrations out of order: ${migrations[i - 1].id} before ${migrations[i].id}`);
    }
  }
}

function tampered(id: string, recorded: string, current: string): GroundworkError {
  return new GroundworkError(
    'STORE_MIGRATION_CHANGED',
    `migration ${id} was changed after it was applied to this database (checksum ${recorded.slice(0, 12)}… recorded, ` +
      `${current.slice(0, 12)}… in this build). Applied migrations are immutable: restore the original and add a new ` +
      `migration instead.`,
    { isRetryable: false, details: { migration: id, recordedChecksum: recorded, currentChecksum: current } },
  );
}

/**
 * PostgreSQL ≥ 15 reports a missing extension as 0A000 `extension "x" is not available`;
 * older servers as 58P01 `could not open extension control file ".../x.control"`.
 */
export function mapMigrationError(error: unknown, migrationId: string): unknown {
  const missing = missingExtension(error);
  if (missing === undefined) return error;
  const install =
    missing === 'vector'
      ? 'Groundwork needs pgvector on the PostgreSQL server. Install it on the database host: on Debian/Ubuntu ' +
        '`apt-get install postgresql-<major>-pgvector` (e.g. postgresql-16-pgvector, from the PGDG repository ' +
        'apt.postgresql.org where the distribution ships none or an old one), or build it from source ' +
        "(https://github.com/pgvector/pgvector: `make && make install` with PG_CONFIG pointing at the server's pg_config); " +
        'managed services (RDS, Cloud SQL, Azure, Supabase, Neon) ship it already. Then restart Groundwork.'
      : `Install the "${missing}" extension on the PostgreSQL server, then restart Groundwork.`;
  return new GroundworkError(
    'STORE_EXTENSION_MISSING',
    `the PostgreSQL extension "${missing}" is not installed on the database server (migration ${migrationId}). ${install}`,
    { cause: error, isRetryable: false, details: { extension: missing, migration: migrationId } },
  );
}

function missingExtension(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof message !== 'string') return undefined;
  if (code === '0A000') return /extension "([^"]+)" is not available/.exec(message)?.[1];
  if (code === '58P01') return /extension control file "[^"]*\/([^/"]+)\.control"/.exec(message)?.[1];
  return undefined;
}
