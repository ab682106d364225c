import { randomBytes } from 'node:crypto';
import { readFileSync, unlinkSync } from 'node:fs';
import { link, mkdir, readFile, rename, rmdir, stat, unlink, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { GroundworkError } from '../kernel/errors.js';
import { makePrivateDir } from './data-dir-mode.js';

/**
 * Exactly one process owns an embedded data folder. PGlite lets two processes open one folder
 * without complaint, and then one's committed rows are silently lost; this lock file prevents it.
 * A lock whose owner is gone (dead pid, another host, an earlier incarnation of this pid) is
 * stale and taken over, so a crash never needs manual cleanup.
 */

export type DataDirRole = 'serve' | 'cli' | 'worker';

/** What the lock file holds: who owns the folder, and where a serving owner listens. */
export interface DataDirLockInfo {
  pid: number;
  hostname: string;
  role: DataDirRole;
  url?: string;
  startedAt: string;
}

/** A held lock. `release` is idempotent and removes the file only while it is still ours. */
export interface DataDirLock {
  readonly path: string;
  readonly info: DataDirLockInfo;
  /** Records where the owner listens (a server bound to port 0 knows its port only once listening). */
  announce(url: string): Promise<void>;
  release(): Promise<void>;
}

export const LOCK_FILE = 'groundwork.lock';

/** Lock files held by this process, by path: a same-pid lock not in here is from a previous life. */
const held = new Map<string, string>();

export async function acquireDataDirLock(dataDir: string, owner: { role: DataDirRole; url?: string }): Promise<DataDirLock> {
  const path = lockPath(dataDir);
  const info: DataDirLockInfo = {
    pid: process.pid,
    hostname: hostname(),
    role: owner.role,
    ...(owner.url === undefined ? {} : { url: owner.url }),
    startedAt: new Date().toISOString(),
  };
  let content = `${JSON.stringify(info)}\n`;
  if (held.has(path)) throw locked(path, parseLock(held.get(path)!)!);
  held.set(path, content); // claims the path against concurrent acquires in this process
  try {
    await makePrivateDir(dataDir);
    await claim(path, content);
  } catch (error) {
    held.delete(path);
    throw error;
  }

  const onExit = () => releaseSync(path, content);
  process.once('exit', onExit);
  let released = false;
  return {
    path,
    info,
    async announce(url) {
      if (released) return;
      const next = `${JSON.stringify({ ...info, url })}\n`;
      // Written beside the lock and renamed over it: a reader sees the old owner or the new one, whole.
      const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
      await writeFile(temporary, next, { mode: 0o600, flag: 'wx' });
      try {
        await rename(temporary, path);
      } catch (error) {
        await unlink(temporary).catch(() => {});
        throw error;
      }
      content = next;
      held.set(path, next);
    },
    async release() {
      if (released) return;
      released = true;
      process.removeListener('exit', onExit);
      held.delete(path);
      const current = await readFile(path, 'utf8').catch(() => undefined);
      if (current === content) await unlink(path).catch(() => {});
    },
  };
}

/** The live owner of a data folder, or undefined when there is none (or only a stale lock). */
export function readDataDirLock(dataDir: string): DataDirLockInfo | undefined {
  const path = lockPath(dataDir);
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const info = parseLock(raw);
  return info && isLive(path, info, raw) ? info : undefined;
}

function lockPath(dataDir: string): string {
  return join(resolve(dataDir), LOCK_FILE);
}

/** Creates the lock file with its full content in one step, or takes over a stale one. */
async function claim(path: string, content: string, attempt = 0): Promise<void> {
  // Written aside, then hard-linked into place: link fails if the file exists, and a reader
  // never sees a half-written lock (which it would judge corrupt, hence stale).
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(temp, content, { flag: 'wx', mode: 0o600 });
  try {
    await link(temp, path);
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temp).catch(() => {});
  }

  const existing = await readFile(path, 'utf8').catch(() => undefined);
  if (existing === undefined) return retry(path, content, attempt); // released meanwhile
  const owner = parseLock(existing);
  if (owner && isLive(path, owner, existing)) throw locked(path, owner);
  if (attempt >= 5)
    throw new GroundworkError('STORE_LOCKED', `could not take over the stale lock ${path}: another process keeps racing for it`, { details: { path } });

  // Stale. Take it over under a short mutex (mkdir is atomic), re-checking that it is still the
  // same stale file, so two processes taking over together cannot both win.
  const guard = `${path}.takeover`;
  try {
    await mkdir(guard, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    await clearAbandonedGuard(guard);
    await delay(20 + Math.random() * 30);
    return retry(path, content, attempt);
  }
  try {
    const again = await readFile(path, 'utf8').catch(() => undefined);
    if (again === existing) await unlink(path);
  } finally {
    await rmdir(guard).catch(() => {});
  }
  return retry(path, content, attempt);
}

function retry(path: string, content: string, attempt: number): Promise<void> {
  return claim(path, content, attempt + 1);
}

/** A takeover guard older than a few seconds belongs to a process that died mid-takeover. */
async function clearAbandonedGuard(guard: string): Promise<void> {
  const info = await stat(guard).catch(() => undefined);
  if (info && Date.now() - info.mtimeMs > 5_000) await rmdir(guard).catch(() => {});
}

function isLive(path: string, owner: DataDirLockInfo, raw: string): boolean {
  // Another host's pid cannot be checked; a data folder is local, so a different hostname
  // means a previous container (or machine) that used this volume.
  if (owner.hostname !== hostname()) return false;
  if (owner.pid === process.pid) return held.get(path) === raw;
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseLock(raw: string | undefined): DataDirLockInfo | undefined {
  if (raw === undefined) return undefined;
  try {
    const value = JSON.parse(raw) as Partial<DataDirLockInfo>;
    const valid =
      Number.isInteger(value.pid) &&
      (value.pid as number) > 0 &&
      typeof value.hostname === 'string' &&
      (value.role === 'serve' || value.role === 'cli' || value.role === 'worker') &&
      typeof value.startedAt === 'string' &&
      (value.url === undefined || typeof value.url === 'string');
    return valid ? (value as DataDirLockInfo) : undefined;
  } catch {
    return undefined;
  }
}

function locked(path: string, owner: DataDirLockInfo): GroundworkError {
  const what =
    owner.role === 'serve'
      ? `a Groundwork server (pid ${owner.pid}${owner.url ? `, listening on ${owner.url}` : ''})`
      : `a Groundwork ${owner.role} process (pid ${owner.pid})`;
  return new GroundworkError(
    'STORE_LOCKED',
    `the data folder is in use by ${what} since ${owner.startedAt}. Stop it first` +
      `${owner.role === 'serve' ? ', or send requests to its HTTP API' : ''}, or set DATABASE_URL to share a PostgreSQL ` +
      `server between processes. If that process no longer exists, delete ${path}.`,
    { isRetryable: false, details: { path, owner: { ...owner } } },
  );
}

function releaseSync(path: string, content: string): void {
  try {
    if (held.get(path) === content) held.delete(path);
    if (readFileSync(path, 'utf8') === content) unlinkSync(path);
  } catch {
    // best effort at exit
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((done) => setTimeout(done, ms));
}
