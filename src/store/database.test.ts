import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GroundworkError } from '../kernel/errors.js';
import { describeUrl, openDatabase } from './database.js';
import type { Database } from './ports.js';

describe('embedded database (PGlite)', () => {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase({ dataDir: 'memory://', fromTemplate: true });
  });
  afterAll(async () => {
    await db?.close();
  });

  it('returns timestamps as Date and double precision and bigint as numbers', async () => {
    const [row] = await db.query<Record<string, unknown>>(`SELECT now() AS ts, 0.1::float8 + 0.2::float8 AS f, 42::int8 AS n, $1::jsonb AS j`, [
      JSON.stringify({ a: [1, 'x'] }),
    ]);
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

  it("keeps PostgreSQL's error fields across the thread boundary", async () => {
    await db.exec('CREATE TABLE e (v int PRIMARY KEY)');
    await db.query('INSERT INTO e VALUES (1)');
    const error = await db.query('INSERT INTO e VALUES (1)').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).toMatchObject({
      code: '23505',
      detail: 'Key (v)=(1) already exists.',
      constraint: 'e_pkey',
      message: expect.stringMatching(/duplicate key/),
    });
  });

  it('bulk-loads COPY data in one transaction: all rows, or none when one is bad', async () => {
    await db.exec('CREATE TABLE b (k int PRIMARY KEY, note text)');
    const copy = (data: string) => [{ sql: `COPY b (k, note) FROM '/dev/blob'`, data }];
    await db.bulkLoad!('SET LOCAL synchronous_commit = off', copy('1\tone\n2\t\\N\n'));
    await expect(db.bulkLoad!('', [...copy('3\tthree\n'), ...copy('1\tagain\n')])).rejects.toMatchObject({ code: '23505' });
    expect(await db.query('SELECT k, note FROM b ORDER BY k')).toEqual([
      { k: 1, note: 'one' },
      { k: 2, note: null },
    ]);
  });

  it("runs statements off the caller's thread: its timers keep ticking through a long query", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    try {
      await db.query('SELECT count(*) FROM generate_series(1, 3000000)');
    } finally {
      clearInterval(timer);
    }
    const elapsed = performance.now() - started;
    // In-thread, PGlite would hold the event loop for the whole statement: no tick at all.
    expect(elapsed).toBeGreaterThan(100);
    expect(ticks).toBeGreaterThan(elapsed / 5 / 4);
  });
});

describe('embedded database lifecycle', () => {
  it('answers STORE_UNAVAILABLE after close, and lets a process exit that never closed it', async () => {
    const db = await openDatabase({ dataDir: 'memory://', fromTemplate: true });
    await db.close();
    await expect(db.query('SELECT 1')).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });

    // A CLI command that forgets close() must still end: the worker holds the process only while a query waits.
    const script = `import { openDatabase } from ${JSON.stringify(new URL('./database.ts', import.meta.url).href)};
      const db = await openDatabase({ dataDir: 'memory://', fromTemplate: true });
      console.log(JSON.stringify(await db.query('SELECT 41 + 1 AS n')));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect({ status: child.status, stdout: child.stdout.trim() }).toEqual({ status: 0, stdout: '[{"n":42}]' });
  });
});

describe('openDatabase errors', () => {
  it('maps an unreachable server to STORE_UNAVAILABLE: where and why for the log only, never the password', async () => {
    const error = await openDatabase({ databaseUrl: 'postgres://app:s3cr3t-pw@127.0.0.1:1/groundwork' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GroundworkError);
    const gw = error as GroundworkError;
    expect(gw.code).toBe('STORE_UNAVAILABLE');
    expect(gw.isRetryable).toBe(true);
    expect(gw.logDetail).toMatch(/cannot reach PostgreSQL at app@127\.0\.0\.1:1\/groundwork: .*ECONNREFUSED/);
    // What a client would be answered carries no address, port or driver message.
    expect(JSON.stringify(gw.toBody())).not.toMatch(/127\.0\.0\.1|ECONNREFUSED|app@/);
    expect(JSON.stringify({ message: gw.message, details: gw.details, detail: gw.logDetail })).not.toContain('s3cr3t');
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
