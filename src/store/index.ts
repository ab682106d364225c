import { acquireDataDirLock, type DataDirLock, type DataDirRole } from './data-dir-lock.js';
import { tightenDataDir } from './data-dir-mode.js';
import { MEMORY_DATA_DIR, offerAsTemplate, openDatabase } from './database.js';
import { migrate } from './migrations.js';
import type { Database, Store } from './ports.js';
import { createRunRepository } from './run.repository.js';
import { createTaskRepository } from './task.repository.js';
import { createEvalRepository } from './eval.repository.js';

export * from './ports.js';
export { readDataDirLock, type DataDirLockInfo, type DataDirRole } from './data-dir-lock.js';
export { MEMORY_DATA_DIR, openDatabase } from './database.js';
export { migrate } from './migrations.js';

export interface OpenStoreOptions {
  /** Embedded data folder ('memory://' for tests); also where the lock file lives. */
  dataDir: string;
  /** postgres://… selects server mode: no file lock, the server arbitrates. */
  databaseUrl?: string;
  /** Server mode: a schema to work in (test isolation). */
  schema?: string;
  /** Embedded mode: who holds the data folder; false for none (tests). */
  lock?: { role: DataDirRole; url?: string } | false;
  /** Apply pending migrations on open (default true). */
  migrate?: boolean;
}

/**
 * Opens the store: lock (embedded), make the data folder private, connect, migrate, build the
 * repositories. The folder is created 0700; an existing one is tightened (folders 0700, files
 * 0600) and `tightened` says how many entries were open to other users, for the caller to log.
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const server = Boolean(options.databaseUrl);
  const folder = !server && options.dataDir !== MEMORY_DATA_DIR;
  const wantsLock = folder && options.lock !== false;
  // The lock comes first: opening PGlite on a folder another process uses is what loses data.
  const lock: DataDirLock | undefined = wantsLock ? await acquireDataDirLock(options.dataDir, options.lock || { role: 'cli' }) : undefined;

  let db: Database | undefined;
  let tightened = 0;
  let offered: Promise<void> = Promise.resolve();
  try {
    // After the lock: only the folder's owner changes it.
    if (folder) tightened = await tightenDataDir(options.dataDir);
    const migrating = options.migrate !== false;
    db = await openDatabase({ dataDir: options.dataDir, databaseUrl: options.databaseUrl, schema: options.schema, fromTemplate: migrating });
    if (migrating) {
      await migrate(db);
      // In the background: the dump (PGlite's thread) and the file write need not hold up the
      // start; closing waits for it, so a short CLI command still leaves the template behind.
      offered = offerAsTemplate(db);
    }
  } catch (error) {
    await db?.close().catch(() => {});
    await lock?.release();
    throw error;
  }

  const database = db;
  let closing: Promise<void> | undefined;
  return {
    db: database,
    tasks: createTaskRepository(database),
    evals: createEvalRepository(database),
    runs: createRunRepository(database),
    tightened,
    announce: (url) => lock?.announce(url) ?? Promise.resolve(),
    close() {
      closing ??= (async () => {
        try {
          await offered;
          await database.close();
        } finally {
          await lock?.release();
        }
      })();
      return closing;
    },
  };
}
