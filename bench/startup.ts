/**
 * bench:startup — how long the built CLI takes to answer and to serve, and what an idle
 * server holds, measured as a user meets them: child processes of `node dist/src/cli/main.js`.
 *
 *   npm run bench:startup [-- --runs 3 --help-runs 7 --idle-seconds 5 --tree DIR]
 *
 * - `help_ms`: `groundwork --help`, wall time from spawn to exit (median of --help-runs);
 *   `serve_help_ms` the same for `groundwork serve --help`.
 * - `first_start_ms`: `serve` on a new, empty data folder until /healthz answers 200
 *   (`first_ready_ms`: /readyz 200, the store answering); `restart_ms` / `restart_ready_ms`: the
 *   same folder again after a SIGTERM. Medians over --runs folders.
 * - `first_start_cpu_ms` / `restart_cpu_ms`: CPU time the serve process (all threads) used
 *   until healthy: steadier than wall time when other work shares the machine.
 * - `idle_rss_mb_first` / `idle_rss_mb_restart`: VmRSS of the serve process (all its threads:
 *   PGlite's worker included) after --idle-seconds of no requests (Linux /proc; median).
 * - `first_start_log` / `restart_log`: the lines serve printed (request lines aside), with the
 *   time since spawn each arrived (from the last run): which step the start-up time went to.
 *
 * The child gets no GROUNDWORK_* variables nor DATABASE_URL from this shell (the embedded
 * default, log level info) and runs in an empty folder (no groundwork.yaml, no tasks).
 * `--tree DIR` measures another checkout's build (bench:baseline uses it for commits that
 * predate this file); its result goes to DIR/bench/results, stamped with DIR's commit.
 *
 * Last line: {"bench":"startup","help_ms":…,"first_start_ms":…,"restart_ms":…,"idle_rss_mb_first":…,"idle_rss_mb_restart":…}
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { commitOf, machine, writeResult } from './report.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    'help-runs': { type: 'string', default: '7' },
    'idle-seconds': { type: 'string', default: '5' },
    tree: { type: 'string' },
  },
});
const runs = positive('--runs', values.runs);
const helpRuns = positive('--help-runs', values['help-runs']);
const idleMs = positive('--idle-seconds', values['idle-seconds']) * 1000;

// From dist/bench/ (npm run bench:startup) or bench/ (tsx): the tree whose build is measured.
const here = dirname(fileURLToPath(import.meta.url));
const ownTree = here.endsWith(join('dist', 'bench')) ? join(here, '..', '..') : join(here, '..');
const tree = resolve(values.tree ?? ownTree);
const cli = join(tree, 'dist', 'src', 'cli', 'main.js');
if (!existsSync(cli)) throw new Error(`${cli} does not exist: build that tree first (npm run build)`);

const env: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('GROUNDWORK_') && name !== 'DATABASE_URL'));
env.GROUNDWORK_LOG_LEVEL = 'info';
const work = mkdtempSync(join(tmpdir(), 'gw-bench-startup-'));

interface LogLine {
  at_ms: number;
  msg: string;
}
interface Start {
  healthyMs: number;
  readyMs: number;
  /** CPU time of the serve process (all its threads) until healthy: steadier than wall time on a busy machine. */
  cpuMs: number;
  rssMb: number;
  log: LogLine[];
}

try {
  const helpMs: number[] = [];
  const serveHelpMs: number[] = [];
  for (let i = 0; i < helpRuns; i++) {
    helpMs.push(await wallMs(['--help']));
    serveHelpMs.push(await wallMs(['serve', '--help']));
  }
  const firsts: Start[] = [];
  const restarts: Start[] = [];
  for (let i = 0; i < runs; i++) {
    const dataDir = join(work, `data-${i}`);
    firsts.push(await serveOnce(dataDir));
    restarts.push(await serveOnce(dataDir));
    rmSync(dataDir, { recursive: true, force: true });
  }
  const result = {
    bench: 'startup',
    help_ms: round(median(helpMs)),
    serve_help_ms: round(median(serveHelpMs)),
    first_start_ms: round(median(firsts.map((s) => s.healthyMs))),
    first_ready_ms: round(median(firsts.map((s) => s.readyMs))),
    restart_ms: round(median(restarts.map((s) => s.healthyMs))),
    restart_ready_ms: round(median(restarts.map((s) => s.readyMs))),
    first_start_cpu_ms: round(median(firsts.map((s) => s.cpuMs))),
    restart_cpu_ms: round(median(restarts.map((s) => s.cpuMs))),
    idle_rss_mb_first: round(median(firsts.map((s) => s.rssMb))),
    idle_rss_mb_restart: round(median(restarts.map((s) => s.rssMb))),
    first_start_all_ms: firsts.map((s) => round(s.healthyMs)),
    restart_all_ms: restarts.map((s) => round(s.healthyMs)),
    first_start_log: firsts.at(-1)?.log ?? [],
    restart_log: restarts.at(-1)?.log ?? [],
    runs,
    help_runs: helpRuns,
    idle_seconds: idleMs / 1000,
    store: 'embedded (PGlite), new data folder',
    machine: machine(),
  };
  if (values.tree === undefined) writeResult('startup', result);
  else writeTreeResult(result);
} finally {
  rmSync(work, { recursive: true, force: true });
}

/** Spawn to exit of one CLI invocation that must succeed. */
async function wallMs(args: string[]): Promise<number> {
  const started = performance.now();
  const child = spawn(process.execPath, [cli, ...args], { cwd: work, env, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  const code = await exited(child);
  if (code !== 0) throw new Error(`groundwork ${args.join(' ')} exited ${code}: ${stderr}`);
  return performance.now() - started;
}

/** One `serve` on dataDir: spawn → /healthz 200 → /readyz 200 → idle → RSS → SIGTERM → exit. */
async function serveOnce(dataDir: string): Promise<Start> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(process.execPath, [cli, 'serve', '--port', String(port), '--data-dir', dataDir], { cwd: work, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const log: LogLine[] = [];
  let output = '';
  const onLine = (line: string) => {
    output += `${line}\n`;
    const msg = messageOf(line);
    // This bench's own /healthz and /readyz polls are not start-up steps.
    if (line.trim() !== '' && msg !== 'incoming request' && msg !== 'request completed') log.push({ at_ms: Math.round(performance.now() - started), msg });
  };
  for (const stream of [child.stdout!, child.stderr!]) {
    let pending = '';
    stream.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (pending + chunk).split('\n');
      pending = lines.pop() ?? '';
      lines.forEach(onLine);
    });
  }
  const gone = exited(child);
  try {
    const healthyMs = (await until(`http://127.0.0.1:${port}/healthz`, child, () => output)) - started;
    const cpuMs = cpuTimeMs(child.pid!);
    const readyMs = (await until(`http://127.0.0.1:${port}/readyz`, child, () => output)) - started;
    await new Promise((r) => setTimeout(r, idleMs));
    const rssMb = vmRssMb(child.pid!);
    child.kill('SIGTERM');
    const code = await gone;
    if (code !== 0) throw new Error(`serve exited ${code} after SIGTERM:\n${output}`);
    return { healthyMs, readyMs, cpuMs, rssMb, log };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** The time (performance.now) at which url first answered 200; polls every 10 ms, gives up after 120 s. */
async function until(url: string, child: ChildProcess, output: () => string): Promise<number> {
  const deadline = performance.now() + 120_000;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`serve exited ${child.exitCode} before ${url} answered:\n${output()}`);
    const ok = await fetch(url).then(
      async (response) => (await response.arrayBuffer(), response.status === 200),
      () => false,
    );
    if (ok) return performance.now();
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${url} did not answer 200 within 120 s:\n${output()}`);
}

/** utime + stime from /proc/<pid>/stat (fields 14 and 15, in clock ticks of 1/100 s on Linux). */
function cpuTimeMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields from the closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function vmRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]);
  if (!Number.isFinite(kb)) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return kb / 1024;
}

/** pino's JSON lines → their message (with the step's duration when logged); anything else as printed. */
function messageOf(line: string): string {
  try {
    const parsed = JSON.parse(line) as { msg?: unknown };
    if (typeof parsed.msg === 'string') return parsed.msg;
  } catch {
    // Not JSON: printed as is.
  }
  return line;
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** --tree: the result belongs to that checkout (its commit, its bench/results), not to this one. */
function writeTreeResult(result: Record<string, unknown>): void {
  const stamped = { ...result, commit: commitOf(tree) };
  const dir = join(tree, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'startup.json'), `${JSON.stringify(stamped, null, 2)}\n`);
  console.log(JSON.stringify(stamped));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

function positive(flag: string, raw: string): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${flag} must be an integer ≥ 1, got "${raw}"`);
  return n;
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
