import { createHash } from 'node:crypto';
import type { EmbeddingModel } from '../embeddings/spec.js';
import { GroundworkError, isGroundworkError } from '../kernel/errors.js';
import type { DocumentRecord, RetrievalRepository, StoredChunk } from '../retrieval/ports.js';
import { chunkDocument } from './chunker.js';
import { parseDocument, type ParseLimits } from './parse.js';
import { sanitizeSource } from './source-path.js';
import type { ChunkingOptions } from './types.js';

/**
 * Ingestion: parse → chunk → embed → store, one document at a time. Each document gets
 * its own status; a document that fails is recorded with its typed error and the batch
 * goes on. A document whose content hash is unchanged is skipped before parsing.
 * Sources are sanitised here too (callers should already have: it is idempotent), so every
 * way in stores the same name; the same source twice in one call is a per-document
 * INGEST_DUPLICATE_SOURCE for the later ones, never a silent replace of the first.
 * Written as a plain async function over ports so the job queue can run it later.
 */

export interface IngestFile {
  /** Unique name within the collection: a relative path (see source-path.ts); re-ingesting it replaces it. */
  source: string;
  bytes: Uint8Array;
  mime?: string;
  metadata?: Record<string, unknown>;
  /** Already known to be unacceptable (e.g. an upload cut at the size limit): recorded as failed. */
  rejected?: GroundworkError;
}

export interface IngestOutcome {
  source: string;
  status: 'created' | 'replaced' | 'unchanged' | 'failed';
  document_id?: string;
  chunks: number;
  error?: { code: string; message: string };
}

export interface IngestDeps {
  repo: RetrievalRepository;
  embedder: EmbeddingModel;
  limits?: Partial<ParseLimits>;
  chunking?: Partial<ChunkingOptions>;
  /** Texts per embedding call. */
  embedBatch?: number;
}

export async function ingestFiles(deps: IngestDeps, tenantId: string, collection: string, files: IngestFile[], signal?: AbortSignal): Promise<IngestOutcome[]> {
  const outcomes: IngestOutcome[] = [];
  const seen = new Set<string>();
  for (const file of files) {
    if (signal?.aborted) break;
    const named = sanitizeSource(file.source);
    // Neither is recorded as a failed document: there is no name to record it under, or the
    // name belongs to the document this request just ingested.
    if (!named.ok) {
      outcomes.push(
        notIngested(file.source, new GroundworkError('REQUEST_INVALID_BODY', `source ${JSON.stringify(file.source.slice(0, 100))} ${named.problem}`)),
      );
    } else if (seen.has(named.source)) {
      outcomes.push(
        notIngested(
          named.source,
          new GroundworkError('INGEST_DUPLICATE_SOURCE', `${named.source} appears more than once in this request; only its first occurrence was ingested`),
        ),
      );
    } else {
      seen.add(named.source);
      outcomes.push(await ingestOne(deps, tenantId, collection, { ...file, source: named.source }, signal));
    }
  }
  return outcomes;
}

function notIngested(source: string, error: GroundworkError): IngestOutcome {
  return { source, status: 'failed', chunks: 0, error: { code: error.code, message: error.message } };
}

async function ingestOne(deps: IngestDeps, tenantId: string, collection: string, file: IngestFile, signal?: AbortSignal): Promise<IngestOutcome> {
  const contentHash = createHash('sha256')
    .update(file.bytes)
    .update(JSON.stringify(file.metadata ?? {}))
    .digest('hex');
  try {
    if (file.rejected) throw file.rejected;
    const parsed = await parseDocument({ filename: file.source, bytes: file.bytes, mime: file.mime, limits: deps.limits });
    const drafts = chunkDocument(parsed, deps.chunking);
    const vectors = await embedAll(
      deps,
      drafts.map((d) => contextualText(parsed.title, d.headingPath, d.text)),
      signal,
    );
    const chunks: StoredChunk[] = drafts.map((draft, i) => ({ ...draft, embedding: vectors[i] }));
    const result = await deps.repo.upsertDocument(tenantId, collection, {
      source: file.source,
      title: parsed.title ?? file.source,
      format: parsed.format,
      contentHash,
      metadata: file.metadata ?? {},
      bytes: file.bytes.length,
      chunks,
    });
    return { source: file.source, status: result.outcome, document_id: result.document.id, chunks: result.document.chunkCount };
  } catch (cause) {
    if (signal?.aborted) throw cause;
    const error = isGroundworkError(cause)
      ? cause
      : new GroundworkError('INGEST_PARSE_FAILED', `${file.source}: ${(cause as Error).message ?? 'ingestion failed'}`, { cause });
    // A store or embedder outage is not this document's fault: report it, record nothing,
    // so re-running the batch retries it.
    if (error.category !== 'user') return { source: file.source, status: 'failed', chunks: 0, error: { code: error.code, message: error.message } };
    const failed: DocumentRecord = await deps.repo.recordFailedDocument(tenantId, collection, {
      source: file.source,
      format: file.source.split('.').pop() ?? 'unknown',
      bytes: file.bytes.length,
      error: { code: error.code, message: error.message },
    });
    return { source: file.source, status: 'failed', document_id: failed.id, chunks: 0, error: { code: error.code, message: error.message } };
  }
}

/** What the embedder sees: the chunk with its title and heading path, so context survives chunking. */
function contextualText(title: string | undefined, headingPath: string[], text: string): string {
  const heading = [title, ...headingPath].filter(Boolean).join(' › ');
  return heading ? `${heading}\n${text}` : text;
}

async function embedAll(deps: IngestDeps, texts: string[], signal?: AbortSignal): Promise<Float32Array[]> {
  const batch = deps.embedBatch ?? 64;
  const vectors: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += batch) {
    try {
      const result = await deps.embedder.embed({ texts: texts.slice(i, i + batch), kind: 'document', signal });
      vectors.push(...result.vectors);
    } catch (cause) {
      if (signal?.aborted) throw cause;
      throw new GroundworkError('EMBEDDER_UNAVAILABLE', `embedder ${deps.embedder.id} failed: ${(cause as Error).message}`, { cause });
    }
  }
  return vectors;
}
