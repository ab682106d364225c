import { GroundworkError } from '../kernel/errors.js';
import { jsonParam } from '../store/json-param.js';
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
  const { collection, existing } = await lockForSource(tx, tenantId, params.collection, document.source);
  for (const chunk of document.chunks) {
    if (chunk.embedding.length !== collection.dimensions) {
      throw new GroundworkError(
        'EMBEDDER_MISMATCH',
        `collection "${params.collection}" holds ${collection.dimensions}-dimensional vectors; got ${chunk.embedding.length}`,
        { details: { collection: params.collection, dimensions: collection.dimensions, got: chunk.embedding.length } },
      );
    }
  }
  if (existing && existing.status === 'ready' && existing.content_hash === document.contentHash) {
    return {
      result: { document: toDocument(params.collection, existing), outcome: 'unchanged' },
      effect: { collectionId: collection.id, documentId: existing.id },
    };
  }

  // One statement writes the document, its first chunks and the revision: PGlite pays
  // ~0.1–0.3 ms per statement, as much as ten chunks' rows.
  const documentId = existing?.id ?? newId('doc');
  const first = Math.min(CHUNK_BATCH, document.chunks.length);
  const write = existing
    ? `removed AS (DELETE FROM retrieval_chunks WHERE tenant_id = $1 AND collection_id = $2 AND document_id = $3),
       doc AS (UPDATE retrieval_documents
                  SET title = $4, format = $5, content_hash = $6, metadata = $7::jsonb, status = 'ready', error = NULL,
                      chunk_count = $8, bytes = $9, updated_at = clock_timestamp()
                WHERE tenant_id = $1 AND collection_id = $2 AND id = $3 AND source = $16
                RETURNING ${DOCUMENT_COLUMNS})`
    : `doc AS (INSERT INTO retrieval_documents (tenant_id, collection_id, id, title, format, content_hash, metadata, chunk_count, bytes, source, status)
               VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $16, 'ready')
               RETURNING ${DOCUMENT_COLUMNS})`;
  const [row] = await tx.query<DocumentRow & { revision: number | string; chunk_ids: Array<[number, number]> }>(
    `WITH ${write},
     chunks AS (${insertChunksSql(collection.dimensions, 7, 10)} RETURNING id, position),
     ${bumpCtes(17, 18)}
     SELECT doc.*, (SELECT revision FROM bumped) AS revision,
            (SELECT coalesce(jsonb_agg(jsonb_build_array(position, id)), '[]'::jsonb) FROM chunks) AS chunk_ids
       FROM doc`,
    [
      tenantId,
      collection.id,
      documentId,
      document.title,
      document.format,
      document.contentHash,
      jsonParam(document.metadata ?? {}),
      document.chunks.length,
      document.bytes,
      ...chunkParams(document, encoded, 0, first),
      document.source,
      existing ? 0 : 1,
      document.chunks.length - (existing?.chunk_count ?? 0),
    ],
  );
  const ids = new Map<number, number>(row.chunk_ids.map(([position, id]) => [Number(position), Number(id)]));
  for (let start = first; start < document.chunks.length; start += CHUNK_BATCH) {
    const rows = await tx.query<{ id: number | string; position: number }>(`${insertChunksSql(collection.dimensions, 4, 5)} RETURNING id, position`, [
      tenantId,
      collection.id,
      documentId,
      jsonParam(document.metadata ?? {}),
      ...chunkParams(document, encoded, start, start + CHUNK_BATCH),
    ]);
    for (const chunkRow of rows) ids.set(chunkRow.position, Number(chunkRow.id));
  }
  const { revision, chunk_ids: _, ...documentRow } = row;
  return {
    result: { document: toDocument(params.collection, documentRow), outcome: existing ? 'replaced' : 'created' },
    effect: {
      collectionId: collection.id,
      revision: Number(revision),
      documentId,
      chunks: document.chunks.map((draft, i) => ({ id: ids.get(draft.position) as number, draft, stored: encoded[i].stored })),
    },
  };
}

export async function recordFailedDocument(
  tx: SqlTransaction,
  params: { tenantId: string; collection: string; source: string; format: string; bytes: number; error: { code: string; message: string } },
): Promise<{ document: DocumentRecord; effect: WriteEffect }> {
  const { tenantId } = params;
  const { collection, existing } = await lockForSource(tx, tenantId, params.collection, params.source);
  const error = jsonParam({ code: params.error.code, message: params.error.message });
  const documentId = existing?.id ?? newId('doc');
  // The source now holds content that cannot be parsed: its old chunks no longer describe it.
  const write = existing
    ? `removed AS (DELETE FROM retrieval_chunks WHERE tenant_id = $1 AND collection_id = $2 AND document_id = $3),
       doc AS (UPDATE retrieval_documents
                  SET format = $4, content_hash = '', status = 'failed', error = $5::jsonb, chunk_count = 0, bytes = $6,
                      updated_at = clock_timestamp()
                WHERE tenant_id = $1 AND collection_id = $2 AND id = $3 AND source = $7
                RETURNING ${DOCUMENT_COLUMNS})`
    : `doc AS (INSERT INTO retrieval_documents (tenant_id, collection_id, id, format, error, bytes, source, title, content_hash, status)
               VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $7, '', 'failed')
               RETURNING ${DOCUMENT_COLUMNS})`;
  const [row] = await tx.query<DocumentRow & { revision: number | string }>(
    `WITH ${write}, ${bumpCtes(8, 9)}
     SELECT doc.*, (SELECT revision FROM bumped) AS revision FROM doc`,
    [tenantId, collection.id, documentId, params.format, error, params.bytes, params.source, existing ? 0 : 1, -(existing?.chunk_count ?? 0)],
  );
  const { revision, ...documentRow } = row;
  return { document: toDocument(params.collection, documentRow), effect: { collectionId: collection.id, revision: Number(revision), documentId } };
}

export async function deleteDocument(tx: SqlTransaction, params: { tenantId: string; collection: string; id: string }): Promise<WriteEffect | undefined> {
  const rows = await tx.query<LockedCollection>('SELECT id, dimensions FROM retrieval_collections WHERE tenant_id = $1 AND name = $2 FOR UPDATE', [
    params.tenantId,
    params.collection,
  ]);
  const collection = rows[0];
  if (!collection) return undefined;
  const [deleted] = await tx.query<{ chunk_count: number }>(
    'DELETE FROM retrieval_documents WHERE tenant_id = $1 AND collection_id = $2 AND id = $3 RETURNING chunk_count',
    [params.tenantId, collection.id, params.id],
  );
  if (!deleted) return undefined;
  await tx.query('DELETE FROM retrieval_chunks WHERE tenant_id = $1 AND collection_id = $2 AND document_id = $3', [params.tenantId, collection.id, params.id]);
  const [row] = await tx.query<{ revision: number | string }>(`WITH ${bumpCtes(4, 5)} SELECT revision FROM bumped`, [
    params.tenantId,
    collection.id,
    params.id,
    -1,
    -deleted.chunk_count,
  ]);
  return { collectionId: collection.id, revision: Number(row.revision), documentId: params.id };
}

/** Deletes a collection with everything in it; its id, or undefined when there was none. */
export async function deleteCollection(tx: SqlTransaction, tenantId: string, name: string): Promise<string | undefined> {
  // Documents and change rows go by cascade; chunks have no foreign key (see the migration).
  const [row] = await tx.query<{ id: string }>('DELETE FROM retrieval_collections WHERE tenant_id = $1 AND name = $2 RETURNING id', [tenantId, name]);
  if (!row) return undefined;
  await tx.query('DELETE FROM retrieval_chunks WHERE tenant_id = $1 AND collection_id = $2', [tenantId, row.id]);
  return row.id;
}

/**
 * Locks the collection row, then reads the document at `source`. Two statements on purpose:
 * under READ COMMITTED a statement that waited for the lock still joins other tables as of its
 * start, so a combined one could miss a document a concurrent writer just committed.
 */
async function lockForSource(
  tx: SqlTransaction,
  tenantId: string,
  name: string,
  source: string,
): Promise<{ collection: LockedCollection; existing?: DocumentRow }> {
  const [collection] = await tx.query<LockedCollection>('SELECT id, dimensions FROM retrieval_collections WHERE tenant_id = $1 AND name = $2 FOR UPDATE', [
    tenantId,
    name,
  ]);
  if (!collection) throw collectionNotFound(name);
  const [existing] = await tx.query<DocumentRow>(
    `SELECT ${DOCUMENT_COLUMNS} FROM retrieval_documents WHERE tenant_id = $1 AND collection_id = $2 AND source = $3`,
    [tenantId, collection.id, source],
  );
  return { collection, existing };
}

/** One batch of chunks as six parallel arrays (see insertChunksSql). */
function chunkParams(document: UpsertDocument, encoded: EncodedEmbedding[], start: number, end: number): unknown[] {
  const batch = document.chunks.slice(start, end);
  return [
    batch.map((c) => c.position),
    batch.map((c) => c.text),
    batch.map((c) => (c.headingPath.length === 0 ? '' : (jsonParam(c.headingPath) as string))),
    batch.map((c) => c.page ?? null),
    batch.map((c) => c.tokenCount),
    encoded.slice(start, end).map((e) => e.ints),
  ];
}

/** $1 tenant, $2 collection, $3 document, $<metadata>, then the six arrays from $<arrays>. */
function insertChunksSql(dimensions: number, metadata: number, arrays: number): string {
  const a = (i: number) => `$${arrays + i}`;
  return `INSERT INTO retrieval_chunks (tenant_id, collection_id, document_id, position, text, heading_path, page, token_count, metadata, embedding)
SELECT $1::text, $2::text, $3::text, u.position, u.text,
       CASE WHEN u.heading = '' THEN '{}'::text[] ELSE ARRAY(SELECT jsonb_array_elements_text(u.heading::jsonb)) END,
       u.page, u.token_count, $${metadata}::jsonb, u.embedding::int4[]::public.vector * ${scaleSql(dimensions)}
  FROM unnest(${a(0)}::int4[], ${a(1)}::text[], ${a(2)}::text[], ${a(3)}::int4[], ${a(4)}::int4[], ${a(5)}::text[])
       AS u(position, text, heading, page, token_count, embedding)`;
}

/** Bumps the revision and counters (by the given parameters) and records the changed document ($3). */
function bumpCtes(documentsParam: number, chunksParam: number): string {
  return `bumped AS (
       UPDATE retrieval_collections
          SET revision = revision + 1, document_count = document_count + $${documentsParam}::int,
              chunk_count = chunk_count + $${chunksParam}::int
        WHERE tenant_id = $1 AND id = $2
        RETURNING revision),
     change AS (
       INSERT INTO retrieval_changes (tenant_id, collection_id, document_id, revision)
       SELECT $1, $2, $3, revision FROM bumped
       ON CONFLICT (tenant_id, collection_id, document_id) DO UPDATE SET revision = EXCLUDED.revision)`;
}
