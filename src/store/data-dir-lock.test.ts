import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { GroundworkError } from '../kernel/errors.js';
import { acquireDataDirLock, readDataDirLock, type DataDirLock, type DataDirLockInfo } from './data-dir-lock.js';

let dir: string;
let lockFile: string;
const held: DataDirLock[] = [];
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'gw-lock-'));
  lockFile = join(dir, 'groundwork.lock');
});
afterEach(async () => {
  await Promise.all(held.splice(0).map((lock) => lock.release()));
  for (const child of children.splice(0)) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function acquire(role: 'serve' | 'cli' | 'worker' = 'cli', url?: string): Promise<DataDirLock> {
  const lock = await acquireDataDirLock(dir, { role, url });
  held.push(lock);
  return lock;
}

/** A real second process that stays alive until killed. */
async function liveProcess(): Promise<ChildProcess & { pid: number }> {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  children.push(child);
  await new Promise<void>((resolve, reject) => child.once('spawn', resolve).once('error', reject));
  return child as ChildProcess & { pid: number };
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

function writeLock(info: Partial<DataDirLockInfo>): void {
  const full = { pid: 1, hostname: hostname(), role: 'serve', startedAt: new Date(0).toISOString(), ...info };
  writeFileSync(lockFile, JSON.stringify(full));
}

function ownerOf(file: string): DataDirLockInfo {
  return JSON.parse(readFileSync(file, 'utf8')) as DataDirLockInfo;
}

describe('data folder lock', () => {
  it('writes who owns the folder', async () => {
    const lock = await acquire('serve', 'http://127.0.0.1:8080');
    expect(ownerOf(lockFile)).toEqual({
      pid: process.pid,
      hostname: hostname(),
      role: 'serve',
      url: 'http://127.0.0.1:8080',
      startedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect(lock.info).toEqual(ownerOf(lockFile));
    expect(readDataDirLock(dir)).toEqual(lock.info);
  });

  it('records where the owner listens once it knows (a server bound to port 0), and still releases', async () => {
    const lock = await acquire('serve', 'http://127.0.0.1:0');
    await lock.announce('http://127.0.0.1:41234');
    expect(readDataDirLock(dir)).toMatchObject({ pid: process.pid, role: 'serve', url: 'http://127.0.0.1:41234' });
    await lock.release();
    expect(existsSync(lockFile)).toBe(false);
  });

  it('refuses a second owner in the same process, naming the first', async () => {
    await acquire('serve', 'http://127.0.0.1:8080');
    const error = await acquireDataDirLock(dir, { role: 'cli' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GroundworkError);
    const gw = error as GroundworkError;
    expect(gw.code).toBe('STORE_LOCKED');
    expect(gw.message).toContain(`pid ${process.pid}`);
    expect(gw.message).toContain('server');
    expect(gw.message).toContain('http://127.0.0.1:8080');
    expect(gw.details.owner).toEqual(ownerOf(lockFile));
  });

  it('lets exactly one of several concurrent acquires win', async () => {
    const results = await Promise.allSettled([1, 2, 3, 4].map(() => acquire('worker')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) if (r.status === 'rejected') expect(r.reason).toMatchObject({ code: 'STORE_LOCKED' });
  });

  it('refuses while another live process owns it, and takes over once that process is gone', async () => {
    const child = await liveProcess();
    writeLock({ pid: child.pid, role: 'serve', url: 'http://127.0.0.1:7777' });

    const error = await acquireDataDirLock(dir, { role: 'cli' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'STORE_LOCKED', details: { owner: { pid: child.pid, role: 'serve', url: 'http://127.0.0.1:7777' } } });
    expect((error as Error).message).toMatch(new RegExp(`pid ${child.pid}, listening on http://127\\.0\\.0\\.1:7777`));
    expect(readDataDirLock(dir)).toMatchObject({ pid: child.pid, url: 'http://127.0.0.1:7777' });

    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    expect(readDataDirLock(dir)).toBeUndefined();
    const lock = await acquire('cli');
    expect(ownerOf(lockFile)).toEqual(lock.info);
    expect(lock.info.pid).toBe(process.pid);
  });

  it('takes over a lock whose pid is dead', async () => {
    writeLock({ pid: await deadPid(), role: 'worker' });
    await acquire('cli');
    expect(ownerOf(lockFile).pid).toBe(process.pid);
  });

  it.each([
    ['garbage', 'not json {'],
    ['empty', ''],
    ['wrong shape', JSON.stringify({ pid: 'x', role: 'admin' })],
  ])('takes over a corrupt lock file (%s)', async (_, content) => {
    writeFileSync(lockFile, content);
    expect(readDataDirLock(dir)).toBeUndefined();
    await acquire('cli');
    expect(ownerOf(lockFile).pid).toBe(process.pid);
  });

  it('takes over a lock left by another host (a previous container on this volume)', async () => {
    const child = await liveProcess();
    writeLock({ pid: child.pid, hostname: 'old-container-3f2a' });
    await acquire('serve');
    expect(ownerOf(lockFile).hostname).toBe(hostname());
  });

  it('takes over a lock with our own pid that this process does not hold (a previous incarnation)', async () => {
    writeLock({ pid: process.pid, role: 'serve' });
    expect(readDataDirLock(dir)).toBeUndefined();
    await acquire('serve');
  });

  it('release removes the file, is idempotent, and frees the folder', async () => {
    const lock = await acquire();
    await lock.release();
    await lock.release();
    expect(existsSync(lockFile)).toBe(false);
    expect(readDataDirLock(dir)).toBeUndefined();
    await acquire();
  });

  it('release leaves alone a lock file that is no longer ours', async () => {
    const lock = await acquire();
    const child = await liveProcess();
    writeLock({ pid: child.pid });
    await lock.release();
    expect(ownerOf(lockFile).pid).toBe(child.pid);
  });

  it('creates the data folder when missing', async () => {
    const nested = join(dir, 'a', 'b');
    const lock = await acquireDataDirLock(nested, { role: 'cli' });
    held.push(lock);
    expect(existsSync(join(nested, 'groundwork.lock'))).toBe(true);
  });
});
