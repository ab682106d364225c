import type { EmbeddingModel } from '../embeddings/spec.js';
import { GroundworkError } from '../kernel/errors.js';
import type { Collection, DocumentRecord, MetadataFilter, Reranker, RetrievalRepository, SearchHit } from './ports.js';

/**
 * Collections and search for the API, the CLI and grounded tasks: resolves a collection's
 * embedder from its stored identity (vectors are only comparable with the embedder that
 * made them), embeds the query, searches, optionally reranks and applies a relevance floor.
 */

/** Embedders by configured name (e.g. "builtin") and by identity (e.g. "builtin:hash-v1:384"). */
export interface EmbedderLookup {
  get(name: string): EmbeddingModel;
  names(): string[];
}

export interface SearchParams {
  collection: string;
  query: string;
  k: number;
  mode?: 'hybrid' | 'lexical' | 'vector';
  filters?: MetadataFilter;
  mmrLambda?: number;
  /** Drop hits whose fused score is below this. */
  minScore?: number;
  /** When given, must be the collection's embedder (name or identity). */
  embedder?: string;
  signal?: AbortSignal;
}

export interface RetrievalServiceDeps {
  repo: RetrievalRepository;
  embedders: EmbedderLookup;
  reranker?: Reranker;
}

/** Collections, their documents and search, as the API and the run path use them (tenant-scoped, typed errors). */
export interface RetrievalService {
  /** The embedder whose identity the collection's vectors carry (EMBEDDER_UNAVAILABLE when not configured here). */
  embedderFor(collection: Collection): EmbeddingModel;
  /** COLLECTION_NOT_FOUND for a collection the tenant does not have. */
  collection(tenantId: string, name: string): Promise<Collection>;
  createCollection(tenantId: string, params: { name: string; description?: string; embedder?: string }): Promise<Collection>;
  listCollections(tenantId: string): Promise<Collection[]>;
  /** COLLECTION_NOT_FOUND when there was none. */
  deleteCollection(tenantId: string, name: string): Promise<void>;
  /** COLLECTION_NOT_FOUND for an unknown collection. */
  listDocuments(tenantId: string, collection: string, options: { limit: number; after?: string }): Promise<DocumentRecord[]>;
  /** DOCUMENT_NOT_FOUND when the collection has no such document. */
  document(tenantId: string, collection: string, id: string): Promise<DocumentRecord>;
  /** DOCUMENT_NOT_FOUND when the collection has no such document. */
  deleteDocument(tenantId: string, collection: string, id: string): Promise<void>;
  search(tenantId: string, params: SearchParams): Promise<{ collection: Collection; hits: SearchHit[] }>;
}

export function createRetrievalService(deps: RetrievalServiceDeps): RetrievalService {
  function embedderByName(name: string): EmbeddingModel {
    if (!deps.embedders.names().includes(name)) {
      throw new GroundworkError('REQUEST_INVALID_BODY', `unknown embedder "${name}" (configured: ${deps.embedders.names().join(', ')})`, {
        details: { issues: [{ path: 'body/embedder', message: `unknown embedder "${name}"` }] },
      });
    }
    return deps.embedders.get(name);
  }

  /** The embedder whose identity the collection's vectors carry. */
  function embedderFor(collection: Collection): EmbeddingModel {
    for (const name of deps.embedders.names()) {
      const model = deps.embedders.get(name);
      if (model.id === collection.embedder) return model;
    }
    throw new GroundworkError(
      'EMBEDDER_UNAVAILABLE',
      `collection "${collection.name}" was embedded with "${collection.embedder}", which this installation does not configure`,
      {
        details: { collection: collection.name, embedder: collection.embedder },
      },
    );
  }

  async function collectionOrThrow(tenantId: string, name: string): Promise<Collection> {
    const collection = await deps.repo.getCollection(tenantId, name);
    if (!collection) throw new GroundworkError('COLLECTION_NOT_FOUND', `no collection named "${name}"`, { details: { collection: name } });
    return collection;
  }

  const documentNotFound = (collection: string, id: string) =>
    new GroundworkError('DOCUMENT_NOT_FOUND', `no document "${id}" in collection "${collection}"`, { details: { collection, document_id: id } });

  return {
    embedderFor,
    collection: collectionOrThrow,

    listCollections: (tenantId) => deps.repo.listCollections(tenantId),

    async deleteCollection(tenantId, name) {
      if (!(await deps.repo.deleteCollection(tenantId, name))) {
        throw new GroundworkError('COLLECTION_NOT_FOUND', `no collection named "${name}"`, { details: { collection: name } });
      }
    },

    async listDocuments(tenantId, collection, options) {
      await collectionOrThrow(tenantId, collection);
      return deps.repo.listDocuments(tenantId, collection, options);
    },

    async document(tenantId, collection, id) {
      const found = await deps.repo.getDocument(tenantId, collection, id);
      if (!found) throw documentNotFound(collection, id);
      return found;
    },

    async deleteDocument(tenantId, collection, id) {
      if (!(await deps.repo.deleteDocument(tenantId, collection, id))) throw documentNotFound(collection, id);
    },

    async createCollection(tenantId, params) {
      const embedder = embedderByName(params.embedder ?? 'builtin');
      if (await deps.repo.getCollection(tenantId, params.name)) {
        throw new GroundworkError('COLLECTION_EXISTS', `collection "${params.name}" already exists`, { details: { collection: params.name } });
      }
      return deps.repo.createCollection(tenantId, {
        name: params.name,
        description: params.description ?? '',
        embedder: embedder.id,
        dimensions: embedder.dimensions,
      });
    },

    async search(tenantId, params) {
      const collection = await collectionOrThrow(tenantId, params.collection);
      const embedder = embedderFor(collection);
      if (params.embedder !== undefined) {
        const requested = deps.embedders.names().includes(params.embedder) ? deps.embedders.get(params.embedder).id : params.embedder;
        if (requested !== embedder.id) {
          throw new GroundworkError(
            'EMBEDDER_MISMATCH',
            `collection "${collection.name}" holds vectors of "${embedder.id}"; it cannot be queried with "${requested}"`,
            {
              details: { collection: collection.name, collection_embedder: embedder.id, requested },
            },
          );
        }
      }
      const mode = params.mode ?? 'hybrid';
      const queryVector = mode === 'lexical' ? undefined : (await embedder.embed({ texts: [params.query], kind: 'query', signal: params.signal })).vectors[0];
      let hits = await deps.repo.search(tenantId, {
        collection: collection.name,
        query: params.query,
        queryVector,
        k: params.k,
        mode,
        filters: params.filters,
        mmrLambda: params.mmrLambda,
      });
      if (deps.reranker) hits = await deps.reranker.rerank(params.query, hits, params.signal);
      if (params.minScore !== undefined) hits = hits.filter((hit) => hit.score >= (params.minScore as number));
      return { collection, hits };
    },
  };
}
