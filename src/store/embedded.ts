import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { GroundworkError } from '../kernel/errors.js';
import { makePrivateDir, tightenDataDir } from './data-dir-mode.js';
import {
  deserializeError,
  type EmbeddedReady,
  type EmbeddedReply,
  type EmbeddedRequest,
  type EmbeddedWorkerData,
  type PgliteArtifacts,
} from './embedded-protocol.js';
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
  /** A data folder (uncompressed tar) to start from instead of initdb: a new store's (see database.ts). */
  template?: Uint8Array;
  /** A template file to unpack into `dir` first: a new data folder's (see database.ts). */
  unpack?: string;
}

/** The embedded Database, plus what only the embedded store can do: dump its data folder. */
export interface EmbeddedDatabase extends Database {
  /** The whole data folder as PGlite's uncompressed tar (what `template` takes). */
  dumpDataDir(): Promise<Uint8Array>;
}

export async function openEmbeddedWorker(options: OpenEmbeddedOptions): Promise<EmbeddedDatabase> {
  const where = options.memory ? 'memory' : options.dir;
  const details = { dataDir: options.dataDir };
  let worker: Worker | undefined;
  try {
    if (!options.memory) await makePrivateDir(options.dir);
    worker = await spawn({ dir: options.dir, searchPath: options.searchPath, template: options.template, unpack: options.unpack });
    const opened = ready(worker);
    opened.catch(() => {}); // awaited below, after the artifacts (whose failure comes first)
    // Compiled (once per process) while the worker starts and unpacks.
    worker.postMessage(await loadArtifacts());
    await opened;
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
function client(worker: Worker, gone: (reason: string, cause?: unknown) => GroundworkError): EmbeddedDatabase {
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
    async dumpDataDir() {
      return (await send({ op: 'dump' })) as Uint8Array;
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
 * file-system bundle in shared memory: every store opened afterwards starts without
 * compiling or reading them again.
 */
function loadArtifacts(): Promise<PgliteArtifacts> {
  artifacts ??= (async () => {
    const dist = new URL('.', import.meta.resolve('@electric-sql/pglite'));
    const [pgliteWasmModule, initdbWasmModule, bundle] = await Promise.all([
      readFile(new URL('pglite.wasm', dist)).then((bytes) => WebAssembly.compile(bytes)),
      readFile(new URL('initdb.wasm', dist)).then((bytes) => WebAssembly.compile(bytes)),
      readFile(new URL('pglite.data', dist)),
    ]);
    return { pgliteWasmModule, initdbWasmModule, fsBundle: sharedCopy(bundle) };
  })();
  artifacts.catch(() => {
    artifacts = undefined;
  });
  return artifacts;
}

/** The bytes in shared memory, which a worker reads in place instead of receiving a copy. */
export function sharedCopy(bytes: Uint8Array): Uint8Array {
  const shared = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  shared.set(bytes);
  return shared;
}

/**
 * Starts the worker. Built code runs `embedded-worker.js`. Source code (tests, tsx) has only
 * `embedded-worker.ts`, which a worker thread cannot load by itself on Node 20: it runs a
 * bundle of it, made once per process by tsx's compiler (esbuild), whose package imports are
 * absolute URLs (the bundle has no folder to resolve them from). Registering tsx's loader in
 * every worker instead cost ~0.3 s of CPU per store, and tests open hundreds of stores.
 */
async function spawn(data: EmbeddedWorkerData): Promise<Worker> {
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./embedded-worker.js', import.meta.url), { workerData: data });
  return new Worker(await sourceBundle(), { workerData: data });
}

/** The part of esbuild's API used here (esbuild is tsx's dependency, not ours). */
interface Esbuild {
  build(options: {
    entryPoints: string[];
    bundle: true;
    format: 'esm';
    platform: 'node';
    target: string;
    write: false;
    logLevel: 'silent';
    plugins: Array<{
      name: string;
      setup(build: { onResolve(options: { filter: RegExp }, resolve: (args: { path: string }) => { path: string; external: true }): void }): void;
    }>;
  }): Promise<{ outputFiles: Array<{ text: string }> }>;
}

let bundle: Promise<URL> | undefined;

function sourceBundle(): Promise<URL> {
  bundle ??= (async () => {
    const esbuild = createRequire(import.meta.resolve('tsx'))('esbuild') as Esbuild;
    const { outputFiles } = await esbuild.build({
      entryPoints: [fileURLToPath(new URL('./embedded-worker.ts', import.meta.url))],
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      write: false,
      logLevel: 'silent',
      plugins: [
        {
          name: 'absolute-packages',
          setup(build) {
            build.onResolve({ filter: /^[^./]/ }, (args) => ({ path: import.meta.resolve(args.path), external: true }));
          },
        },
      ],
    });
    return new URL(`data:text/javascript;base64,${Buffer.from(outputFiles[0].text).toString('base64')}`);
  })();
  bundle.catch(() => {
    bundle = undefined;
  });
  return bundle;
}
