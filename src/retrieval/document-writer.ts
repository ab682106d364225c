import { GroundworkError } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import type { SqlTransaction } from '../store/ports.js';
import { encodeEmbedding, scaleSql, type EncodedEmbedding } from './embedding-codec.js';
import type { DocumentRecord, UpsertDocument, UpsertResult } from './ports.js';
import { DOCUMENT_COLUMNS, toDocument, type DocumentRow } from './records.js';

/**
 * The write side of the repository, one transaction per call. Every write locks its
 * collection row first: writes to one collection are serialized, which keeps the document and
 * chunk counters exact and makes revisions commit in order (an index at revision r has seen
 * every change up to r). Chunks go in as one INSERT … SELECT FROM unnest(arrays) per 500 rows.
 */

export interface LockedCollection {
  id: string;
  dimensions: number;
}

/** A committed write, for the caller to apply to its in-process index. */
export interface WriteEffect {
  collectionId: string;
  /** Undefined when nothing changed (dedupe). */
  revision?: number;
  documentId: string;
  /** The document's metadata (upsert only; the caller fills it in). */
  metadata?: Record<string, unknown>;
  /** The inserted chunks (upsert only). */
  chunks?: Array<{ id: number; draft: UpsertDocument['chunks'][number]; stored: Float32Array }>;
}

const CHUNK_BATCH = 500;

export async function lockCollection(tx: SqlTransaction, tenantId: string, name: string): Promise<LockedCollection> {
  const rows = await tx.query<LockedCollection>(
    'SELECT id, dimensions FROM retrieval_collections WHERE tenant_id = $1 AND name = $2 FOR UPDATE',
    [tenantId, name],
  );
  if (!rows[0]) throw collectionNotFound(name);
  return rows[0];
}

export function collectionNotFound(name: string): GroundworkError {
  return new GroundworkError('COLLECTION_NOT_FOUND', `no collection named "${name}"`, { details: { collection: name } });
}

/** Encodes embeddings outside the transaction: CPU work should not hold the connection. */
export function encodeChunks(document: UpsertDocument): EncodedEmbedding[] {
  const positions = new Set<number>();
  for (const chunk of document.chunks) {
    if (positions.has(chunk.position)) {
      throw new GroundworkError('REQUEST_INVALID_BODY', `document "${document.source}" has two chunks at position ${chunk.position}`);
    }
    positions.add(chunk.position);
  }
  return document.chunks.map((chunk) => encodeEmbedding(chunk.embedding));
}

export async function upsertDocument(
  tx: SqlTransaction,
  params: { tenantId: string; collection: string; document: UpsertDocument; encoded: EncodedEmbedding[] },
): Promise<{ result: UpsertResult; effect: WriteEffect }> {
  const { tenantId, document, encoded } = params;
  const collection = await lockCollection(tx, tenantId, params.collection);
  for (const chunk of document.chunks) {
    if (chunk.embedding.length !== collection.dimensions) {
      throw new GroundworkError(
        'EMBEDDER_MISMATCH',
        `collection "${params.collection}" holds ${collection.dimensions}-dimensional vectors; got ${chunk.embedding.length}`,
        { details: { collection: params.collection, dimensions: collection.dimensions, got: chunk.embedding.length } },
      );
    }
  }
  const existing = await findBySource(tx, tenantId, collection.id, document.source);
  if (existing && existing.status === 'ready' && existing.content_hash === document.contentHash) {
    return {
      result: { document: toDocument(params.collection, existing), outcome: 'unchanged' },
      effect: { collectionId: collection.id, documentId: existing.id },
    };
  }

  const fields = [document.title, document.format, document.contentHash, JSON.stringify(document.metadata), document.chunks.length, document.bytes];
  let row: DocumentRow;
  if (existing) {
    await tx.query('DELETE FROM retrieval_chunks WHERE tenant_id = $1 AND collection_id = $2 AND document_id = $3', [tenantId, collection.id, existing.id]);
    [row] = await tx.query<DocumentRow>(
      `UPDATE retrieval_documents
          SET title = $4, format = $5, content_hash = $6, metadata = $7::jsonb, status = 'ready', error = NULL,
              chunk_count = $8, bytes = $9, updated_at = clock_timestamp()
        WHERE tenant_id = $1 AND collection_id = $2 AND id = $3
        RETURNING ${DOCUMENT_COLUMNS}`,
      [tenantId, collection.id, existing.id, ...fields],
    );
  } else {
    [row] = await tx.query<DocumentRow>(
      `INSERT INTO retrieval_documents (tenant_id, collection_id, id, source, title, format, content_hash, metadata, status, chunk_count, bytes)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, 'ready', $9, $10)
       RETURNING ${DOCUMENT_COLUMNS}`,
      [tenantId, collection.id, newId('doc'), document.source, ...fields],
    );
  }

  const ids = await insertChunks(tx, { tenantId, collection, documentId: row.id, document, encoded });
  const revision = await bump(tx, {
    tenantId,
    collectionId: collection.id,
    documentId: row.id,
    documents: existing ? 0 : 1,
    chunks: document.chunks.length - (existing?.chunk_count ?? 0),
  });
  return {
    result: { document: toDocument(params.collection, row), outcome: existing ? 'replaced' : 'created' },
    effect: {
      collectionId: collection.id,
      revision,
      documentId: row.id,
      chunks: document.chunks.map((draft, i) => ({ id: ids.get(draft.position) as number, draft, stored: encoded[i].stored })),
    },
  };
}

export async function recordFailedDocument(
  tx: SqlTransaction,
  params: { tenantId: string; collection: string; source: string; format: string; bytes: number; error: { code: string; message: string } },
): Promise<{ document: DocumentRecord; effect: WriteEffect }> {
  const { tenantId } = params;
  const collection = await lockCollection(tx, tenantId, params.collection);
  const existing = await findBySource(tx, tenantId, collection.id, params.source);
  const error = JSON.stringify({ code: params.error.code, message: params.error.message });
  let row: DocumentRow;
  if (existing) {
    // The source now holds content that cannot be parsed: its old chunks no longer describe it.
    await tx.query('DELETE FROM retrieval_chunks WHERE tenant_id = $1 AND collection_id = $2 AND document_id = $3', [tenantId, collection.id, existing.id]);
    [row] = await tx.query<DocumentRow>(
      `UPDATE retrieval_documents
          SET format = $4, content_hash = '', status = 'failed', error = $5::jsonb, chunk_count = 0, bytes = $6,
              updated_at = clock_timestamp()
        WHERE tenant_id = $1 AND collection_id = $2 AND id = $3
        RETURNING ${DOCUMENT_COLUMNS}`,
      [tenantId, collection.id, existing.id, params.format, error, params.bytes],
    );
  } else {
    [row] = await tx.query<DocumentRow>(
      `INSERT INTO retrieval_documents (tenant_id, collection_id, id, source, title, format, content_hash, status, error, bytes)
       VALUES ($1, $2, $3, $4, $4, $5, '', 'failed', $6::jsonb, $7)
       RETURNING ${DOCUMENT_COLUMNS}`,
      [tenantId, collection.id, newId('doc'), params.source, params.format, error, params.bytes],
    );
  }
  const revision = await bump(tx, {
    tenantId,
    collectionId: collection.id,
    documentId: row.id,
    documents: existing ? 0 : 1,
    chunks: -(existing?.chunk_count ?? 0),
  });
  return { document: toDocument(params.collection, row), effect: { collectionId: collection.id, revision, documentId: row.id } };
}

export async function deleteDocument(
  tx: SqlTransaction,
  params: { tenantId: string; collection: string; id: string },
): Promise<WriteEffect | undefined> {
  const rows = await tx.query<LockedCollection>(
    'SELECT id, dimensions FROM retrieval_collections WHERE tenant_id = $1 AND name = $2 FOR UPDATE',
    [params.tenantId, params.collection],
  );
  const collection = rows[0];
  if (!collection) return undefined;
  // Chunks go with their document (ON DELETE CASCADE).
  const [deleted] = await tx.query<{ chunk_count: number }>(
    'DELETE FROM retrieval_documents WHERE tenant_id = $1 AND collection_id = $2 AND id = $3 RETURNING chunk_count',
    [params.tenantId, collection.id, params.id],
  );
  if (!deleted) return undefined;
  const revision = await bump(tx, {
    tenantId: params.tenantId,
    collectionId: collection.id,
    documentId: params.id,
    documents: -1,
    chunks: -deleted.chunk_count,
  });
  return { collectionId: collection.id, revision, documentId: params.id };
}

async function findBySource(tx: SqlTransaction, tenantId: string, collectionId: string, source: string): Promise<DocumentRow | undefined> {
  const rows = await tx.query<DocumentRow>(
    `SELECT ${DOCUMENT_COLUMNS} FROM retrieval_documents WHERE tenant_id = $1 AND collection_id = $2 AND source = $3`,
    [tenantId, collectionId, source],
  );
  return rows[0];
}

async function insertChunks(
  tx: SqlTransaction,
  params: { tenantId: string; collection: LockedCollection; documentId: string; document: UpsertDocument; encoded: EncodedEmbedding[] },
): Promise<Map<number, number>> {
  const { document, encoded } = params;
  const ids = new Map<number, number>();
  const sql = `
INSERT INTO retrieval_chunks (tenant_id, collection_id, document_id, position, text, heading_path, page, token_count, metadata, embedding)
SELECT $1, $2, $3, u.position, u.text,
       CASE WHEN u.heading = '[]' THEN '{}'::text[] ELSE ARRAY(SELECT jsonb_array_elements_text(u.heading::jsonb)) END,
       u.page, u.token_count, $4::jsonb, u.embedding::int4[]::public.vector * ${scaleSql(params.collection.dimensions)}
  FROM unnest($5::int4[], $6::text[], $7::text[], $8::int4[], $9::int4[], $10::text[])
       AS u(position, text, heading, page, token_count, embedding)
RETURNING id, position`;
  const metadata = JSON.stringify(document.metadata);
  for (let start = 0; start < document.chunks.length; start += CHUNK_BATCH) {
    const batch = document.chunks.slice(start, start + CHUNK_BATCH);
    const rows = await tx.query<{ id: number | string; position: number }>(sql, [
      params.tenantId,
      params.collection.id,
      params.documentId,
      metadata,
      batch.map((c) => c.position),
      batch.map((c) => c.text),
      batch.map((c) => JSON.stringify(c.headingPath)),
      batch.map((c) => c.page ?? null),
      batch.map((c) => c.tokenCount),
      encoded.slice(start, start + CHUNK_BATCH).map((e) => e.ints),
    ]);
    for (const row of rows) ids.set(row.position, Number(row.id));
  }
  return ids;
}

async function bump(
  tx: SqlTransaction,
  params: { tenantId: string; collectionId: string; documentId: string; documents: number; chunks: number },
): Promise<number> {
  const [row] = await tx.query<{ revision: number | string }>(
    `WITH bumped AS (
       UPDATE retrieval_collections
          SET revision = revision + 1, document_count = document_count + $4, chunk_count = chunk_count + $5
        WHERE tenant_id = $1 AND id = $2
        RETURNING revision)
     INSERT INTO retrieval_changes (tenant_id, collection_id, document_id, revision)
     SELECT $1, $2, $3, revision FROM bumped
     ON CONFLICT (tenant_id, collection_id, document_id) DO UPDATE SET revision = EXCLUDED.revision
     RETURNING revision`,
    [params.tenantId, params.collectionId, params.documentId, params.documents, params.chunks],
  );
  return Number(row.revision);
}
