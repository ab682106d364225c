import { createHash, randomBytes } from 'node:crypto';
import { lstat, mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openEmbeddedWorker, sharedCopy } from './embedded.js';
import { checksum, migrate, MIGRATIONS } from './migrations.js';

/**
 * The migrated template new stores start from (`memory://` ones, and a new data folder's
 * first start: see database.ts). A new PGlite runs initdb and then every migration: 2–3 s of
 * CPU per store (6–7 s for a data folder), most of a small test file's time. A store
 * made from the template loads PGlite's dump of a data folder where both already happened.
 * openStore still runs the migrations on top (no-ops when applied), so correctness never
 * depends on the template: a stale one would only be migrated forward.
 *
 * It is made once per process and shared between processes (parallel vitest workers, every
 * test file) through a file in a private folder of the system's temp folder, named by a hash
 * of the PGlite and pgvector versions and the migrations' ids and checksums. The file is
 * written under a temporary name and renamed into place, so a reader never sees half of one
 * and racing writers both leave a whole, identical template. The folder must be this user's
 * and closed to others (a template planted by another user would seed every store it opens);
 * otherwise the template is built in this process and kept there only.
 */

let template: Promise<Uint8Array> | undefined;

const cacheDir = (): string => join(tmpdir(), `groundwork-${userTag()}`);

/** The migrated template (an uncompressed tar in shared memory), made or read once per process. */
export function migratedTemplate(): Promise<Uint8Array> {
  template ??= loadOrBuildTemplate({ cacheDir: cacheDir() }).then(sharedCopy);
  template.catch(() => {
    template = undefined;
  });
  return template;
}

/**
 * The cached template's file when a whole one is there; never builds one. A new data folder
 * unpacks it (see database.ts): building a template first would make a machine's very first
 * start slower than making the folder the long way (which then offers itself, below). Read
 * from the file, not memory: a serving process has no later use for 41 MB of template.
 */
export async function cachedTemplateFile(): Promise<string | undefined> {
  const dir = cacheDir();
  if (!(await privateFolder(dir))) return undefined;
  const file = templateFile(dir, await templateKey());
  const header = await readHeader(file);
  return header && isTar(header) ? file : undefined;
}

async function readHeader(file: string): Promise<Uint8Array | undefined> {
  const handle = await open(file, 'r').catch(() => undefined);
  if (!handle) return undefined;
  try {
    const header = new Uint8Array(TAR_BLOCK * 3);
    const { bytesRead } = await handle.read(header, 0, header.byteLength, 0);
    return header.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
}

const TAR_BLOCK = 512;

/**
 * Stores a just-migrated store's data folder as the template when none is cached yet (a
 * machine's first data folder, made the long way): the folder holds exactly what a template
 * holds, nothing having been written to it but the migrations. Best effort.
 */
export async function offerTemplate(dump: () => Promise<Uint8Array>): Promise<void> {
  const dir = cacheDir();
  if (!(await privateFolder(dir))) return;
  const file = templateFile(dir, await templateKey());
  if (
    await stat(file).then(
      () => true,
      () => false,
    )
  )
    return;
  await storeAtomically(file, await dump());
}

export interface TemplateCache {
  /** The folder shared by this user's processes. */
  cacheDir: string;
  /** Makes a template (tests replace it: a real one takes an initdb). */
  build?: () => Promise<Uint8Array>;
}

/** The template from `cacheDir` when a whole one is there; otherwise built, then stored there if the folder is private. */
export async function loadOrBuildTemplate({ cacheDir, build = buildTemplate }: TemplateCache): Promise<Uint8Array> {
  const file = templateFile(cacheDir, await templateKey());
  const usable = await privateFolder(cacheDir);
  if (usable) {
    const cached = await readFile(file).catch(() => undefined);
    if (cached && isTar(cached)) return cached;
  }
  const built = await build();
  if (usable) {
    await storeAtomically(file, built).catch(() => {});
    await pruneStale(cacheDir, file).catch(() => {});
  }
  return built;
}

/** Templates of other versions left by older checkouts (41 MB each) go after a week unwritten. */
const STALE_MS = 7 * 24 * 60 * 60 * 1000;

async function pruneStale(cacheDir: string, keep: string): Promise<void> {
  for (const name of await readdir(cacheDir)) {
    const path = join(cacheDir, name);
    if (path === keep || !/^pglite-template-[0-9a-f]+\.tar$/.test(name)) continue;
    if (Date.now() - (await stat(path)).mtimeMs > STALE_MS) await unlink(path).catch(() => {});
  }
}

/** Where the template for `key` lives in `cacheDir`. */
export function templateFile(cacheDir: string, key: string): string {
  return join(cacheDir, `pglite-template-${key}.tar`);
}

async function buildTemplate(): Promise<Uint8Array> {
  const db = await openEmbeddedWorker({ dataDir: 'memory://', dir: 'memory://', memory: true });
  try {
    await migrate(db);
    return await db.dumpDataDir();
  } finally {
    await db.close();
  }
}

let key: Promise<string> | undefined;

/** What the template's content depends on: the database engine, its vector extension, the migrations. Worked out once per process. */
export function templateKey(): Promise<string> {
  key ??= (async () => {
    const versions = await Promise.all(['@electric-sql/pglite', '@electric-sql/pglite-pgvector'].map(packageVersion));
    const migrations = MIGRATIONS.map((migration) => `${migration.id}:${checksum(migration.sql)}`);
    return createHash('sha256').update(JSON.stringify({ versions, migrations })).digest('hex').slice(0, 24);
  })();
  key.catch(() => {
    key = undefined;
  });
  return key;
}

/** A package's version, from the package.json beside its entry point's folder (neither package exports it). */
async function packageVersion(name: string): Promise<string> {
  const manifest = JSON.parse(await readFile(new URL('../package.json', import.meta.resolve(name)), 'utf8')) as { version?: unknown };
  return `${name}@${String(manifest.version)}`;
}

/** Makes the folder (0700) when missing; true when it is a real folder of this user that no one else can write or read. */
async function privateFolder(dir: string): Promise<boolean> {
  try {
    await mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
    const stat = await lstat(dir);
    if (!stat.isDirectory()) return false;
    if (process.platform === 'win32') return true; // the temp folder is per user there
    return stat.uid === process.getuid?.() && (stat.mode & 0o077) === 0;
  } catch {
    return false;
  }
}

async function storeAtomically(file: string, bytes: Uint8Array): Promise<void> {
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  try {
    await writeFile(temporary, bytes, { mode: 0o600, flag: 'wx' });
    await rename(temporary, file);
  } catch (error) {
    await unlink(temporary).catch(() => {});
    throw error;
  }
}

/** A tar archive's first header says "ustar" at byte 257: enough to tell a template from anything else there. */
function isTar(bytes: Uint8Array): boolean {
  return bytes.byteLength > 2 * TAR_BLOCK && Buffer.from(bytes.subarray(257, 262)).toString('latin1') === 'ustar';
}

/** Separates users sharing one temp folder (the folder's owner is checked as well). */
function userTag(): string {
  return process.getuid ? String(process.getuid()) : 'user';
}
