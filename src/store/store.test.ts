import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TEMPLATE_LOADING } from './database.js';
import { MIGRATIONS } from './migrations.js';
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

    await store.tasks.saveVersion('default', { name: 'kept', version: 'k1', definition: { name: 'kept' }, activate: 'always' });
    await store.close();
    await store.close();
    expect(readDataDirLock(dataDir)).toBeUndefined();
    expect(existsSync(join(dataDir, 'groundwork.lock'))).toBe(false);

    const reopened = await openStore({ dataDir, lock: { role: 'cli' } });
    open.push(reopened);
    expect((await reopened.tasks.getActive('default', 'kept'))?.version).toBe('k1');
    expect(readdirSync(dataDir).sort()).toEqual(['groundwork.lock', 'pglite']);
  });

  it('makes a new data folder from the migrated template, and again when a load was cut short', async () => {
    // A process killed while PGlite wrote the template into the folder: the marker is still
    // there, beside a half-written pglite/ folder.
    mkdirSync(join(dataDir, 'pglite'), { mode: 0o700 });
    writeFileSync(join(dataDir, 'pglite', 'PG_VERSION'), '17\n');
    writeFileSync(join(dataDir, 'pglite', 'half-written'), 'x');
    writeFileSync(join(dataDir, TEMPLATE_LOADING), '');

    const store = await openStore({ dataDir, lock: { role: 'cli' } });
    open.push(store);
    const applied = await store.db.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id');
    expect(applied.map((row) => row.id)).toEqual(MIGRATIONS.map((migration) => migration.id).sort());
    expect(existsSync(join(dataDir, 'pglite', 'half-written'))).toBe(false);
    expect(readdirSync(dataDir).sort()).toEqual(['groundwork.lock', 'pglite']);
  });

  it("makes a machine's first data folder the long way, and leaves it behind as the template of the next", () => {
    // A process of its own, with a temp folder where no template was ever made (this one's
    // already holds one in memory).
    const machineTmp = mkdtempSync(join(tmpdir(), 'gw-fresh-machine-'));
    const script = `import { openStore } from ${JSON.stringify(new URL('./index.ts', import.meta.url).href)};
      const store = await openStore({ dataDir: ${JSON.stringify(dataDir)}, lock: false });
      await store.close();`;
    try {
      const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, TMPDIR: machineTmp },
      });
      expect(child.stderr).toBe('');
      expect(child.status).toBe(0);
      const cache = readdirSync(machineTmp).find((name) => name.startsWith('groundwork-'));
      const [template] = cache ? readdirSync(join(machineTmp, cache)) : [];
      expect(template).toMatch(/^pglite-template-[0-9a-f]+\.tar$/);
      // A whole tar of a data folder where every migration is applied.
      const bytes = readFileSync(join(machineTmp, cache!, template));
      expect(bytes.subarray(257, 262).toString('latin1')).toBe('ustar');
      expect(bytes.includes(Buffer.from('schema_migrations'))).toBe(true);
    } finally {
      rmSync(machineTmp, { recursive: true, force: true });
    }
  }, 60_000);

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
