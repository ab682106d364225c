import { chmodSync, lstatSync, readdirSync, statSync, type Stats } from 'node:fs';
import { chmod, mkdir } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { GroundworkError } from '../kernel/errors.js';

/**
 * The embedded data folder holds API-key hashes, webhook secrets and every recorded run, so
 * only its owner may open it: the folder is 0700, and everything in it is stripped of group
 * and other permissions (files end up 0600, folders 0700).
 *
 * Why walk the files as well as closing the folder: PGlite (Emscripten's file system) sets
 * its own modes, 0666 for the ~1,000 files initdb writes and 0644 for pg_internal.init, with
 * an explicit chmod that no umask reaches. The 0700 folder is what keeps other users out
 * while the server runs; the walk makes every file private too, so copying the folder, a
 * later `chmod 755` of it, or a mounted volume does not expose them.
 */

const PRIVATE_DIR_MODE = 0o700;

const GROUP_AND_OTHERS = 0o077;

/** Creates `dir` and missing parents as 0700 whatever the umask; existing folders are left alone. */
export async function makePrivateDir(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
  if (first === undefined) return;
  // mkdir's mode passes through the umask (which may strip owner bits too): set it exactly on
  // every folder this call created, from `dir` up to the first one.
  for (let path = resolve(dir); ; path = dirname(path)) {
    await chmod(path, PRIVATE_DIR_MODE);
    if (path === resolve(first) || path === dirname(path)) break;
  }
}

/**
 * Removes group and other permissions from `dir` and everything under it (a 0755 folder
 * becomes 0700, a 0666 file 0600; owner bits are kept, nothing is ever widened). Symbolic
 * links inside are neither changed nor followed (lstat), so nothing outside the folder is
 * touched; `dir` itself may be a link to the real folder. Returns how many entries changed;
 * a missing folder changes nothing.
 */
export async function tightenDataDir(dir: string): Promise<number> {
  // Synchronous calls, one after another: ~1,100 entries take ~15 ms. The same walk through
  // promises took 0.3–0.5 s at start-up, where it waits on a thread busy loading the server.
  let changed = 0;
  const visit = (path: string, info: Stats): void => {
    if (info.isSymbolicLink()) return;
    if ((info.mode & GROUP_AND_OTHERS) !== 0) {
      try {
        chmodSync(path, info.mode & 0o7700);
      } catch (cause) {
        // Typically a file another user (root) created in the folder: say which, do not open.
        const error = cause as NodeJS.ErrnoException;
        throw new GroundworkError('STORE_UNAVAILABLE', `cannot make the data folder private: chmod ${path} failed (${error.code ?? error.message})`, {
          cause: error,
          isRetryable: false,
          details: { dataDir: dir },
        });
      }
      changed++;
    }
    if (!info.isDirectory()) return;
    for (const entry of readdirSync(path)) {
      const child = join(path, entry);
      // An entry removed meanwhile (a temporary file) needs no tightening.
      const childInfo = lstatSync(child, { throwIfNoEntry: false });
      if (childInfo) visit(child, childInfo);
    }
  };
  const root = statSync(dir, { throwIfNoEntry: false });
  if (root) visit(dir, root);
  return changed;
}
