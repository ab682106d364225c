import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroundworkError } from '../kernel/errors.js';
import { describeUrl, openDatabase } from './database.js';
import type { Database } from './ports.js';

describe('embedded database (PGlite)', () => {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase({ dataDir: 'memory://' });
  });
  afterAll(async () => {
    await db?.close();
  });

  it('returns timestamps as Date and double precision and bigint as numbers', async () => {
    const [row] = await db.query<Record<string, unknown>>(
      `SELECT now() AS ts, 0.1::float8 + 0.2::float8 AS f, 42::int8 AS n, $1::jsonb AS j`,
      [JSON.stringify({ a: [1, 'x'] })],
    );
    expect(row).toEqual({ ts: expect.any(Date), f: 0.1 + 0.2, n: 42, j: { a: [1, 'x'] } });
  });

  it('has pgvector loaded', async () => {
    await db.exec('CREATE EXTENSION IF NOT EXISTS vector');
    const [row] = await db.query<{ d: number }>(`SELECT '[1,2]'::vector <-> '[1,3]'::vector AS d`);
    expect(row.d).toBe(1);
  });

  it('commits a transaction, and rolls back one that throws', async () => {
    await db.exec('CREATE TABLE t (v int PRIMARY KEY)');
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO t VALUES ($1)', [1]);
      await tx.exec('INSERT INTO t VALUES (2); INSERT INTO t VALUES (3);');
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.query('INSERT INTO t VALUES (4)');
        await tx.query('INSERT INTO t VALUES (1)');
      }),
    ).rejects.toThrow(/duplicate key/);
    expect(await db.query('SELECT v FROM t ORDER BY v')).toEqual([{ v: 1 }, { v: 2 }, { v: 3 }]);
  });
});

describe('openDatabase errors', () => {
  it('maps an unreachable server to STORE_UNAVAILABLE without the password', async () => {
    const error = await openDatabase({ databaseUrl: 'postgres://app:s3cr3t-pw@127.0.0.1:1/groundwork' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GroundworkError);
    const gw = error as GroundworkError;
    expect(gw.code).toBe('STORE_UNAVAILABLE');
    expect(gw.isRetryable).toBe(true);
    expect(gw.message).toMatch(/cannot reach PostgreSQL at app@127\.0\.0\.1:1\/groundwork: .*ECONNREFUSED/);
    expect(JSON.stringify({ message: gw.message, details: gw.details })).not.toContain('s3cr3t');
  });

  it('refuses a schema name that is not a plain identifier', async () => {
    await expect(openDatabase({ dataDir: 'memory://', schema: 'x; DROP TABLE runs' })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('needs a data folder or a URL', async () => {
    await expect(openDatabase({})).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
  });

  it('describes a URL without its password', () => {
    expect(describeUrl('postgresql://u%40x:p%3Aw@db.internal:6543/app?sslmode=require&password=zz')).toBe('u@x@db.internal:6543/app');
    expect(describeUrl('postgres://db')).toBe('db:5432/(default database)');
  });
});
