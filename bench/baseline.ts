/**
 * bench:baseline — runs benchmarks on another commit and on this tree in one invocation,
 * alternating (base, head, base, head …) so both see the same machine, and prints each
 * numeric result of both with their ratio: a regression shows as a ratio, not a memory.
 *
 *   npm run bench:baseline -- <ref> <bench>… [--rounds 2] [--link] [-- <arguments for every bench>]
 *   e.g. npm run bench:baseline -- 8e310ec overhead gateway -- --runs 1000
 *
 * The base is a temporary `git worktree` at <ref> (removed at the end), with this tree's
 * node_modules linked when its package-lock.json is the same or with --link (else `npm ci` there), built with
 * its own `npm run build` (this tree is built by the npm script); each side runs its own dist/bench/<bench>.js, whose results go to
 * its own bench/results. A bench that measures a tree from outside (startup: the built CLI as
 * child processes) and is missing at <ref> runs from here with `--tree <worktree>`.
 * "head" is this working tree, built first (uncommitted changes included: its commit stamp says
 * "+changes").
 *
 * Last line: {"bench":"baseline","ref":…,"base_commit":…,"head_commit":…,"results":{"<bench>":{"<field>":{"base":…,"head":…,"ratio":…}}}}
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { commitOf, machine, writeResult } from './report.js';

/** Benchmarks that can measure another checkout's build from here (`--tree DIR`). */
const TREE_BENCHES = new Set(['startup']);

const separator = process.argv.indexOf('--', 2);
const own = separator === -1 ? process.argv.slice(2) : process.argv.slice(2, separator);
const benchArgs = separator === -1 ? [] : process.argv.slice(separator + 1);
const { values, positionals } = parseArgs({
  args: own,
  allowPositionals: true,
  options: { rounds: { type: 'string', default: '2' }, link: { type: 'boolean', default: false } },
});
const [ref, ...benches] = positionals;
const rounds = Number(values.rounds);
if (!ref || benches.length === 0 || !Number.isInteger(rounds) || rounds < 1) {
  console.error('usage: npm run bench:baseline -- <ref> <bench>… [--rounds N] [--link] [-- <bench arguments>]');
  process.exit(2);
}

const here = dirname(fileURLToPath(import.meta.url));
const head = here.endsWith(join('dist', 'bench')) ? join(here, '..', '..') : join(here, '..');
for (const name of benches) {
  if (!existsSync(join(head, 'bench', `${name}.ts`))) throw new Error(`no benchmark "${name}" here (bench/${name}.ts)`);
}
const commit = git(head, ['rev-parse', '--verify', `${ref}^{commit}`]);
const work = mkdtempSync(join(tmpdir(), 'gw-baseline-'));
const base = join(work, 'tree');

type Result = Record<string, unknown>;
const results = new Map<string, { base: Result[]; head: Result[] }>();
let removed = false;
const removeWorktree = () => {
  if (removed) return;
  removed = true;
  spawnSync('git', ['worktree', 'remove', '--force', base], { cwd: head, stdio: 'ignore' });
  rmSync(work, { recursive: true, force: true });
  spawnSync('git', ['worktree', 'prune'], { cwd: head, stdio: 'ignore' });
};
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    removeWorktree();
    process.exit(130);
  });
}

try {
  git(head, ['worktree', 'add', '--detach', base, commit]);
  installDependencies();
  // This tree was built by the npm script, as every bench:* script builds before it runs.
  console.error(`building ${ref} (${commit.slice(0, 10)}) in ${base}…`);
  await run('npm', ['run', 'build'], base);
  for (const name of benches) {
    const own = existsSync(join(base, 'bench', `${name}.ts`));
    if (!own && !TREE_BENCHES.has(name)) throw new Error(`bench/${name}.ts does not exist at ${ref}, and it cannot measure another tree`);
    const entry = results.set(name, { base: [], head: [] }).get(name)!;
    for (let round = 1; round <= rounds; round++) {
      console.error(`\n${name}: round ${round} of ${rounds}, base ${ref}`);
      entry.base.push(own ? await bench(base, name, benchArgs) : await bench(head, name, [...benchArgs, '--tree', base]));
      console.error(`\n${name}: round ${round} of ${rounds}, head (this tree)`);
      entry.head.push(await bench(head, name, benchArgs));
    }
  }
} finally {
  removeWorktree();
}

const summary: Record<string, Record<string, { base: number; head: number; ratio: number }>> = {};
for (const [name, { base: baseRuns, head: headRuns }] of results) {
  summary[name] = {};
  console.log(
    `\n${name}: ${ref} (${String(baseRuns[0]?.commit)}) vs this tree (${String(headRuns[0]?.commit)}), mean of ${rounds} round(s) each, ratio = head / base`,
  );
  console.log(`${'field'.padEnd(28)} ${'base'.padStart(12)} ${'head'.padStart(12)} ${'ratio'.padStart(8)}   rounds (base | head)`);
  for (const field of Object.keys(headRuns[0] ?? {})) {
    const b = numbers(baseRuns, field);
    const h = numbers(headRuns, field);
    if (b.length === 0 || h.length === 0) continue;
    const row = { base: mean(b), head: mean(h), ratio: mean(b) === 0 ? Number.NaN : mean(h) / mean(b) };
    summary[name][field] = { base: round(row.base), head: round(row.head), ratio: round(row.ratio) };
    console.log(
      `${field.padEnd(28)} ${fmt(row.base).padStart(12)} ${fmt(row.head).padStart(12)} ${row.ratio.toFixed(2).padStart(8)}   ${b.map(fmt).join(', ')} | ${h.map(fmt).join(', ')}`,
    );
  }
}
writeResult('baseline', {
  bench: 'baseline',
  ref,
  base_commit: commit.slice(0, 7),
  head_commit: commitOf(head),
  benches,
  rounds,
  bench_args: benchArgs,
  results: summary,
  machine: machine(),
});

/** node_modules for the worktree: this tree's when the lock file is the same, else a clean install. */
function installDependencies(): void {
  const lock = (dir: string, rev?: string) =>
    rev ? spawnSync('git', ['show', `${rev}:package-lock.json`], { cwd: dir, encoding: 'utf8' }).stdout : readFileSync(join(dir, 'package-lock.json'), 'utf8');
  // --link: the lock files differ in ways that do not matter to the benchmark (a new dev tool).
  if (values.link || lock(head, commit) === lock(head)) {
    symlinkSync(join(head, 'node_modules'), join(base, 'node_modules'), 'dir');
    return;
  }
  console.error(`package-lock.json differs at ${ref}: npm ci in the worktree…`);
  const installed = spawnSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: base, stdio: ['ignore', 2, 2] });
  if (installed.status !== 0) throw new Error(`npm ci failed at ${ref}`);
}

/** Runs one benchmark in `tree` (its own build); its progress goes to stderr, its last stdout line is the result. */
async function bench(tree: string, name: string, args: string[]): Promise<Result> {
  const stdout = await run(process.execPath, [join('dist', 'bench', `${name}.js`), ...args], tree);
  const last = stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as Result;
  } catch {
    throw new Error(`${name} in ${tree} did not end with a JSON line: ${last.slice(0, 200)}`);
  }
}

function run(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      process.stderr.write(chunk);
    });
    child.once('error', reject);
    child.once('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${command} ${args.join(' ')} in ${cwd} exited ${code}`))));
  });
}

function git(cwd: string, args: string[]): string {
  const result = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`git ${args.join(' ')}: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

function numbers(runs: Result[], field: string): number[] {
  return runs.map((r) => r[field]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
}

function mean(values: number[]): number {
  return values.reduce((sum, v) => sum + v, 0) / values.length;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function fmt(n: number): string {
  return Math.abs(n) >= 100 ? n.toFixed(0) : Math.abs(n) >= 1 ? n.toFixed(2) : n.toFixed(3);
}
