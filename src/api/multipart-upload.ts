import type { FastifyRequest } from 'fastify';
import type { IngestFile } from '../ingest/pipeline.js';
import { sanitizeSource } from '../ingest/source-path.js';
import { GroundworkError, isGroundworkError } from '../kernel/errors.js';
import { metadataSchema } from './schemas.js';
import { parseOrThrow } from './validate.js';

/** What one multipart ingest request may hold. */
export interface UploadLimits {
  /** Per file, and for the files of one request together. */
  bytes: number;
  /** Files in one request. */
  files: number;
}

/**
 * The parts' buffer size. busboy (3.2.6) stalls for ever when one write into a part it skips
 * (a part without Content-Disposition, say) passes the part's high-water mark: the part ends
 * while the parser waits for a read that never comes, and the request never gets an answer
 * (found by the fuzz suite). A socket delivers at most 64 KiB per read, so with 1 MiB no
 * single write can pass it.
 */
const PART_HIGH_WATER_MARK = 1024 * 1024;

/** Only `metadata` is read; the others are skipped but still bounded. */
const MAX_FIELDS = 10;
const MAX_FIELD_BYTES = 64 * 1024;

/**
 * The files of a multipart ingest request, read as they stream in. Each file's source is its
 * sanitised client path (the folder kept: `a/README.md` and `b/README.md` are two documents).
 * A file over the per-file limit is cut (not thrown) so it fails alone; its bytes up to the
 * cut count toward the request total, and the moment that total passes the limit reading
 * stops with a 413 (nothing of the request is ingested: ingestion starts only once the whole
 * form has been read). A client that goes away mid-upload is a typed CLIENT_DISCONNECTED.
 */
export async function multipartFiles(request: FastifyRequest, limits: UploadLimits): Promise<IngestFile[]> {
  const files: Array<Omit<IngestFile, 'metadata'>> = [];
  let metadata: Record<string, unknown> | undefined;
  let total = 0;
  // Gone before reading began (during authentication, say): the parser would wait forever on a
  // stream that has already closed.
  if (disconnected(request)) throw clientDisconnected(undefined);
  try {
    const parts = request.parts({
      preservePath: true,
      fileHwm: PART_HIGH_WATER_MARK,
      limits: { fileSize: limits.bytes, files: limits.files, fields: MAX_FIELDS, fieldSize: MAX_FIELD_BYTES },
    });
    for await (const part of parts) {
      if (part.type === 'file') {
        const source = sourceOf(part.filename, files.length);
        const chunks: Buffer[] = [];
        for await (const chunk of part.file as AsyncIterable<Buffer>) {
          total += chunk.length;
          // Throwing here destroys the file stream: busboy stops, the socket is no longer read,
          // and the error handler answers with `connection: close`.
          if (total > limits.bytes) throw requestTooLarge(limits.bytes);
          chunks.push(chunk);
        }
        const rejected = part.file.truncated
          ? new GroundworkError('INGEST_FILE_TOO_LARGE', `${source} is larger than the upload limit of ${limits.bytes} bytes`)
          : undefined;
        files.push({ source, bytes: rejected ? new Uint8Array(0) : new Uint8Array(Buffer.concat(chunks)), mime: part.mimetype, rejected });
      } else if (part.fieldname === 'metadata') {
        metadata = parseMetadata(String(part.value), part.valueTruncated);
      }
    }
  } catch (error) {
    if (disconnected(request)) throw clientDisconnected(error);
    if ((error as { code?: unknown }).code === 'FST_FILES_LIMIT') {
      throw new GroundworkError('REQUEST_TOO_MANY_FILES', `one upload may hold at most ${limits.files} files (upload_max_files)`, {
        details: { limit: limits.files },
      });
    }
    // The plugin's own limit errors carry a status the error handler maps; a bare stream error
    // here ("Premature close", "Unexpected end of form") means the body itself was malformed.
    if (isGroundworkError(error) || typeof (error as { statusCode?: unknown }).statusCode === 'number') throw error;
    throw new GroundworkError('REQUEST_INVALID_BODY', `the multipart body is malformed or ends before its closing boundary (${(error as Error).message})`, {
      cause: error,
      details: { issues: [{ path: 'body', message: 'malformed multipart body' }] },
    });
  }
  // @fastify/multipart ends the parts quietly when the request closes early: never ingest half a form.
  if (disconnected(request)) throw clientDisconnected(undefined);
  if (files.length === 0)
    throw new GroundworkError('REQUEST_INVALID_BODY', 'multipart upload has no file parts', { details: { issues: [{ path: 'body', message: 'no files' }] } });
  return files.map((f) => ({ ...f, metadata }));
}

/** The file's sanitised path; a part without a file name is numbered. */
function sourceOf(filename: string | undefined, index: number): string {
  if (!filename) return `upload-${index + 1}`;
  const named = sanitizeSource(filename);
  if (named.ok) return named.source;
  throw new GroundworkError('REQUEST_INVALID_BODY', `file name of part ${index + 1} ${named.problem}`, {
    details: { issues: [{ path: `body/files/${index}/filename`, message: named.problem }] },
  });
}

function parseMetadata(text: string, truncated: boolean): Record<string, unknown> {
  const issue = (message: string) =>
    new GroundworkError('REQUEST_INVALID_BODY', `multipart field "metadata" ${message}`, { details: { issues: [{ path: 'body/metadata', message }] } });
  if (truncated) throw issue(`must be at most ${MAX_FIELD_BYTES} bytes`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw issue('must be a JSON object');
  }
  return parseOrThrow(metadataSchema, value, 'metadata');
}

function requestTooLarge(limit: number): GroundworkError {
  return new GroundworkError('REQUEST_BODY_TOO_LARGE', `the files of one upload may total at most ${limit} bytes (upload_limit_bytes); nothing was ingested`, {
    details: { limit_bytes: limit },
  });
}

/** The request stream ended before the form did because the client went away. */
function disconnected(request: FastifyRequest): boolean {
  const raw = request.raw;
  return raw.aborted || (raw.destroyed && !raw.complete);
}

function clientDisconnected(cause: unknown): GroundworkError {
  if (isGroundworkError(cause) && cause.code === 'CLIENT_DISCONNECTED') return cause;
  return new GroundworkError('CLIENT_DISCONNECTED', 'the client went away during the upload; nothing was ingested', { cause });
}
