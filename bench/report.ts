import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Shared benchmark plumbing: percentiles, machine description, result file + last line. */

export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index];
}

export function machine(): string {
  const cpu = cpus();
  return `${cpu.length} x ${cpu[0]?.model.trim() ?? 'unknown cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}, ${process.platform}-${process.arch}`;
}

/** The commit measured (with "+changes" when the working tree differs from it), or "unknown" outside git. */
export function commitOf(dir: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: dir, encoding: 'utf8' }).trim();
    // Results written by earlier benchmarks of the same session do not count as changes.
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', ':!bench/results'], { cwd: dir, encoding: 'utf8' }).trim() !== '';
    return dirty ? `${head}+changes` : head;
  } catch {
    return 'unknown';
  }
}

/** Writes bench/results/<name>.json (with the commit it measured) and prints the same object as the last line. */
export function writeResult(name: string, result: Record<string, unknown>): void {
  const here = dirname(fileURLToPath(import.meta.url));
  // From dist/bench/ or bench/: results always go to the source tree's bench/results.
  const root = here.includes(`${join('dist', 'bench')}`) ? join(here, '..', '..') : join(here, '..');
  const dir = join(root, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  if (result.commit === undefined) result = { ...result, commit: commitOf(root) };
  const line = JSON.stringify(result);
  writeFileSync(join(dir, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  console.log(line);
}
