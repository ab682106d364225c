import { existsSync } from 'node:fs';
import { rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Pool, PoolClient } from 'pg';
import { GroundworkError } from '../kernel/errors.js';
import { makePrivateDir } from './data-dir-mode.js';
import { openEmbeddedWorker, type EmbeddedDatabase } from './embedded.js';
import { cachedTemplateFile, migratedTemplate, offerTemplate } from './embedded-template.js';
import { storableParams } from './json-param.js';
import type { Database, SqlTransaction } from './ports.js';

/**
 * One Database port over two drivers: PGlite (Postgres compiled to WASM, run in a worker thread
 * of this process by embedded.ts) for the embedded mode and a `pg` pool for a PostgreSQL
 * server. Both return the same JS types: timestamptz → Date, double precision → number,
 * int8 → number (counts), json/jsonb → values.
 * Callers pass json/jsonb parameters as JSON strings and cast them (`$1::jsonb`) in SQL, which
 * both drivers serialize the same way. Text parameters never fail a statement for holding a
 * NUL: both adapters replace it (storableParams), so an id or name with one is simply not found.
 */

export interface OpenDatabaseOptions {
  /** Embedded mode: the data folder (PGlite lives in `<dataDir>/pglite`); 'memory://' for tests. */
  dataDir?: string;
  /** Server mode: postgres://… (wins over dataDir). */
  databaseUrl?: string;
  /** Every connection uses `search_path = <schema>, public` (test isolation). Must exist. */
  schema?: string;
  /** Server mode pool size. */
  maxConnections?: number;
  /**
   * A 'memory://' store starts from the migrated template (embedded-template.ts) instead of
   * initdb. openStore sets it when it applies the built-in migrations; ignored otherwise.
   */
  fromTemplate?: boolean;
}

export const MEMORY_DATA_DIR = 'memory://';

/** Where PGlite's own files live inside a data folder (the lock file and others sit beside it). */
export function pgliteDir(dataDir: string): string {
  return join(dataDir, 'pglite');
}

export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  if (options.schema !== undefined) assertIdentifier(options.schema);
  if (options.databaseUrl) return openServer(options.databaseUrl, options);
  if (options.dataDir) return openEmbedded(options.dataDir, options.schema, options.fromTemplate === true);
  throw new GroundworkError('STORE_UNAVAILABLE', 'no database configured: set a data folder or DATABASE_URL', {
    isRetryable: false,
  });
}

/**
 * A new store starts from the migrated template (embedded-template.ts) instead of initdb and
 * every migration: a `memory://` one (the template is built when there is none), and a new
 * data folder when a template is cached (its first start then costs a restart's; a
 * machine's first data folder is made the long way and becomes the template). Not with a
 * schema (a template's tables are in public). The template comes from a folder only this
 * user can write, whose owner and mode are checked before it is read. A data folder's
 * template is unpacked file by file, with no rename at the end, so a marker file stands
 * beside it until the unpacking is done: a start that finds the marker (a process killed
 * mid-way) removes the half-written folder and makes it again.
 */
async function openEmbedded(dataDir: string, schema: string | undefined, fromTemplate: boolean): Promise<Database> {
  const memory = dataDir === MEMORY_DATA_DIR;
  const dir = memory ? MEMORY_DATA_DIR : pgliteDir(dataDir);
  const marker = join(dataDir, TEMPLATE_LOADING);
  if (!memory && existsSync(marker)) {
    // A start killed while unpacking the template: what it left is half a folder.
    await rm(dir, { recursive: true, force: true });
    await unlink(marker);
  }
  let template: Uint8Array | undefined;
  let unpack: string | undefined;
  let fresh = false;
  if (fromTemplate && !schema) {
    // Only a shortcut: when there is no template, the store is made the long way.
    if (memory) template = await migratedTemplate().catch(() => undefined);
    else if (!existsSync(join(dir, 'PG_VERSION'))) {
      unpack = await cachedTemplateFile();
      fresh = unpack === undefined;
    }
  }
  if (unpack) {
    await makePrivateDir(dataDir);
    await writeFile(marker, '', { mode: 0o600 });
  }
  const db = await openEmbeddedWorker({ dataDir, dir, memory, searchPath: schema ? `${quoteIdent(schema)}, public` : undefined, template, unpack });
  if (unpack) await unlink(marker);
  if (fresh) madeTheLongWay.add(db);
  return db;
}

/** New data folders made with initdb (no template was cached): each offers itself as the template once migrated. */
const madeTheLongWay = new WeakSet<Database>();

/**
 * After the built-in migrations: a new data folder made the long way becomes the template of
 * the next ones (embedded-template.ts), so only a machine's first data folder pays for initdb.
 */
export async function offerAsTemplate(db: Database): Promise<void> {
  if (!madeTheLongWay.delete(db)) return;
  await offerTemplate(() => (db as EmbeddedDatabase).dumpDataDir()).catch(() => {});
}

/** Beside `pglite/` while a template is being written into it (see openEmbedded). */
export const TEMPLATE_LOADING = 'pglite.loading';

async function openServer(url: string, options: OpenDatabaseOptions): Promise<Database> {
  const { default: pg } = await import('pg');
  const where = describeUrl(url);
  const pool: Pool = new pg.Pool({
    connectionString: url,
    max: options.maxConnections ?? 10,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    // A startup parameter: applies to every pooled connection at no extra round trip.
    options: options.schema ? `-c search_path=${quoteIdent(options.schema)},public` : undefined,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID ? parseInt8 : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
    },
  });
  // An idle connection that dies (server restart) must not crash the process; the pool drops it.
  pool.on('error', () => {});

  try {
    await pool.query('SELECT 1');
  } catch (error) {
    await pool.end().catch(() => {});
    throw unavailable(where, error);
  }

  const run = async <T>(client: Pool | PoolClient, sql: string, params?: unknown[]): Promise<T[]> => {
    try {
      return (await client.query(sql, storableParams(params))).rows as T[];
    } catch (error) {
      throw isConnectionError(error) ? unavailable(where, error) : error;
    }
  };
  const executor = (client: Pool | PoolClient): SqlTransaction => ({
    query: <T>(sql: string, params?: unknown[]) => run<T>(client, sql, params),
    async exec(sql: string) {
      await run(client, sql);
    },
  });
  const root = executor(pool);

  return {
    kind: 'server',
    query: root.query,
    exec: root.exec,
    async transaction(fn) {
      let client: PoolClient;
      try {
        client = await pool.connect();
      } catch (error) {
        throw unavailable(where, error);
      }
      let broken: Error | undefined;
      try {
        await run(client, 'BEGIN');
        const result = await fn(executor(client));
        await run(client, 'COMMIT');
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        throw error;
      } finally {
        // A connection whose rollback failed is in an unknown state: destroy it.
        client.release(broken);
      }
    },
    async close() {
      await pool.end();
    },
  };
}

const INT8_OID = 20;
const parseInt8 = (value: string): number => Number(value);

/** Connection-level failures (as opposed to a bad statement) mean the store is unavailable. */
function isConnectionError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string') {
    if (code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'EHOSTUNREACH'].includes(code)) return true;
  }
  const message = error instanceof Error ? error.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(message);
}

/** The body says the database is unavailable; where and why (host, port, driver message) only go to the log. */
function unavailable(where: string, error: unknown): GroundworkError {
  return new GroundworkError('STORE_UNAVAILABLE', 'the database is unavailable; retry shortly', {
    cause: error,
    logDetail: `cannot reach PostgreSQL at ${where}: ${describe(error)}`,
  });
}

/** host:port/database as user — never the password (and no query-string secrets). */
export function describeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    const user = parsed.username ? `${decodeURIComponent(parsed.username)}@` : '';
    const database = parsed.pathname.replace(/^\//, '') || '(default database)';
    return `${user}${parsed.hostname || 'localhost'}:${parsed.port || '5432'}/${decodeURIComponent(database)}`;
  } catch {
    return '(unparseable DATABASE_URL)';
  }
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return describe(error.errors[0]);
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/postgres(ql)?:\/\/[^\s'"]*/g, (url) => describeUrl(url)) || 'unknown error';
}

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

function assertIdentifier(name: string): void {
  if (!IDENTIFIER.test(name)) {
    throw new GroundworkError('STORE_UNAVAILABLE', `invalid schema name "${name}": use letters, digits and _`, {
      isRetryable: false,
    });
  }
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}
