import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GroundworkError } from '../kernel/errors.js';
import { openDatabase } from './database.js';
import { MIGRATIONS, checksum, mapMigrationError, migrate } from './migrations.js';
import type { Database } from './ports.js';

// One PGlite instance (opening one costs seconds); each test works in its own schema.
let db: Database;
let n = 0;
beforeAll(async () => {
  db = await openDatabase({ dataDir: 'memory://' });
});
afterAll(async () => {
  await db?.close();
});
beforeEach(async () => {
  const schema = `m${++n}`;
  await db.exec(`CREATE SCHEMA ${schema}; SET search_path TO ${schema}, public`);
});

describe('migrate on PGlite', () => {
  it('applies every migration once, then nothing', async () => {
    expect(await migrate(db)).toEqual({ applied: MIGRATIONS.map((m) => m.id) });
    expect(await migrate(db)).toEqual({ applied: [] });
    const rows = await db.query<{ id: string; checksum: string; applied_at: Date }>('SELECT * FROM schema_migrations');
    expect(rows).toEqual(MIGRATIONS.map((m) => ({ id: m.id, checksum: checksum(m.sql), applied_at: expect.any(Date) })));
    const [ext] = await db.query<{ extversion: string }>(`SELECT extversion FROM pg_extension WHERE extname = 'vector'`);
    expect(ext.extversion).toMatch(/^0\.\d+\.\d+$/);
  });

  it('applies only the migrations that are new', async () => {
    const first = { id: '0001_a', sql: 'CREATE TABLE a (x int);' };
    const second = { id: '0002_b', sql: 'CREATE TABLE b (x int); INSERT INTO b VALUES (1);' };
    expect(await migrate(db, { migrations: [first] })).toEqual({ applied: ['0001_a'] });
    expect(await migrate(db, { migrations: [first, second] })).toEqual({ applied: ['0002_b'] });
    expect(await db.query('SELECT x FROM b')).toEqual([{ x: 1 }]);
  });

  it('refuses to run when an applied migration was edited, naming it', async () => {
    await migrate(db, { migrations: [{ id: '0001_a', sql: 'CREATE TABLE a (x int);' }] });
    const error = await migrate(db, { migrations: [{ id: '0001_a', sql: 'CREATE TABLE a (x bigint);' }] }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GroundworkError);
    expect(error).toMatchObject({ code: 'STORE_MIGRATION_CHANGED', details: { migration: '0001_a' } });
    expect((error as Error).message).toMatch(/0001_a was changed after it was applied.*add a new migration/);
  });

  it('is all or nothing: a failing migration leaves no trace of the batch', async () => {
    const error = await migrate(db, {
      migrations: [
        { id: '0001_ok', sql: 'CREATE TABLE ok (x int);' },
        { id: '0002_bad', sql: 'CREATE TABLE bad (x nosuchtype);' },
      ],
    }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/nosuchtype/);
    expect(await db.query(`SELECT to_regclass('ok') AS ok, to_regclass('schema_migrations') AS m`)).toEqual([{ ok: null, m: null }]);
  });

  it('turns a missing extension into STORE_EXTENSION_MISSING (real PGlite error)', async () => {
    const error = await migrate(db, { migrations: [{ id: '0001_x', sql: 'CREATE EXTENSION IF NOT EXISTS groundwork_absent_ext;' }] }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_EXTENSION_MISSING', details: { extension: 'groundwork_absent_ext', migration: '0001_x' } });
  });

  it('rejects a migration list that is not in id order', async () => {
    const list = [
      { id: '0002_b', sql: 'SELECT 1' },
      { id: '0001_a', sql: 'SELECT 1' },
    ];
    await expect(migrate(db, { migrations: list })).rejects.toThrow(/out of order/);
  });
});

describe('mapMigrationError', () => {
  // The exact shapes PostgreSQL sends when pgvector is not installed on the server.
  const pg15 = Object.assign(new Error('extension "vector" is not available'), { code: '0A000' });
  const pg13 = Object.assign(
    new Error('could not open extension control file "/usr/share/postgresql/13/extension/vector.control": No such file or directory'),
    { code: '58P01' },
  );

  it.each([
    ['PostgreSQL 15+ (0A000)', pg15],
    ['PostgreSQL 13-14 (58P01)', pg13],
  ])('tells the operator how to install pgvector: %s', (_, raw) => {
    const mapped = mapMigrationError(raw, '0001_init') as GroundworkError;
    expect(mapped).toBeInstanceOf(GroundworkError);
    expect(mapped.code).toBe('STORE_EXTENSION_MISSING');
    expect(mapped.isRetryable).toBe(false);
    expect(mapped.details).toEqual({ extension: 'vector', migration: '0001_init' });
    expect(mapped.message).toMatch(/pgvector/);
    expect(mapped.message).toMatch(/apt-get install postgresql-<major>-pgvector/);
    expect(mapped.message).toMatch(/make && make install/);
    expect(mapped.cause).toBe(raw);
  });

  it('passes other errors through untouched', () => {
    const other = Object.assign(new Error('syntax error at or near "CREAT"'), { code: '42601' });
    expect(mapMigrationError(other, '0001_init')).toBe(other);
    expect(mapMigrationError('boom', '0001_init')).toBe('boom');
  });
});
