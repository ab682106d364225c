import { sanitizeSource } from '../ingest/source-path.js';
import { textDocumentFile } from '../ingest/text-documents.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { RetrievalService } from '../retrieval/retrieval-service.js';
import type { Ingest } from './services.js';
import type { IngestFile } from '../ingest/pipeline.js';
import { GroundworkError, type Issue } from '../kernel/errors.js';
import { multipartFiles } from './multipart-upload.js';
import { presentCollection, presentDocument, presentHit } from './presenters.js';
import {
  collectionName,
  collectionResponse,
  createCollectionBody,
  documentResponse,
  errorBody,
  ingestOutcome,
  searchBody,
  searchHit,
  textDocumentsBody,
} from './schemas.js';
import { tenantOf } from './tenant.js';
import { parseOrThrow } from './validate.js';

const collectionParams = z.object({ collection: collectionName }).strict();
const documentParams = z.object({ collection: collectionName, id: z.string().min(1).max(100) }).strict();

/** What the collection routes use: collections and search, ingestion, and the upload limits. */
export interface CollectionRoutesDeps {
  retrieval: RetrievalService;
  ingest: Ingest;
  uploads: { limitBytes: number; maxFiles: number };
}

export function collectionRoutes(deps: CollectionRoutesDeps): FastifyPluginAsyncZod {
  return async (server) => {
    server.post(
      '/collections',
      {
        config: { role: 'developer' },
        schema: {
          tags: ['collections'],
          summary: 'Create a collection',
          body: createCollectionBody,
          response: { 201: collectionResponse, 400: errorBody, 409: errorBody },
        },
      },
      async (request, reply) => reply.status(201).send(presentCollection(await deps.retrieval.createCollection(tenantOf(request), request.body))),
    );

    server.get(
      '/collections',
      { schema: { tags: ['collections'], summary: 'List collections', response: { 200: z.object({ collections: z.array(collectionResponse) }) } } },
      async (request) => ({
        collections: (await deps.retrieval.listCollections(tenantOf(request))).map(presentCollection),
      }),
    );

    server.get(
      '/collections/:collection',
      { schema: { tags: ['collections'], summary: 'One collection', params: collectionParams, response: { 200: collectionResponse, 404: errorBody } } },
      async (request) => presentCollection(await deps.retrieval.collection(tenantOf(request), request.params.collection)),
    );

    server.delete(
      '/collections/:collection',
      {
        config: { role: 'developer' },
        schema: {
          tags: ['collections'],
          summary: 'Delete a collection with its documents',
          params: collectionParams,
          response: { 204: z.null(), 404: errorBody },
        },
      },
      async (request, reply) => {
        await deps.retrieval.deleteCollection(tenantOf(request), request.params.collection);
        return reply.status(204).send(null);
      },
    );

    server.post(
      '/collections/:collection/documents',
      {
        config: { role: 'developer' },
        bodyLimit: deps.uploads.limitBytes,
        schema: {
          tags: ['collections'],
          summary: 'Ingest documents (JSON text or multipart files)',
          description:
            'JSON: `{ documents: [{ source, text, format?, metadata? }] }`. Multipart: one or more file parts (the file name, with its folder, is the source) and an optional `metadata` field holding a JSON object applied to every file. A source is a relative path: `\\` becomes `/`, leading `/`, drive letters and `.` segments are dropped and `..` never climbs out (`../docs/a.md` → `docs/a.md`); control characters, empty names and names over 500 characters are refused (400). Each document gets its own status; one bad document never fails the batch; the same source twice in one request: the later ones fail with INGEST_DUPLICATE_SOURCE and are not ingested. Re-ingesting a source with changed content replaces its chunks; unchanged content is skipped. Limits: `upload_limit_bytes` per document and for the files of one request together (past it, reading stops: 413 REQUEST_BODY_TOO_LARGE, nothing ingested; a single file over it fails alone with INGEST_FILE_TOO_LARGE), at most `upload_max_files` files (413 REQUEST_TOO_MANY_FILES).',
          params: collectionParams,
          response: { 200: z.object({ results: z.array(ingestOutcome) }), 400: errorBody, 404: errorBody, 413: errorBody },
        },
      },
      async (request) => {
        const files = request.isMultipart()
          ? await multipartFiles(request, { bytes: deps.uploads.limitBytes, files: deps.uploads.maxFiles })
          : jsonFiles(request.body);
        return { results: await deps.ingest(tenantOf(request), request.params.collection, files) };
      },
    );

    server.get(
      '/collections/:collection/documents',
      {
        schema: {
          tags: ['collections'],
          summary: 'Documents of a collection with their status',
          params: collectionParams,
          querystring: z.object({ limit: z.coerce.number().int().min(1).max(500).default(100), after: z.string().max(100).optional() }).strict(),
          response: { 200: z.object({ documents: z.array(documentResponse) }), 404: errorBody },
        },
      },
      async (request) => {
        return { documents: (await deps.retrieval.listDocuments(tenantOf(request), request.params.collection, request.query)).map(presentDocument) };
      },
    );

    server.get(
      '/collections/:collection/documents/:id',
      { schema: { tags: ['collections'], summary: 'One document', params: documentParams, response: { 200: documentResponse, 404: errorBody } } },
      async (request) => {
        return presentDocument(await deps.retrieval.document(tenantOf(request), request.params.collection, request.params.id));
      },
    );

    server.delete(
      '/collections/:collection/documents/:id',
      {
        config: { role: 'developer' },
        schema: { tags: ['collections'], summary: 'Delete a document and its chunks', params: documentParams, response: { 204: z.null(), 404: errorBody } },
      },
      async (request, reply) => {
        await deps.retrieval.deleteDocument(tenantOf(request), request.params.collection, request.params.id);
        return reply.status(204).send(null);
      },
    );

    server.post(
      '/collections/:collection/search',
      {
        config: { role: 'runner' },
        schema: {
          tags: ['collections'],
          summary: 'Hybrid search (BM25 + vectors, fused)',
          params: collectionParams,
          body: searchBody,
          response: { 200: z.object({ hits: z.array(searchHit) }), 400: errorBody, 404: errorBody, 409: errorBody },
        },
      },
      async (request) => {
        const { body } = request;
        const { hits } = await deps.retrieval.search(tenantOf(request), {
          collection: request.params.collection,
          query: body.query,
          k: body.k,
          mode: body.mode,
          filters: body.filters,
          mmrLambda: body.mmr_lambda,
          minScore: body.min_score,
          embedder: body.embedder,
        });
        return { hits: hits.map(presentHit) };
      },
    );
  };
}

/** JSON text documents; each source is sanitised like a file name, and a refused one is a 400 naming it. */
function jsonFiles(body: unknown): IngestFile[] {
  const parsed = parseOrThrow(textDocumentsBody, body, 'body');
  const issues: Issue[] = [];
  const files = parsed.documents.map((document, i) => {
    const named = sanitizeSource(document.source);
    if (!named.ok) issues.push({ path: `body/documents/${i}/source`, message: named.problem });
    return textDocumentFile({ ...document, source: named.ok ? named.source : document.source });
  });
  if (issues.length > 0) {
    throw new GroundworkError('REQUEST_INVALID_BODY', `request body is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
      details: { issues },
    });
  }
  return files;
}
