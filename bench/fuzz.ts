/**
 * The long fuzz run: `npm run fuzz -- --seconds 300 [--seed N]`. The same generators and
 * oracle as src/api/fuzz.test.ts (which sends a fixed number of requests inside `npm test`),
 * walking new seeds until the time is up. Prints each distinct finding as it is found (shrunk
 * to a small request), the summary, and as its last line the result object also written to
 * bench/results/fuzz.json.
 */
import { parseArgs } from 'node:util';
import { formatFinding, formatReport } from '../src/api/fuzz/format-finding.js';
import { runFuzz } from '../src/api/fuzz/fuzz-session.js';
import { startFuzzTarget, type FuzzTarget } from '../src/api/fuzz/fuzz-target.js';
import { machine, writeResult } from './report.js';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '60' },
    seed: { type: 'string' },
  },
});
const seconds = Number(values.seconds);
if (!Number.isFinite(seconds) || seconds <= 0) throw new Error(`--seconds must be a positive number, got ${values.seconds}`);
const seed = Number(values.seed ?? Date.now() % 2 ** 31);
console.log(`fuzz seed: ${seed} (replay with --seed ${seed}); running for ${seconds} s`);

// An exception nobody catches (in the server or in the fake model servers beside it) is a
// finding of its own; recorded, so one of them does not end the whole run.
const uncaught: string[] = [];
const onUncaught = (error: unknown) => {
  const line = error instanceof Error ? `${error.name}: ${error.message} (${error.stack?.split('\n')[1]?.trim() ?? 'no stack'})` : String(error);
  uncaught.push(line);
  console.log(`\n[uncaught] ${line}`);
};
process.on('uncaughtException', onUncaught);
process.on('unhandledRejection', onUncaught);

const target = await startFuzzTarget();
try {
  const report = await runFuzz(target, {
    seed,
    runs: Number.MAX_SAFE_INTEGER,
    deadline: Date.now() + seconds * 1_000,
    chunk: 500,
    onFinding: (finding) => console.log(`\n${formatFinding(finding)}`),
  });
  console.log(`\n${formatReport(report)}`);
  const unreached = target.routes.map((r) => `${r.method} ${r.path}`).filter((id) => !report.perRoute[id]);
  if (unreached.length > 0) console.log(`routes never reached: ${unreached.join(', ')}`);
  for (const finding of report.findings) console.log(`\n${formatFinding(finding)}`);
  const healthy = await stillHealthy(target);
  console.log(`still healthy afterwards (healthz, readyz, a normal run): ${healthy}`);
  writeResult('fuzz', {
    bench: 'fuzz',
    seed,
    seconds,
    requests: report.requests,
    run_reads: report.runChecks,
    routes: Object.keys(report.perRoute).length,
    failures: report.findings.length + uncaught.length,
    healthy,
    uncaught,
    findings: report.findings.map((f) => ({
      signature: f.signature,
      seen: f.seen,
      example: `${f.request.method} ${f.request.url.slice(0, 200)} → ${f.answer.status}`,
    })),
    statuses: report.statuses,
    machine: machine(),
  });
  process.exitCode = report.findings.length + uncaught.length > 0 || !healthy ? 1 : 0;
} finally {
  await target.close();
}

/** Liveness, readiness and a normal task run (recorded) after the storm. */
async function stillHealthy(target: FuzzTarget): Promise<boolean> {
  const auth = { authorization: `Bearer ${target.keys.runner}` };
  const health = await target.server.inject({ method: 'GET', url: '/healthz' });
  const ready = await target.server.inject({ method: 'GET', url: '/readyz' });
  const run = await target.server.inject({
    method: 'POST',
    url: '/v1/tasks/triage/run',
    headers: auth,
    payload: { input: { subject: 'Refund', body: 'Charged twice' } },
  });
  const recorded =
    run.statusCode === 200 && (await target.server.inject({ method: 'GET', url: `/v1/runs/${run.json().run_id}`, headers: auth })).statusCode === 200;
  return health.statusCode === 200 && ready.statusCode === 200 && recorded;
}
