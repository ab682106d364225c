import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openStore, readDataDirLock, type Store } from './index.js';

let dataDir: string;
const open: Store[] = [];
beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'gw-store-'));
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
  rmSync(dataDir, { recursive: true, force: true });
});

describe('openStore (embedded)', () => {
  it('owns the data folder while open, keeps data across restarts, and frees it on close', async () => {
    const store = await openStore({ dataDir, lock: { role: 'serve', url: 'http://127.0.0.1:3000' } });
    open.push(store);
    expect(store.db.kind).toBe('embedded');
    expect(readDataDirLock(dataDir)).toMatchObject({ pid: process.pid, role: 'serve', url: 'http://127.0.0.1:3000' });

    await expect(openStore({ dataDir, lock: { role: 'cli' } })).rejects.toMatchObject({
      code: 'STORE_LOCKED',
      message: expect.stringContaining('http://127.0.0.1:3000'),
    });

    await store.tasks.saveVersion('default', { name: 'kept', version: 'k1', definition: { name: 'kept' }, activate: true });
    await store.close();
    await store.close();
    expect(readDataDirLock(dataDir)).toBeUndefined();
    expect(existsSync(join(dataDir, 'groundwork.lock'))).toBe(false);

    const reopened = await openStore({ dataDir, lock: { role: 'cli' } });
    open.push(reopened);
    expect((await reopened.tasks.getActive('default', 'kept'))?.version).toBe('k1');
    expect(readdirSync(dataDir).sort()).toEqual(['groundwork.lock', 'pglite']);
  });

  it('releases the lock when opening fails', async () => {
    writeFileSync(join(dataDir, 'pglite'), 'a file where the database folder should be');
    await expect(openStore({ dataDir, lock: { role: 'cli' } })).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' });
    expect(existsSync(join(dataDir, 'groundwork.lock'))).toBe(false);
  });

  it('takes no lock in memory', async () => {
    const store = await openStore({ dataDir: 'memory://', lock: { role: 'cli' } });
    open.push(store);
    expect(readDataDirLock('memory://')).toBeUndefined();
    expect(existsSync('memory:')).toBe(false);
  });
});
