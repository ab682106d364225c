import { randomBytes } from 'node:crypto';
import pg from 'pg';

/**
 * For *.int.test.ts: the PostgreSQL server the integration tests use, and a private schema per
 * test file (as pg-boss's test hooks do). Where no server answers, tests skip locally with a
 * hint, and fail under CI: a CI run that silently skipped them would prove nothing.
 */

export const DEFAULT_TEST_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/groundwork_test';

export interface TestServer {
  url: string;
  /** False when the server could not be reached (tests should skip). */
  available: boolean;
  /** Creates a fresh schema and returns its name; dropped by `cleanup`. */
  createSchema(prefix?: string): Promise<string>;
  /** Drops every schema created here (and its job-queue schema). */
  cleanup(): Promise<void>;
}

export async function testServer(env: NodeJS.ProcessEnv = process.env): Promise<TestServer> {
  const url = env.GROUNDWORK_TEST_DATABASE_URL || DEFAULT_TEST_DATABASE_URL;
  const problem = await probe(url);
  if (problem) {
    const message = `PostgreSQL for integration tests is not reachable at ${redact(url)}: ${problem}.`;
    if (inCi(env)) throw new Error(`${message} CI must start it first (bash scripts/pg-start.sh); integration tests never skip in CI.`);
    console.warn(`${message} Skipping integration tests. Start one with: sudo bash scripts/pg-start.sh`);
  }
  const schemas: string[] = [];
  return {
    url,
    available: problem === undefined,
    async createSchema(prefix = 'gw_test') {
      const name = `${prefix}_${randomBytes(5).toString('hex')}`;
      await withClient(url, (client) => client.query(`CREATE SCHEMA ${name}`));
      schemas.push(name);
      return name;
    },
    async cleanup() {
      if (schemas.length === 0) return;
      // The job queue (pg-boss) keeps its tables in `<schema>_boss` beside the store's.
      const names = schemas.splice(0).flatMap((name) => [name, `${name}_boss`]);
      await withClient(url, (client) => client.query(`DROP SCHEMA IF EXISTS ${names.join(', ')} CASCADE`));
    },
  };
}

async function probe(url: string): Promise<string | undefined> {
  try {
    await withClient(url, (client) => client.query('SELECT 1'));
    return undefined;
  } catch (error) {
    return error instanceof Error ? error.message || error.constructor.name : String(error);
  }
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function inCi(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.CI) && env.CI !== 'false' && env.CI !== '0';
}

function redact(url: string): string {
  return url.replace(/\/\/([^:@/]+):([^@/]+)@/, '//$1:***@');
}
