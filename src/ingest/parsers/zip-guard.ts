import yauzl, { type Entry, type ZipFile } from 'yauzl';
import { describeError, ingestError } from './ingest-error.js';
import type { ParserContext } from './limits.js';

/** More entries than any real office document has; beyond it the directory itself is an attack. */
const MAX_ENTRIES = 10_000;
/** An entry over this size that also compresses better than MAX_RATIO is a bomb, not a document. */
const RATIO_CHECK_BYTES = 10 * 1024 * 1024;
const MAX_RATIO = 100;

/**
 * Checks a ZIP container before anything inflates it for real: the central directory's
 * declared sizes must stay under `maxDecompressedBytes` with no absurd compression ratio,
 * and then every entry is inflated once, counting and discarding bytes, to prove the
 * declared sizes are not lies. Returns the entry names and the contents of those in `keep`.
 */
export async function guardZip(
  bytes: Uint8Array,
  context: ParserContext,
  keep: readonly string[] = [],
): Promise<{ names: Set<string>; kept: Map<string, Buffer> }> {
  const { filename, limits } = context;
  let zip: ZipFile;
  try {
    zip = await yauzl.fromBufferPromise(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), {
      lazyEntries: true,
      autoClose: false,
      // We count inflated bytes ourselves, so a lie becomes a typed limit error.
      validateEntrySizes: false,
      strictFileNames: false,
    });
  } catch (error) {
    throw ingestError('INGEST_PARSE_FAILED', filename, `not a valid ZIP container: ${describeError(error)}`, { cause: error });
  }
  try {
    if (zip.entryCount > MAX_ENTRIES) {
      throw ingestError('INGEST_LIMIT_EXCEEDED', filename, `archive has ${zip.entryCount} entries, more than ${MAX_ENTRIES}`, {
        details: { entries: zip.entryCount },
      });
    }
    const entries = await listEntries(zip, filename);
    checkDeclaredSizes(entries, context);
    const kept = new Map<string, Buffer>();
    for (const entry of entries) {
      const content = await inflateCounted(zip, entry, filename, keep.includes(entry.fileName));
      if (content) kept.set(entry.fileName, content);
    }
    return { names: new Set(entries.map((entry) => entry.fileName)), kept };
  } finally {
    zip.close();
  }
}

function listEntries(zip: ZipFile, filename: string): Promise<Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: Entry[] = [];
    zip.on('entry', (entry: Entry) => {
      entries.push(entry);
      zip.readEntry();
    });
    zip.once('end', () => resolve(entries));
    zip.once('error', (error: unknown) =>
      reject(ingestError('INGEST_PARSE_FAILED', filename, `damaged ZIP directory: ${describeError(error)}`, { cause: error })),
    );
    zip.readEntry();
  });
}

function checkDeclaredSizes(entries: Entry[], { filename, limits }: ParserContext): void {
  const names = new Set<string>();
  let total = 0;
  for (const entry of entries) {
    // Two entries with one name let two ZIP readers disagree about which one is the document.
    if (names.has(entry.fileName)) {
      throw ingestError('INGEST_PARSE_FAILED', filename, `archive lists ${entry.fileName} twice`, { details: { entry: entry.fileName } });
    }
    names.add(entry.fileName);
    if (entry.isEncrypted()) {
      throw ingestError('INGEST_ENCRYPTED', filename, 'archive entries are encrypted', { details: { entry: entry.fileName } });
    }
    total += entry.uncompressedSize;
    const ratio = entry.uncompressedSize / Math.max(entry.compressedSize, 1);
    if (entry.uncompressedSize > RATIO_CHECK_BYTES && ratio > MAX_RATIO) {
      throw ingestError(
        'INGEST_LIMIT_EXCEEDED',
        filename,
        `${entry.fileName} would inflate ${Math.round(ratio)}:1 to ${entry.uncompressedSize} bytes (zip bomb?)`,
        { details: { entry: entry.fileName, uncompressedBytes: entry.uncompressedSize, compressedBytes: entry.compressedSize } },
      );
    }
    if (total > limits.maxDecompressedBytes) {
      throw ingestError('INGEST_LIMIT_EXCEEDED', filename, `archive inflates to more than the limit of ${limits.maxDecompressedBytes} bytes (zip bomb?)`, {
        details: { maxDecompressedBytes: limits.maxDecompressedBytes, entry: entry.fileName },
      });
    }
  }
}

/** Inflates one entry, stopping the moment it produces more than it declared. */
async function inflateCounted(zip: ZipFile, entry: Entry, filename: string, collect: boolean): Promise<Buffer | undefined> {
  let stream: NodeJS.ReadableStream & { destroy(): void };
  try {
    stream = (await zip.openReadStreamPromise(entry)) as typeof stream;
  } catch (error) {
    throw ingestError('INGEST_PARSE_FAILED', filename, `cannot read ${entry.fileName}: ${describeError(error)}`, { cause: error });
  }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let produced = 0;
    stream.on('data', (chunk: Buffer) => {
      produced += chunk.length;
      if (produced > entry.uncompressedSize) {
        stream.destroy();
        reject(
          ingestError('INGEST_LIMIT_EXCEEDED', filename, `${entry.fileName} inflates past its declared ${entry.uncompressedSize} bytes (zip bomb?)`, {
            details: { entry: entry.fileName, declaredBytes: entry.uncompressedSize },
          }),
        );
        return;
      }
      if (collect) chunks.push(chunk);
    });
    stream.on('error', (error: unknown) =>
      reject(ingestError('INGEST_PARSE_FAILED', filename, `damaged entry ${entry.fileName}: ${describeError(error)}`, { cause: error })),
    );
    stream.on('end', () => {
      if (produced !== entry.uncompressedSize) {
        reject(ingestError('INGEST_PARSE_FAILED', filename, `damaged entry ${entry.fileName}: size differs from the directory`));
      } else {
        resolve(collect ? Buffer.concat(chunks) : undefined);
      }
    });
  });
}
