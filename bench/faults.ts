/**
 * bench:faults — the fault drill as a benchmark: counts and latency percentiles.
 *   npm run bench:faults [-- --runs 1000 --concurrency 25]
 * Last line: {"bench":"faults",…}
 */
import { parseArgs } from 'node:util';
import { DEFAULT_DRILL, runFaultDrill } from './fault-drill.js';
import { machine, writeResult } from './report.js';

const { values } = parseArgs({ options: { runs: { type: 'string' }, concurrency: { type: 'string' } } });
const { report } = await runFaultDrill({
  ...DEFAULT_DRILL,
  runs: values.runs ? Number(values.runs) : DEFAULT_DRILL.runs,
  concurrency: values.concurrency ? Number(values.concurrency) : DEFAULT_DRILL.concurrency,
});
writeResult('faults', { bench: 'faults', ...report, faults: DEFAULT_DRILL.faults, deadline_ms: DEFAULT_DRILL.deadlineMs, machine: machine() });
