import { mkdirSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite, type Transaction } from '@electric-sql/pglite';
import { vector } from '@electric-sql/pglite-pgvector';
import { extract } from 'tar';
import {
  serializeError,
  type EmbeddedReady,
  type EmbeddedReply,
  type EmbeddedRequest,
  type EmbeddedWorkerData,
  type PgliteArtifacts,
} from './embedded-protocol.js';

/**
 * The worker thread that owns the embedded PGlite. PGlite runs Postgres in WASM and every
 * statement blocks the thread it runs on; here that is this thread, not the one serving
 * HTTP, so a large ingestion batch or a burst of run records does not stall responses, and
 * on a multi-core machine the database work runs beside the request work.
 *
 * Statement order and transaction isolation are PGlite's own: its queries are serialized,
 * and a transaction holds PGlite exclusively until its `end` arrives (requests outside it
 * wait, as they would in-thread).
 */

const port = parentPort!;
const options = workerData as EmbeddedWorkerData;

const reply = (message: EmbeddedReply) => port.postMessage(message);
const fail = (id: number, error: unknown) => reply({ id, ok: false, error: serializeError(error) });
/** Replies to request `id` with what `work` resolves to, or with its error. */
const answer = (id: number, work: Promise<unknown>) =>
  work.then(
    (value) => reply({ id, ok: true, value }),
    (error: unknown) => fail(id, error),
  );

/** Open transactions by number, each waiting for its `end` request. */
const transactions = new Map<number, { tx: Transaction; end: (commit: boolean, replyId: number) => void }>();
let nextTransaction = 1;

/** Thrown inside a transaction's callback to make PGlite roll it back. */
const ROLLBACK = Symbol('rollback');

/**
 * A Blob over bytes already in memory whose `arrayBuffer()` is one copy. PGlite reads its
 * file-system bundle and a `loadDataDir` tarball only through `arrayBuffer()`, and Node 20's
 * reads a Blob in small chunks and concatenates them: ~0.1 s per store for the 6 MB bundle,
 * ~0.4 s for a 41 MB template. The other methods answer from a real Blob, made when asked.
 */
class BytesBlob extends Blob {
  readonly #bytes: Uint8Array;
  #whole: Blob | undefined;
  constructor(bytes: Uint8Array) {
    super();
    this.#bytes = bytes;
  }
  override get size(): number {
    return this.#bytes.byteLength;
  }
  override arrayBuffer(): Promise<ArrayBuffer> {
    // A private copy: the bytes are shared with other stores, and PGlite's file system may
    // keep (and write into) the buffer it is given.
    return Promise.resolve(this.#bytes.slice().buffer as ArrayBuffer);
  }
  override slice(start?: number, end?: number, type?: string): Blob {
    return this.#blob().slice(start, end, type);
  }
  override stream(): ReturnType<Blob['stream']> {
    return this.#blob().stream();
  }
  override text(): Promise<string> {
    return this.#blob().text();
  }
  #blob(): Blob {
    return (this.#whole ??= new Blob([this.#bytes.slice()]));
  }
}

/**
 * PostgreSQL's buffer pool. initdb writes 128 MB into postgresql.conf, and in WASM the whole
 * pool is touched at start: an idle embedded server held ~130 MB more than with this. Pages
 * not in the pool are one read of the operating system's page cache away (NODEFS), and the
 * embedded store's hot paths (run records, the retrieval index) do not scan tables.
 */
const SHARED_BUFFERS = '8MB';

/**
 * Writes a template (PGlite's uncompressed tar of a data folder) into `dir`, as PGlite's
 * `loadDataDir` would, but with node-tar's plain file-system calls: ~0.4 s for the ~1,100
 * files, where PGlite writes them through its emulated file system (~2 s here). Synchronous:
 * this thread has nothing else to do yet. node-tar writes under `dir` only (it strips the
 * archive's leading "/" and refuses ".." and writing through links).
 */
function unpackTemplate(file: string, dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Not `strict`, which fails on the notice about every entry's leading "/"; any other
  // warning (a bad entry, a failed write) fails the unpacking.
  const problems: string[] = [];
  extract({
    file,
    cwd: dir,
    sync: true,
    preserveOwner: false,
    noMtime: true,
    // Read in small slices: the default (16 MB) reads left this thread's heap ~25 MB larger for
    // the life of the process (idle RSS after a first start); 256 KB slices are as fast.
    maxReadSize: 256 * 1024,
    onwarn: (code, message) => {
      if (code !== 'TAR_ENTRY_INFO') problems.push(`${code}: ${String(message)}`);
    },
  });
  if (problems.length > 0) throw new Error(`the template ${file} did not unpack: ${problems.slice(0, 3).join('; ')}`);
}

let pg: PGlite;
try {
  if (options.unpack) unpackTemplate(options.unpack, options.dir);
  const { pgliteWasmModule, initdbWasmModule, fsBundle } = await new Promise<PgliteArtifacts>((resolve) => port.once('message', resolve));
  pg = await PGlite.create(options.dir, {
    extensions: { vector },
    pgliteWasmModule,
    initdbWasmModule,
    fsBundle: new BytesBlob(fsBundle),
    // A migrated template instead of initdb (memory stores only: see embedded-template.ts).
    loadDataDir: options.template && new BytesBlob(options.template),
    startParams: [...PGlite.defaultStartParams, '-c', `shared_buffers=${SHARED_BUFFERS}`],
  });
  if (options.searchPath) await pg.exec(`SET search_path TO ${options.searchPath}`);
  port.postMessage({ ready: true } satisfies EmbeddedReady);
} catch (error) {
  port.postMessage({ ready: false, error: serializeError(error) } satisfies EmbeddedReady);
  process.exit(0);
}

port.on('message', (request: EmbeddedRequest) => {
  switch (request.op) {
    case 'query':
    case 'exec': {
      const target = request.tx === undefined ? pg : transactions.get(request.tx)?.tx;
      if (!target) return fail(request.id, new Error(`transaction ${request.tx} is not open`));
      if (request.op === 'query')
        answer(
          request.id,
          target.query(request.sql, request.params).then((result) => result.rows),
        );
      else
        answer(
          request.id,
          target.exec(request.sql).then(() => undefined),
        );
      return;
    }
    case 'begin':
      begin(request.id);
      return;
    case 'end': {
      const open = transactions.get(request.tx);
      if (!open) return fail(request.id, new Error(`transaction ${request.tx} is not open`));
      open.end(request.commit, request.id);
      return;
    }
    case 'bulk': {
      const { setup, copies } = request;
      answer(
        request.id,
        pg.transaction(async (tx) => {
          await tx.exec(setup);
          for (const copy of copies) await tx.query(copy.sql, [], { blob: new Blob([copy.data]) });
        }),
      );
      return;
    }
    case 'dump':
      answer(
        request.id,
        pg.dumpDataDir('none').then(async (tar) => new Uint8Array(await tar.arrayBuffer())),
      );
      return;
    case 'close':
      answer(request.id, pg.close());
      return;
  }
});

function begin(beginId: number): void {
  const number = nextTransaction++;
  let endId = -1;
  let began = false;
  pg.transaction(async (tx) => {
    const commit = await new Promise<boolean>((resolve) => {
      transactions.set(number, {
        tx,
        end: (value, replyId) => {
          endId = replyId;
          resolve(value);
        },
      });
      began = true;
      reply({ id: beginId, ok: true, value: number });
    });
    transactions.delete(number);
    if (!commit) throw ROLLBACK;
  }).then(
    () => reply({ id: endId, ok: true }),
    (error: unknown) => {
      transactions.delete(number);
      if (!began) fail(beginId, error);
      else if (error === ROLLBACK) reply({ id: endId, ok: true });
      else fail(endId, error);
    },
  );
}
