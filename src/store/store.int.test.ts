import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroundworkError } from '../kernel/errors.js';
import { openDatabase } from './database.js';
import { openStore, type Store } from './index.js';
import { MIGRATIONS, migrate } from './migrations.js';
import type { Database } from './ports.js';
import { repositoryContract } from './repository.contract.js';
import { testServer } from './test-server.js';

const server = await testServer();

describe.skipIf(!server.available)('PostgreSQL server store', () => {
  const opened: Database[] = [];
  const open = async (schema: string) => {
    const db = await openDatabase({ databaseUrl: server.url, schema });
    opened.push(db);
    return db;
  };
  afterAll(async () => {
    await Promise.all(opened.map((db) => db.close()));
    await server.cleanup();
  });

  describe('migrations', () => {
    it('apply once, then are a no-op', async () => {
      const db = await open(await server.createSchema());
      expect(await migrate(db)).toEqual({ applied: MIGRATIONS.map((m) => m.id) });
      expect(await migrate(db)).toEqual({ applied: [] });
      const rows = await db.query<{ id: string; applied_at: Date }>('SELECT id, applied_at FROM schema_migrations');
      expect(rows.map((r) => r.id)).toEqual(MIGRATIONS.map((m) => m.id));
      expect(rows[0].applied_at).toBeInstanceOf(Date);
    });

    it('run by replicas starting together are applied exactly once', async () => {
      const schema = await server.createSchema();
      const replicas = await Promise.all([open(schema), open(schema), open(schema)]);
      const results = await Promise.all(replicas.map((db) => migrate(db)));
      expect(results.flatMap((r) => r.applied)).toEqual(MIGRATIONS.map((m) => m.id));
    });

    it('create the tables in the configured schema, on every pooled connection', async () => {
      const schema = await server.createSchema();
      const db = await open(schema);
      await migrate(db);
      const tables = await db.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY table_name`, [
        schema,
      ]);
      expect(tables.map((t) => t.table_name)).toEqual(expect.arrayContaining(['run_attempts', 'runs', 'schema_migrations', 'task_versions', 'tasks']));
      expect(await db.query('SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = $$runs$$', ['public'])).toEqual([]);
      const seen = await Promise.all(Array.from({ length: 12 }, () => db.query<{ s: string }>('SELECT current_schema() AS s, pg_sleep(0.02)')));
      expect(new Set(seen.map((rows) => rows[0].s))).toEqual(new Set([schema]));
    });

    it('refuse to run when an applied migration was edited', async () => {
      const db = await open(await server.createSchema());
      await migrate(db);
      const edited = [{ id: '0001_init', sql: `${MIGRATIONS[0].sql}\nCREATE INDEX runs_by_model ON runs (tenant_id, model);` }];
      const error = await migrate(db, { migrations: edited }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(GroundworkError);
      expect((error as GroundworkError).message).toMatch(/migration 0001_init was changed after it was applied/);
    });

    it('map a missing server extension to STORE_EXTENSION_MISSING (real server error, another extension name)', async () => {
      const db = await open(await server.createSchema());
      const error = await migrate(db, {
        migrations: [{ id: '0001_needs_ext', sql: 'CREATE EXTENSION IF NOT EXISTS groundwork_absent_ext;' }],
      }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: 'STORE_EXTENSION_MISSING', details: { extension: 'groundwork_absent_ext' } });
      expect(await db.query(`SELECT to_regclass('schema_migrations') AS t`)).toEqual([{ t: null }]);
    });
  });

  describe('driver', () => {
    it('returns timestamps as Date and double precision and bigint as numbers, like PGlite', async () => {
      const db = await open(await server.createSchema());
      const [row] = await db.query<Record<string, unknown>>(`SELECT now() AS ts, 0.1::float8 + 0.2::float8 AS f, 42::int8 AS n, $1::jsonb AS j`, [
        JSON.stringify({ a: [1, 'x'] }),
      ]);
      expect(row).toEqual({ ts: expect.any(Date), f: 0.1 + 0.2, n: 42, j: { a: [1, 'x'] } });
    });

    it('rolls a failed transaction back and keeps the connection usable', async () => {
      const db = await open(await server.createSchema());
      await db.exec('CREATE TABLE t (v int PRIMARY KEY)');
      await expect(
        db.transaction(async (tx) => {
          await tx.query('INSERT INTO t VALUES (1)');
          await tx.query('INSERT INTO t VALUES (1)');
        }),
      ).rejects.toThrow(/duplicate key/);
      await db.transaction((tx) => tx.query('INSERT INTO t VALUES (2)'));
      expect(await db.query('SELECT v FROM t')).toEqual([{ v: 2 }]);
    });
  });

  describe('openStore', () => {
    let store: Store;
    let dataDir: string;
    beforeAll(async () => {
      dataDir = mkdtempSync(join(tmpdir(), 'gw-int-'));
      store = await openStore({ dataDir, databaseUrl: server.url, schema: await server.createSchema(), lock: { role: 'serve' } });
    });
    afterAll(async () => {
      await store?.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('uses the server and takes no data-folder lock', () => {
      expect(store.db.kind).toBe('server');
      expect(existsSync(join(dataDir, 'groundwork.lock'))).toBe(false);
    });

    repositoryContract('PostgreSQL', () => store);
  });
});
