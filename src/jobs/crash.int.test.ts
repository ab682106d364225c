import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { loadConfig } from '../config/config.js';
import { testServer } from '../store/test-server.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { mulberry32 } from '../testing/mock-llm-faults.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { QUEUES } from './queue.js';

/**
 * The crash test: task-run jobs on PostgreSQL, worked by two `groundwork worker` processes
 * while one of them is killed with SIGKILL at seeded random moments (and restarted each time),
 * 25 jobs queued per kill. Afterwards every job succeeded exactly once: one run per job, the
 * job's result is that run, nothing lost, nothing stuck. A dedicated database, so the workers
 * get a plain DATABASE_URL.
 *
 * `npm test` kills 5 times (125 jobs); `npm run test:crash` is the full test, 20 kills and 500
 * jobs (GROUNDWORK_CRASH_KILLS). The seed is fixed and printed; GROUNDWORK_CRASH_SEED replays
 * another one. Each kill restarts a worker process, which is most of the test's time.
 */

const KILLS = Number(process.env.GROUNDWORK_CRASH_KILLS ?? 5);
if (!Number.isInteger(KILLS) || KILLS < 1) throw new Error(`GROUNDWORK_CRASH_KILLS must be a whole number ≥ 1, not ${process.env.GROUNDWORK_CRASH_KILLS}`);
const JOBS = KILLS * 25;
const CONCURRENCY = 4;
const TENANT = 'crash';
// Seed 42's kills (with 5) come 901, 672, 1278, 1004 and 262 ms after their jobs are queued: all mid-work.
const SEED = Number(process.env.GROUNDWORK_CRASH_SEED ?? 42);

const server = await testServer();
const root = fileURLToPath(new URL('../..', import.meta.url));
const main = join(root, 'src', 'cli', 'main.ts');
const tsx = import.meta.resolve('tsx');

interface Worker {
  child: ChildProcess;
  started: Promise<void>;
  exited: Promise<number | null>;
  output: string[];
}

describe.skipIf(!server.available)('crash test: workers killed with SIGKILL lose and repeat nothing', () => {
  const database = `gw_crash_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server.url });
  const url = new URL(server.url);
  url.pathname = `/${database}`;
  const seed = SEED;
  const random = mulberry32(seed);
  let mock: MockLlm;
  let app: App;
  let dir: string;
  const workers: Worker[] = [];

  function spawnWorker(name: string): Worker {
    const child = spawn(process.execPath, ['--import', tsx, main, 'worker', '--concurrency', String(CONCURRENCY)], {
      cwd: dir,
      env: { ...process.env, DATABASE_URL: url.toString(), GROUNDWORK_LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const output: string[] = [];
    let announce: () => void = () => undefined;
    const started = new Promise<void>((resolve) => (announce = resolve));
    const keep = (stream: 'out' | 'err') => (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n').filter(Boolean)) {
        output.push(`${name} ${stream}: ${line}`);
        if (line.includes('"msg":"worker started"')) announce();
      }
      if (output.length > 400) output.splice(0, output.length - 400);
    };
    child.stdout!.on('data', keep('out'));
    child.stderr!.on('data', keep('err'));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const worker = { child, started, exited, output };
    workers.push(worker);
    return worker;
  }

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const verbose = process.env.GROUNDWORK_CRASH_VERBOSE === '1';
  const trace = (message: string) => verbose && console.info(`[crash] ${message}`);

  beforeAll(async () => {
    await admin.connect();
    await admin.query(`CREATE DATABASE ${database}`);
    // Latency makes jobs overlap the kills: each worker holds several calls in flight.
    mock = await startMockLlm({ seed: 9, latency: { minMs: 200, maxMs: 600 } });
    dir = mkdtempSync(join(tmpdir(), 'gw-crash-'));
    writeFileSync(
      join(dir, 'groundwork.yaml'),
      stringify({
        providers: { mock: { type: 'openai-compatible', base_url: mock.url } },
        models: { 'mock-model': { provider: 'mock' } },
        routes: { default: ['mock-model'] },
        // A killed worker's tries are delivered again 8 s + 1 s after they started (maintenance
        // every second). The timeout is far above the mock's latency: no try of a live worker
        // times out, even on a loaded machine, so every extra try is a kill's doing.
        jobs: { timeout_ms: 8_000, expiry_grace_ms: 1_000, maintenance_interval_ms: 1_000, poll_interval_ms: 100, max_attempts: 10, retry_delay_ms: 0 },
      }),
    );
    const config = loadConfig({ env: {}, cwd: dir, overrides: { databaseUrl: url.toString(), logLevel: 'silent' } });
    app = await createApp(config, { lock: false, logger: { error: () => undefined } });
    await app.auth.createTenant({ id: TENANT });
    await app.tasks.pushRaw(TENANT, triageDefinition());
  });

  afterAll(async () => {
    for (const worker of workers) if (worker.child.exitCode === null && worker.child.signalCode === null) worker.child.kill('SIGKILL');
    await Promise.all(workers.map((w) => w.exited));
    await app?.close();
    await mock?.close();
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`).catch(() => undefined);
    await admin.end();
  });

  it(`${JOBS} jobs, two workers, one killed ${KILLS} times (seed ${SEED}): every job succeeds exactly once`, { timeout: 300_000 }, async () => {
    console.info(`crash test: seed ${seed} (GROUNDWORK_CRASH_SEED=${seed} replays it), ${KILLS} kills, ${JOBS} jobs`);
    const started = Date.now();
    const ids: string[] = [];
    const enqueue = async (count: number) => {
      const wave = await Promise.all(
        Array.from({ length: count }, () =>
          app.jobs.enqueueTaskRun(TENANT, { task: 'triage', input: { subject: `ticket ${ids.length}`, body: 'Charged twice' } }),
        ),
      );
      ids.push(...wave.map((job) => job.id));
    };

    const steady = spawnWorker('B');
    await steady.started;
    let victim = spawnWorker('A');
    const kills: number[] = [];
    for (let kill = 0; kill < KILLS; kill++) {
      // Each round queues its share of the jobs once the victim is up, so both workers hold
      // tries in flight, then kills the victim at a random moment: right away or mid-work.
      await Promise.race([victim.started, victim.exited]);
      await enqueue(JOBS / KILLS);
      await sleep(Math.floor(random() * 1_500));
      victim.child.kill('SIGKILL');
      await victim.exited;
      kills.push(Date.now() - started);
      trace(`kill ${kill + 1} at ${Date.now() - started} ms`);
      victim = spawnWorker('A');
    }
    await Promise.race([victim.started, victim.exited]);

    const db = app.store.db;
    const deadline = Date.now() + 60_000;
    let open = JOBS;
    while (open > 0) {
      if (Date.now() > deadline) break;
      await sleep(500);
      open = (
        await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE tenant_id = $1 AND status NOT IN ('succeeded', 'failed', 'cancelled')`, [
          TENANT,
        ])
      )[0].n;
      trace(`${open} open at ${Date.now() - started} ms`);
    }
    const context = `seed ${seed}, kills at ${kills.join(', ')} ms; last worker output:\n${[...steady.output.slice(-20), ...victim.output.slice(-20)].join('\n')}`;
    expect(open, `jobs never finished (stuck). ${context}`).toBe(0);

    // Every job succeeded, none is missing.
    const statuses = await db.query<{ status: string; n: number }>(`SELECT status, count(*)::int AS n FROM jobs WHERE tenant_id = $1 GROUP BY status`, [
      TENANT,
    ]);
    expect(statuses, context).toEqual([{ status: 'succeeded', n: JOBS }]);
    const rows = await db.query<{ id: string; run_id: string; result_run: string; runs: number; ok_runs: number; run_ok: boolean }>(
      `SELECT j.id, j.run_id, j.result->>'runId' AS result_run,
              (SELECT count(*)::int FROM runs r WHERE r.tenant_id = j.tenant_id AND r.id LIKE 'run_' || substr(j.id, 5) || '\\_%') AS runs,
              (SELECT count(*)::int FROM runs r WHERE r.tenant_id = j.tenant_id AND r.id LIKE 'run_' || substr(j.id, 5) || '\\_%' AND r.status = 'ok') AS ok_runs,
              EXISTS (SELECT 1 FROM runs r WHERE r.tenant_id = j.tenant_id AND r.id = j.run_id AND r.status = 'ok') AS run_ok
         FROM jobs j WHERE j.tenant_id = $1`,
      [TENANT],
    );
    expect(rows.map((r) => r.id).sort()).toEqual([...ids].sort());
    // Exactly once: one run per job (a killed try that had recorded its run was finished with it,
    // not run again), and the job's result is that run.
    expect(
      rows.filter((r) => r.runs !== 1 || r.ok_runs !== 1),
      context,
    ).toEqual([]);
    expect(
      rows.filter((r) => !r.run_ok || r.result_run !== r.run_id),
      context,
    ).toEqual([]);
    expect(new Set(rows.map((r) => r.run_id)).size).toBe(JOBS);
    // The kills really hit work in flight: some jobs needed another try.
    const retried = (await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM jobs WHERE tenant_id = $1 AND attempts > 1`, [TENANT]))[0].n;
    expect(retried, context).toBeGreaterThan(0);
    // Model calls: one per job, plus at most the calls in flight on each kill.
    expect(mock.stats().total).toBeGreaterThanOrEqual(JOBS);
    expect(mock.stats().total).toBeLessThanOrEqual(JOBS + KILLS * CONCURRENCY);
    // Nothing left in the queue.
    const pending = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM groundwork_boss.job WHERE name = $1 AND state < 'completed'`, [QUEUES.jobs]);
    expect(pending[0].n).toBe(0);

    // Graceful stop: SIGTERM ends both workers cleanly.
    for (const worker of [steady, victim]) worker.child.kill('SIGTERM');
    expect(await Promise.all([steady.exited, victim.exited])).toEqual([0, 0]);
    console.info(
      `crash test: ${JOBS} jobs, ${KILLS} kills, ${retried} jobs retried, ${mock.stats().total} model calls, ${Date.now() - started} ms (seed ${seed})`,
    );
  });
});
