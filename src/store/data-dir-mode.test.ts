import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { tightenDataDir } from './data-dir-mode.js';
import { openStore, type Store } from './index.js';

/**
 * The embedded data folder is its owner's alone. The umask is pinned to the common 022, so
 * what these tests see is what the store does, not what the machine's umask happens to do.
 */

let previousUmask: number;
beforeAll(() => {
  previousUmask = process.umask(0o022);
});
afterAll(() => {
  process.umask(previousUmask);
});

let root: string;
const open: Store[] = [];
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'gw-mode-'));
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  rmSync(root, { recursive: true, force: true });
});

const mode = (path: string) => lstatSync(path).mode & 0o777;

/** Every entry under `dir` (itself included) that group or others may use, with its mode. */
function openToOthers(dir: string): string[] {
  const found: string[] = [];
  const walk = (path: string) => {
    const info = lstatSync(path);
    if (info.isSymbolicLink()) return;
    if (info.mode & 0o077) found.push(`${(info.mode & 0o777).toString(8)} ${path}`);
    if (info.isDirectory()) for (const entry of readdirSync(path)) walk(join(path, entry));
  };
  walk(dir);
  return found;
}

// A cold PGlite open (WASM compile, initdb) takes 10-20 s on a loaded 2-core CI machine.
describe('the embedded data folder', { timeout: 90_000 }, () => {
  it("is created 0700 with 0600 files (PGlite's, the lock file), none open to other users", async () => {
    const dataDir = join(root, 'new', 'data');
    const store = await openStore({ dataDir, lock: { role: 'serve' } });
    open.push(store);
    expect(mode(dataDir)).toBe(0o700);
    expect(mode(join(root, 'new'))).toBe(0o700);
    expect(mode(join(dataDir, 'groundwork.lock'))).toBe(0o600);
    expect(mode(join(dataDir, 'pglite', 'PG_VERSION'))).toBe(0o600);
    expect(openToOthers(dataDir)).toEqual([]);
    expect(store.tightened).toBe(0);
  });

  it('is tightened when opened: folders 0700, files 0600, and the count reported', async () => {
    const dataDir = join(root, 'data');
    const first = await openStore({ dataDir, lock: { role: 'cli' } });
    await first.close();
    // As an older version (or a copy with `cp -r` under umask 000) left it.
    chmodSync(dataDir, 0o755);
    chmodSync(join(dataDir, 'pglite'), 0o777);
    chmodSync(join(dataDir, 'pglite', 'PG_VERSION'), 0o666);
    writeFileSync(join(dataDir, 'admin-key'), 'gwk_x\n', { mode: 0o644 });
    chmodSync(join(dataDir, 'admin-key'), 0o644);

    const store = await openStore({ dataDir, lock: { role: 'cli' } });
    open.push(store);
    expect(store.tightened).toBe(4);
    expect(openToOthers(dataDir)).toEqual([]);
    expect([mode(dataDir), mode(join(dataDir, 'pglite')), mode(join(dataDir, 'pglite', 'PG_VERSION')), mode(join(dataDir, 'admin-key'))]).toEqual([
      0o700, 0o700, 0o600, 0o600,
    ]);
  });
});

describe('tightenDataDir', () => {
  it('strips group and other bits everywhere, keeps owner bits, and counts what changed', async () => {
    const dir = join(root, 'data');
    mkdirSync(join(dir, 'sub', 'deeper'), { recursive: true });
    writeFileSync(join(dir, 'a'), '');
    writeFileSync(join(dir, 'sub', 'deeper', 'b'), '');
    writeFileSync(join(dir, 'sub', 'private'), '');
    writeFileSync(join(dir, 'sub', 'read-only'), '');
    chmodSync(dir, 0o755);
    chmodSync(join(dir, 'sub'), 0o775);
    chmodSync(join(dir, 'sub', 'deeper'), 0o700);
    chmodSync(join(dir, 'a'), 0o666);
    chmodSync(join(dir, 'sub', 'deeper', 'b'), 0o640);
    chmodSync(join(dir, 'sub', 'private'), 0o600);
    chmodSync(join(dir, 'sub', 'read-only'), 0o444);

    expect(await tightenDataDir(dir)).toBe(5);
    expect(openToOthers(dir)).toEqual([]);
    expect(mode(join(dir, 'sub', 'read-only'))).toBe(0o400); // never widened
    expect(await tightenDataDir(dir)).toBe(0);
    expect(await tightenDataDir(join(root, 'missing'))).toBe(0);
  });

  it('never follows a symbolic link out of the folder', async () => {
    const dir = join(root, 'data');
    const outside = join(root, 'outside');
    mkdirSync(dir);
    mkdirSync(outside);
    writeFileSync(join(outside, 'shared.txt'), '');
    chmodSync(outside, 0o755);
    chmodSync(join(outside, 'shared.txt'), 0o644);
    symlinkSync(join(outside, 'shared.txt'), join(dir, 'file-link'));
    symlinkSync(outside, join(dir, 'dir-link'));
    chmodSync(dir, 0o700);

    expect(await tightenDataDir(dir)).toBe(0);
    expect(statSync(outside).mode & 0o777).toBe(0o755);
    expect(statSync(join(outside, 'shared.txt')).mode & 0o777).toBe(0o644);
  });
});
