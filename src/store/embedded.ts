import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { GroundworkError } from '../kernel/errors.js';
import { makePrivateDir, tightenDataDir } from './data-dir-mode.js';
import { deserializeError, type EmbeddedReady, type EmbeddedReply, type EmbeddedRequest, type EmbeddedWorkerData, type PgliteArtifacts } from './embedded-protocol.js';
import { storableParams } from './json-param.js';
import type { Database, SqlTransaction } from './ports.js';

/**
 * The embedded store's client: a Database whose PGlite runs in a worker thread
 * (`embedded-worker.ts`). Each call is one message there and one back; rows, dates, JSON
 * values and errors (message, code, detail…) arrive as they would from an in-thread PGlite.
 *
 * The worker keeps the process alive only while a request is waiting for it, as an in-thread
 * PGlite (which has no handles) would: a CLI command that forgets to close its store still exits.
 */

type Distribute<T> = T extends unknown ? Omit<T, 'id'> : never;
type Outgoing = Distribute<EmbeddedRequest>;

export interface OpenEmbeddedOptions {
  /** The data folder (named in errors). */
  dataDir: string;
  /** PGlite's folder inside it (created when missing), or 'memory://' when `memory`. */
  dir: string;
  memory: boolean;
  searchPath?: string;
}

export async function openEmbeddedWorker(options: OpenEmbeddedOptions): Promise<Database> {
  const where = options.memory ? 'memory' : options.dir;
  const details = { dataDir: options.dataDir };
  let worker: Worker | undefined;
  try {
    if (!options.memory) await makePrivateDir(options.dir);
    worker = spawn({ dir: options.dir, searchPath: options.searchPath, artifacts: await loadArtifacts() });
    await ready(worker);
    // PGlite gives the files it writes while opening (initdb's, pg_internal.init) modes of its
    // own (0666, 0644) that no umask reaches: make them private once they exist.
    if (!options.memory) await tightenDataDir(options.dir);
  } catch (error) {
    await worker?.terminate();
    throw new GroundworkError('STORE_UNAVAILABLE', `cannot open the embedded database in ${where}: ${error instanceof Error ? error.message : String(error)}`, {
      cause: error,
      isRetryable: false,
      details,
    });
  }
  return client(worker, (reason, cause) => new GroundworkError('STORE_UNAVAILABLE', `the embedded database (${where}) ${reason}`, { cause, details }));
}

/** Waits for the worker's first message: PGlite open, or why not. */
async function ready(worker: Worker): Promise<void> {
  const message = await new Promise<EmbeddedReady>((resolve, reject) => {
    const onExit = (code: number) => reject(new Error(`its thread exited (code ${code}) while opening`));
    worker.once('message', (first: EmbeddedReady) => {
      worker.off('error', reject).off('exit', onExit);
      resolve(first);
    });
    worker.once('error', reject).once('exit', onExit);
  });
  if (!message.ready) throw deserializeError(message.error);
}

/** The Database over an open worker; `gone` makes the error for calls it can no longer answer. */
function client(worker: Worker, gone: (reason: string, cause?: unknown) => GroundworkError): Database {
  const pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>();
  let nextId = 1;
  let dead: GroundworkError | undefined;

  const failAll = (error: GroundworkError) => {
    dead ??= error;
    for (const { reject } of pending.values()) reject(error);
    pending.clear();
  };

  worker.unref();

  worker.on('message', (message: EmbeddedReply) => {
    const waiter = pending.get(message.id);
    if (!waiter) return;
    pending.delete(message.id);
    if (pending.size === 0) worker.unref();
    if (message.ok) waiter.resolve(message.value);
    else waiter.reject(deserializeError(message.error));
  });
  worker.on('error', (error) => failAll(gone(`failed: ${error.message}`, error)));
  worker.on('exit', (code) => failAll(gone(`thread exited (code ${code})`)));

  const send = (request: Outgoing): Promise<unknown> => {
    if (dead) return Promise.reject(dead);
    const id = nextId++;
    if (pending.size === 0) worker.ref();
    return new Promise((resolve, reject) => {
      pending.set(id, { resolve, reject });
      worker.postMessage({ ...request, id });
    });
  };

  const executor = (tx?: number): SqlTransaction => ({
    query: async <T>(sql: string, params?: unknown[]) => (await send({ op: 'query', sql, params: storableParams(params), tx })) as T[],
    async exec(sql: string) {
      await send({ op: 'exec', sql, tx });
    },
  });
  const root = executor();

  let closing: Promise<void> | undefined;
  return {
    kind: 'embedded',
    query: root.query,
    exec: root.exec,
    async transaction(fn) {
      const tx = (await send({ op: 'begin' })) as number;
      let result: Awaited<ReturnType<typeof fn>>;
      try {
        result = await fn(executor(tx));
      } catch (error) {
        // The rollback's own failure (a dead worker) must not hide why the transaction failed.
        await send({ op: 'end', tx, commit: false }).catch(() => {});
        throw error;
      }
      await send({ op: 'end', tx, commit: true });
      return result;
    },
    async bulkLoad(setup, copies) {
      await send({ op: 'bulk', setup, copies });
    },
    close() {
      closing ??= (async () => {
        if (!dead) await send({ op: 'close' }).catch(() => {});
        dead ??= gone('is closed');
        await worker.terminate();
      })();
      return closing;
    },
  };
}

let artifacts: Promise<PgliteArtifacts> | undefined;

/**
 * PGlite's WASM modules, compiled once per process (off this thread, by V8), and its
 * file-system bundle: every store opened afterwards starts without compiling them again.
 */
function loadArtifacts(): Promise<PgliteArtifacts> {
  artifacts ??= (async () => {
    const dist = new URL('.', import.meta.resolve('@electric-sql/pglite'));
    const [pgliteWasmModule, initdbWasmModule, bundle] = await Promise.all([
      readFile(new URL('pglite.wasm', dist)).then((bytes) => WebAssembly.compile(bytes)),
      readFile(new URL('initdb.wasm', dist)).then((bytes) => WebAssembly.compile(bytes)),
      readFile(new URL('pglite.data', dist)),
    ]);
    return { pgliteWasmModule, initdbWasmModule, fsBundle: new Blob([bundle]) };
  })();
  artifacts.catch(() => {
    artifacts = undefined;
  });
  return artifacts;
}

/**
 * Starts the worker. Built code runs `embedded-worker.js` directly; source code (tests, tsx)
 * has only `embedded-worker.ts`, which a worker thread cannot load by itself on Node 20, so
 * a one-line bootstrap registers tsx's loader in the worker first.
 */
function spawn(data: EmbeddedWorkerData): Worker {
  const fromSource = import.meta.url.endsWith('.ts');
  const entry = new URL(`./embedded-worker.${fromSource ? 'ts' : 'js'}`, import.meta.url);
  if (!fromSource) return new Worker(entry, { workerData: data });
  const tsx = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(bootstrap, { eval: true, workerData: data });
}
