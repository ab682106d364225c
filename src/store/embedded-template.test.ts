import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEmbeddedWorker, type EmbeddedDatabase } from './embedded.js';
import { loadOrBuildTemplate, migratedTemplate, templateFile, templateKey } from './embedded-template.js';
import { migrate, MIGRATIONS } from './migrations.js';

/** A tar archive as the cache checks it: "ustar" at byte 257 of its first header. */
function fakeTar(fill: number): Uint8Array {
  const bytes = new Uint8Array(2048).fill(fill);
  bytes.set(Buffer.from('ustar\u000000', 'latin1'), 257);
  return bytes;
}

const fromTemplate = async (template: Uint8Array): Promise<EmbeddedDatabase> =>
  openEmbeddedWorker({ dataDir: 'memory://', dir: 'memory://', memory: true, template });

describe('the migrated template of memory stores', () => {
  let template: Uint8Array;
  const open: EmbeddedDatabase[] = [];

  beforeAll(async () => {
    template = await migratedTemplate();
  });
  afterAll(async () => {
    await Promise.all(open.map((db) => db.close()));
  });

  it('is a data folder where every migration is already applied', async () => {
    const db = await fromTemplate(template);
    open.push(db);
    const recorded = await db.query<{ id: string }>('SELECT id FROM schema_migrations ORDER BY id');
    expect(recorded.map((row) => row.id)).toEqual(MIGRATIONS.map((m) => m.id));
    // openStore migrates on top of it: nothing left to apply.
    expect(await migrate(db)).toEqual({ applied: [] });
  });

  it('gives every store its own copy: what one writes, another never sees', async () => {
    const [a, b] = await Promise.all([fromTemplate(template), fromTemplate(template)]);
    open.push(a, b);
    await a.query(`INSERT INTO tenants (id, webhook_secret) VALUES ('only-in-a', 's')`);
    expect(await b.query(`SELECT id FROM tenants WHERE id = 'only-in-a'`)).toEqual([]);
    const c = await fromTemplate(template);
    open.push(c);
    expect(await c.query(`SELECT id FROM tenants WHERE id = 'only-in-a'`)).toEqual([]);
  });

  it('is made once per process', async () => {
    expect(await migratedTemplate()).toBe(template);
  });
});

describe('the template cache shared by processes', () => {
  /** A cache folder that does not exist yet (loadOrBuildTemplate makes it). */
  const privateDir = () => join(mkdtempSync(join(tmpdir(), 'gw-template-')), 'cache');

  it('builds the template once, keeps it in a private file, and later processes read it', async () => {
    const cacheDir = privateDir();
    let builds = 0;
    const build = async () => (builds++, fakeTar(1));
    const first = await loadOrBuildTemplate({ cacheDir, build });
    const second = await loadOrBuildTemplate({ cacheDir, build });
    expect(builds).toBe(1);
    expect(Buffer.from(second).equals(Buffer.from(first))).toBe(true);
    const file = templateFile(cacheDir, await templateKey());
    expect(statSync(cacheDir).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // Written under another name and renamed: nothing half-written is left beside it.
    expect(readdirSync(cacheDir)).toEqual([file.slice(cacheDir.length + 1)]);
  });

  it('lets racing processes each get a whole template and leave one', async () => {
    const cacheDir = privateDir();
    const results = await Promise.all([1, 2, 3].map((fill) => loadOrBuildTemplate({ cacheDir, build: async () => fakeTar(fill) })));
    const whole = [1, 2, 3].map((fill) => Buffer.from(fakeTar(fill)));
    for (const bytes of results) expect(whole.some((one) => one.equals(Buffer.from(bytes)))).toBe(true);
    const stored = readFileSync(templateFile(cacheDir, await templateKey()));
    expect(whole.some((one) => one.equals(stored))).toBe(true);
    expect(readdirSync(cacheDir)).toHaveLength(1);
  });

  it('replaces a file that is not a template instead of loading it', async () => {
    const cacheDir = privateDir();
    await loadOrBuildTemplate({ cacheDir, build: async () => fakeTar(1) });
    const file = templateFile(cacheDir, await templateKey());
    writeFileSync(file, 'not a tar archive');
    const rebuilt = await loadOrBuildTemplate({ cacheDir, build: async () => fakeTar(2) });
    expect(rebuilt[0]).toBe(2);
    expect(readFileSync(file)[0]).toBe(2);
  });

  it("removes other versions' templates once they have gone a week unwritten", async () => {
    const cacheDir = privateDir();
    await loadOrBuildTemplate({ cacheDir, build: async () => fakeTar(1) });
    const stale = join(cacheDir, 'pglite-template-0000aaaa.tar');
    const recent = join(cacheDir, 'pglite-template-0000bbbb.tar');
    writeFileSync(stale, fakeTar(7));
    writeFileSync(recent, fakeTar(8));
    const eightDaysAgo = new Date(Date.now() - 8 * 24 * 60 * 60 * 1000);
    utimesSync(stale, eightDaysAgo, eightDaysAgo);
    // A new template is stored (this one was not a template): the stale one goes, the recent one stays.
    writeFileSync(templateFile(cacheDir, await templateKey()), 'not a tar archive');
    await loadOrBuildTemplate({ cacheDir, build: async () => fakeTar(2) });
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(recent)).toBe(true);
  });

  it.skipIf(process.platform === 'win32')('never reads or writes a cache folder other users can open', async () => {
    const cacheDir = privateDir();
    await loadOrBuildTemplate({ cacheDir, build: async () => fakeTar(1) });
    chmodSync(cacheDir, 0o777);
    // What another user could have planted there is not used, and nothing is written.
    const file = templateFile(cacheDir, await templateKey());
    writeFileSync(file, fakeTar(9));
    const built = await loadOrBuildTemplate({ cacheDir, build: async () => fakeTar(3) });
    expect(built[0]).toBe(3);
    expect(readFileSync(file)[0]).toBe(9);
  });
});
