/**
 * Retrieval contracts: collections of documents split into chunks, indexed for hybrid
 * search (BM25-style lexical + vector, fused). Every method is tenant-scoped.
 */

import type { ChunkDraft } from '../ingest/types.js';

export interface Collection {
  name: string;
  description: string;
  /** Identity of the embedder whose vectors the collection holds (EmbeddingModel.id). */
  embedder: string;
  dimensions: number;
  documentCount: number;
  chunkCount: number;
  createdAt: Date;
}

export type DocumentStatus = 'ready' | 'failed';

export interface DocumentRecord {
  id: string;
  collection: string;
  /** Where it came from: a file path, URL or caller-given name. Unique per collection. */
  source: string;
  title: string;
  format: string;
  contentHash: string;
  metadata: Record<string, unknown>;
  status: DocumentStatus;
  /** For failed documents: the typed error. */
  error?: { code: string; message: string };
  chunkCount: number;
  bytes: number;
  createdAt: Date;
  updatedAt: Date;
}

export interface StoredChunk extends ChunkDraft {
  embedding: Float32Array;
}

export interface UpsertDocument {
  source: string;
  title: string;
  format: string;
  contentHash: string;
  metadata: Record<string, unknown>;
  bytes: number;
  chunks: StoredChunk[];
}

export interface UpsertResult {
  document: DocumentRecord;
  /** created: new source; replaced: same source, new content; unchanged: same content hash. */
  outcome: 'created' | 'replaced' | 'unchanged';
}

/** Metadata filter: every key must match (equality, or any of a list of values). */
export type MetadataFilter = Record<string, string | number | boolean | Array<string | number | boolean>>;

export interface SearchQuery {
  collection: string;
  query: string;
  /** Query embedding (computed by the caller with the collection's embedder); required for vector/hybrid. */
  queryVector?: Float32Array;
  k: number;
  mode: 'hybrid' | 'lexical' | 'vector';
  filters?: MetadataFilter;
  /** Maximal marginal relevance over the candidates: 1 = pure relevance, 0 = pure diversity. */
  mmrLambda?: number;
}

export interface SearchHit {
  chunkId: string;
  documentId: string;
  source: string;
  title: string;
  text: string;
  headingPath: string[];
  page?: number;
  position: number;
  metadata: Record<string, unknown>;
  /** Fused score (reciprocal rank fusion for hybrid), higher is better. */
  score: number;
  lexicalScore?: number;
  vectorScore?: number;
  lexicalRank?: number;
  vectorRank?: number;
}

/** Optional second-stage reranker (cross-encoder, LLM…): reorders the candidates. */
export interface Reranker {
  readonly id: string;
  rerank(query: string, hits: SearchHit[], signal?: AbortSignal): Promise<SearchHit[]>;
}

export interface RetrievalRepository {
  createCollection(tenantId: string, params: { name: string; description: string; embedder: string; dimensions: number }): Promise<Collection>;
  listCollections(tenantId: string): Promise<Collection[]>;
  getCollection(tenantId: string, name: string): Promise<Collection | undefined>;
  /** Deletes the collection with its documents and chunks; false when it did not exist. */
  deleteCollection(tenantId: string, name: string): Promise<boolean>;
  /** Content-hash dedupe; a changed document replaces only its own chunks. Atomic. */
  upsertDocument(tenantId: string, collection: string, document: UpsertDocument): Promise<UpsertResult>;
  /** Records a document that failed to parse (no chunks), replacing an older failure. */
  recordFailedDocument(
    tenantId: string,
    collection: string,
    params: { source: string; format: string; bytes: number; error: { code: string; message: string } },
  ): Promise<DocumentRecord>;
  listDocuments(tenantId: string, collection: string, options: { limit: number; after?: string }): Promise<DocumentRecord[]>;
  getDocument(tenantId: string, collection: string, id: string): Promise<DocumentRecord | undefined>;
  /** Deletes a document and its chunks; false when it did not exist. */
  deleteDocument(tenantId: string, collection: string, id: string): Promise<boolean>;
  search(tenantId: string, query: SearchQuery): Promise<SearchHit[]>;
}
