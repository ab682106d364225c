import { GroundworkError } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import type { Database } from '../store/ports.js';
import { countTerms } from './analyzer.js';
import * as writer from './document-writer.js';
import { compileFilter } from './filters.js';
import { IndexCache, lexicalText, type IndexCacheOptions } from './index-cache.js';
import type { Reranker, RetrievalRepository, SearchHit, SearchQuery } from './ports.js';
import {
  COLLECTION_COLUMNS,
  DOCUMENT_COLUMNS,
  HIT_SQL,
  toCollection,
  toDocument,
  toHitBase,
  type CollectionRow,
  type DocumentRow,
  type HitRow,
} from './records.js';
import { DEFAULT_RANKING, defaultFusion, rankChunks, type RankedChunk, type RankingOptions } from './search.js';
import { statisticsKeeper } from './statistics.js';

/**
 * Retrieval over one SQL dialect for both stores. Rows (collections, documents, chunks with
 * their `vector` embeddings) live in the database; ranking runs over an in-process index
 * that caches them (index-cache.ts), because measured on PGlite (2 cores, 100k chunks):
 *   - SQL postings for BM25 insert at ~76,000 rows/s, i.e. ~500 chunks/s at ~150 terms/chunk,
 *     half the ingest target before anything else is stored;
 *   - an exact `ORDER BY embedding <=> q` scans 20k vectors in ~60 ms (~300 ms at 100k), and an
 *     HNSW build over 100k × 384 takes 139 s;
 * while the in-process index answers BM25 + exact cosine over 100k chunks in milliseconds.
 * Every search first reads the collection's revision, so an index never serves data older
 * than the database; writes are transactional in SQL and only then applied to the cache.
 */

export interface RetrievalRepositoryOptions {
  /** Reorders the fused candidates when given (the top `rerankDepth`, default 3k, then cut to k). */
  reranker?: Reranker;
  rerankDepth?: number;
  /** BM25 and fusion parameters; fusion defaults by the collection's embedder (defaultFusion). */
  ranking?: Partial<RankingOptions>;
  cache?: IndexCacheOptions;
}

const MAX_K = 1_000;
const MAX_LIST = 1_000;

export function createRetrievalRepository(db: Database, options: RetrievalRepositoryOptions = {}): RetrievalRepository {
  const cache = new IndexCache(db, options.cache);
  const ranking = { ...DEFAULT_RANKING, ...options.ranking };
  const fusionFor = (embedder: string) => options.ranking?.fusion ?? defaultFusion(embedder);
  const keepStatistics = statisticsKeeper(db);

  /** Applies a committed write to this process's index when it was exactly one revision behind. */
  function apply(tenantId: string, effect: writer.WriteEffect, title?: string): void {
    if (effect.revision === undefined) return;
    const index = cache.accepts(tenantId, effect.collectionId, effect.revision);
    if (!index) return;
    try {
      if (effect.chunks === undefined || title === undefined) {
        index.removeDocument(effect.documentId);
      } else {
        index.putDocument({
          id: effect.documentId,
          metadata: effect.metadata ?? {},
          chunks: effect.chunks.map((chunk) => ({
            id: chunk.id,
            counts: countTerms(lexicalText(title, chunk.draft.headingPath, chunk.draft.text)),
            vector: chunk.stored,
          })),
        });
      }
      index.revision = effect.revision;
    } catch (error) {
      // The database is right; an index we failed to update is dropped and reloaded on demand.
      cache.drop(tenantId, effect.collectionId);
      throw error;
    }
  }

  async function collectionRow(tenantId: string, name: string): Promise<CollectionRow> {
    const rows = await db.query<CollectionRow>(`SELECT ${COLLECTION_COLUMNS} FROM retrieval_collections WHERE tenant_id = $1 AND name = $2`, [tenantId, name]);
    if (!rows[0]) throw writer.collectionNotFound(name);
    return rows[0];
  }

  return {
    async createCollection(tenantId, params) {
      if (!Number.isInteger(params.dimensions) || params.dimensions < 1 || params.dimensions > 16_000) {
        throw new GroundworkError('REQUEST_INVALID_BODY', `dimensions must be an integer from 1 to 16000, got ${params.dimensions}`);
      }
      const rows = await db.query<CollectionRow>(
        `INSERT INTO retrieval_collections (tenant_id, id, name, description, embedder, dimensions)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (tenant_id, name) DO NOTHING
         RETURNING ${COLLECTION_COLUMNS}`,
        [tenantId, newId('col'), params.name, params.description, params.embedder, params.dimensions],
      );
      if (!rows[0]) {
        throw new GroundworkError('COLLECTION_EXISTS', `collection "${params.name}" already exists`, { details: { collection: params.name } });
      }
      cache.seed({ tenantId, id: rows[0].id, dimensions: rows[0].dimensions, revision: Number(rows[0].revision) });
      return toCollection(rows[0]);
    },

    async listCollections(tenantId) {
      const rows = await db.query<CollectionRow>(`SELECT ${COLLECTION_COLUMNS} FROM retrieval_collections WHERE tenant_id = $1 ORDER BY name`, [tenantId]);
      return rows.map(toCollection);
    },

    async getCollection(tenantId, name) {
      const rows = await db.query<CollectionRow>(`SELECT ${COLLECTION_COLUMNS} FROM retrieval_collections WHERE tenant_id = $1 AND name = $2`, [
        tenantId,
        name,
      ]);
      return rows[0] ? toCollection(rows[0]) : undefined;
    },

    async deleteCollection(tenantId, name) {
      const id = await db.transaction((tx) => writer.deleteCollection(tx, tenantId, name));
      if (id === undefined) return false;
      cache.drop(tenantId, id);
      return true;
    },

    async upsertDocument(tenantId, collection, document) {
      const encoded = writer.encodeChunks(document);
      const { result, effect } = await db.transaction((tx) => writer.upsertDocument(tx, { tenantId, collection, document, encoded }));
      apply(tenantId, { ...effect, metadata: document.metadata }, document.title);
      if (effect.revision !== undefined) await keepStatistics(document.chunks.length + 1);
      return result;
    },

    async recordFailedDocument(tenantId, collection, params) {
      const { document, effect } = await db.transaction((tx) => writer.recordFailedDocument(tx, { tenantId, collection, ...params }));
      apply(tenantId, effect);
      return document;
    },

    async listDocuments(tenantId, collection, options) {
      const { id } = await collectionRow(tenantId, collection);
      const limit = Math.min(Math.max(Math.trunc(options.limit) || 1, 1), MAX_LIST);
      const rows = await db.query<DocumentRow>(
        `SELECT ${DOCUMENT_COLUMNS} FROM retrieval_documents
          WHERE tenant_id = $1 AND collection_id = $2 AND ($3::text IS NULL OR id > $3::text)
          ORDER BY id LIMIT ${limit}`,
        [tenantId, id, options.after ?? null],
      );
      return rows.map((row) => toDocument(collection, row));
    },

    async getDocument(tenantId, collection, id) {
      const rows = await db.query<DocumentRow>(
        `SELECT ${DOCUMENT_COLUMNS.split(', ')
          .map((c) => `d.${c}`)
          .join(', ')}
           FROM retrieval_documents d
           JOIN retrieval_collections c ON c.tenant_id = d.tenant_id AND c.id = d.collection_id
          WHERE d.tenant_id = $1 AND c.name = $2 AND d.id = $3`,
        [tenantId, collection, id],
      );
      return rows[0] ? toDocument(collection, rows[0]) : undefined;
    },

    async deleteDocument(tenantId, collection, id) {
      const effect = await db.transaction((tx) => writer.deleteDocument(tx, { tenantId, collection, id }));
      if (!effect) return false;
      apply(tenantId, effect);
      return true;
    },

    async search(tenantId, query) {
      return search(tenantId, query);
    },
  };

  async function search(tenantId: string, query: SearchQuery): Promise<SearchHit[]> {
    const k = Math.min(Math.max(Math.trunc(query.k) || 1, 1), MAX_K);
    const filter = compileFilter(query.filters);
    const row = await collectionRow(tenantId, query.collection);
    if (query.mode !== 'lexical') checkVector(query, row);
    const index = await cache.fresh({ tenantId, id: row.id, dimensions: row.dimensions, revision: Number(row.revision) });
    const depth = options.reranker ? Math.max(k, options.rerankDepth ?? 3 * k) : k;
    const ranked = rankChunks(
      index,
      { query: query.query, queryVector: query.queryVector, mode: query.mode, filter, mmrLambda: query.mmrLambda, limit: depth },
      { ...ranking, fusion: fusionFor(row.embedder) },
    );
    let hits = await fetchHits(tenantId, row.id, ranked);
    if (options.reranker) hits = (await options.reranker.rerank(query.query, hits)).slice(0, k);
    return hits;
  }

  async function fetchHits(tenantId: string, collectionId: string, ranked: RankedChunk[]): Promise<SearchHit[]> {
    if (ranked.length === 0) return [];
    const rows = await db.query<HitRow>(HIT_SQL, [tenantId, collectionId, ranked.map((r) => r.chunkId)]);
    const byId = new Map(rows.map((r) => [Number(r.id), r]));
    const hits: SearchHit[] = [];
    for (const item of ranked) {
      const row = byId.get(item.chunkId);
      // Deleted by a write that committed after the revision we read: skip it.
      if (!row) continue;
      hits.push({
        ...toHitBase(row),
        score: item.score,
        ...(item.lexicalScore === undefined ? {} : { lexicalScore: item.lexicalScore, lexicalRank: item.lexicalRank }),
        ...(item.vectorScore === undefined ? {} : { vectorScore: item.vectorScore, vectorRank: item.vectorRank }),
      });
    }
    return hits;
  }
}

function checkVector(query: SearchQuery, collection: CollectionRow): void {
  if (!query.queryVector) {
    throw new GroundworkError('REQUEST_INVALID_BODY', `${query.mode} search needs the query embedded with the collection's embedder`, {
      details: { issues: [{ path: 'queryVector', message: 'required for vector and hybrid search' }] },
    });
  }
  if (query.queryVector.length !== collection.dimensions) {
    throw new GroundworkError(
      'EMBEDDER_MISMATCH',
      `collection "${collection.name}" holds ${collection.dimensions}-dimensional vectors (${collection.embedder}); the query vector has ${query.queryVector.length}`,
      { details: { collection: collection.name, collection_embedder: collection.embedder, dimensions: collection.dimensions, got: query.queryVector.length } },
    );
  }
}
