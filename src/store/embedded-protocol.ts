/**
 * Messages between the embedded store's client (the thread that serves requests) and the
 * worker thread that owns PGlite. Requests carry an id; each gets exactly one reply.
 */

export interface EmbeddedWorkerData {
  /** PGlite's folder, or 'memory://'. */
  dir: string;
  /** `search_path = <schema>, public` when set (already validated and quoted by the client). */
  searchPath?: string;
  /**
   * A data folder (PGlite's uncompressed tar dump) to start from instead of running initdb:
   * the migrated template of `memory://` stores (embedded-template.ts). Shared memory, not copied.
   */
  template?: Uint8Array;
  /**
   * A template file (the same tar) to unpack into `dir` before opening it: a new data folder's
   * (database.ts). Done in the worker, off the thread that is loading the server meanwhile.
   */
  unpack?: string;
}

/**
 * The worker's first message: PGlite's compiled WASM modules and file-system bundle, loaded
 * once per process and shared by every worker. Sent once compiled, not at spawn, so the
 * worker loads its code and unpacks a template meanwhile.
 */
export interface PgliteArtifacts {
  pgliteWasmModule: WebAssembly.Module;
  initdbWasmModule: WebAssembly.Module;
  /** pglite.data, in shared memory: every worker reads the same bytes without a copy per message. */
  fsBundle: Uint8Array;
}

export type EmbeddedRequest =
  | { id: number; op: 'query'; sql: string; params?: unknown[]; tx?: number }
  | { id: number; op: 'exec'; sql: string; tx?: number }
  /** Opens a transaction; the reply's value is its number, which later requests name in `tx`. */
  | { id: number; op: 'begin' }
  /** Commits (or rolls back) the transaction; replied once it has ended. */
  | { id: number; op: 'end'; tx: number; commit: boolean }
  /** Database.bulkLoad: setup statements, then COPY … FROM '/dev/blob' with each data, in one transaction. */
  | { id: number; op: 'bulk'; setup: string; copies: ReadonlyArray<{ sql: string; data: string }> }
  /** The whole data folder as an uncompressed tar (PGlite's dumpDataDir); the reply's value is a Uint8Array. */
  | { id: number; op: 'dump' }
  | { id: number; op: 'close' };

/** A database error as plain data: message, name and PostgreSQL's fields (code, detail, …). */
export interface SerializedError {
  message: string;
  name: string;
  fields: Record<string, string | number>;
}

export type EmbeddedReply = { id: number; ok: true; value?: unknown } | { id: number; ok: false; error: SerializedError };

/** The worker's first message: PGlite is open, or why it could not be. */
export type EmbeddedReady = { ready: true } | { ready: false; error: SerializedError };

export function serializeError(error: unknown): SerializedError {
  if (!(error instanceof Error)) return { message: String(error), name: 'Error', fields: {} };
  const fields: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(error)) {
    if (typeof value === 'string' || typeof value === 'number') fields[key] = value;
  }
  return { message: error.message, name: error.name, fields };
}

/** The error as the caller would have seen it in-thread: same message, name, code and details. */
export function deserializeError(error: SerializedError): Error {
  const rebuilt = Object.assign(new Error(error.message), error.fields);
  rebuilt.name = error.name;
  return rebuilt;
}
