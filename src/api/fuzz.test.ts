import { afterAll, beforeAll, expect, it } from 'vitest';
import { formatFinding, formatReport } from './fuzz/format-finding.js';
import { runFuzz } from './fuzz/fuzz-session.js';
import { startFuzzTarget, type FuzzTarget } from './fuzz/fuzz-target.js';

/**
 * Property-based fuzz over every route (issue 9): requests generated from each route's schema
 * in the server's own OpenAPI document, mutated with hostile values (NUL, lone surrogates,
 * deep nesting, huge and negative numbers, long strings, wrong types, prototype keys,
 * percent-encoded paths, odd headers, foreign ids), each answer judged by fuzz/oracle.ts, every
 * run an answer names read back, the server log watched for errors. Seeded (GROUNDWORK_FUZZ_SEED
 * replays another walk) and counted in requests; `npm run fuzz -- --seconds N` walks longer.
 */

const DEFAULT_SEED = 20_250_901;
const seed = Number(process.env.GROUNDWORK_FUZZ_SEED ?? DEFAULT_SEED);
/** Generated requests in `npm test` (GROUNDWORK_FUZZ_RUNS overrides): ~10 s of a ~25 s file on a 2-core machine. */
const RUNS = Number(process.env.GROUNDWORK_FUZZ_RUNS ?? 4_000);

let target: FuzzTarget;

beforeAll(async () => {
  console.log(`fuzz seed: ${seed}`);
  target = await startFuzzTarget();
});

afterAll(async () => {
  await target?.close();
});

it('answers every generated request with no 500, a registered error, no stack trace, a recorded run', async () => {
  const report = await runFuzz(target, { seed, runs: RUNS });
  console.log(formatReport(report));
  for (const finding of report.findings) console.log(formatFinding(finding));
  if (process.env.GROUNDWORK_FUZZ_VERBOSE) console.log(JSON.stringify(report.routeStatuses, null, 1), JSON.stringify(report.samples, null, 1));

  expect(report.requests).toBeGreaterThanOrEqual(RUNS);
  // Every route was reached (a route the generators cannot reach is a hole in the net).
  const unreached = target.routes.map((r) => `${r.method} ${r.path}`).filter((id) => !report.perRoute[id]);
  expect(unreached).toEqual([]);
  expect(report.findings.map((f) => f.signature)).toEqual([]);
}, 180_000);

it('is still healthy afterwards: liveness, readiness, and a normal run recorded as usual', async () => {
  expect((await target.server.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
  expect((await target.server.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
  const auth = { authorization: `Bearer ${target.keys.runner}` };
  const run = await target.server.inject({
    method: 'POST',
    url: '/v1/tasks/triage/run',
    headers: auth,
    payload: { input: { subject: 'Refund', body: 'Charged twice' } },
  });
  expect(run.statusCode, run.body).toBe(200);
  expect((await target.server.inject({ method: 'GET', url: `/v1/runs/${run.json().run_id}`, headers: auth })).statusCode).toBe(200);
  expect(target.drainErrorLogs()).toEqual([]);
});
