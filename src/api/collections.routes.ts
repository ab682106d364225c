import type { FastifyRequest } from 'fastify';
import { textDocumentFile } from '../ingest/text-documents.js';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { App } from '../app/app.js';
import type { IngestFile } from '../ingest/pipeline.js';
import { GroundworkError } from '../kernel/errors.js';
import { presentCollection, presentDocument, presentHit } from './presenters.js';
import {
  collectionName,
  collectionResponse,
  createCollectionBody,
  documentResponse,
  errorBody,
  ingestOutcome,
  metadataSchema,
  searchBody,
  searchHit,
  textDocumentsBody,
} from './schemas.js';
import { tenantOf } from './tenant.js';
import { parseOrThrow } from './validate.js';

const collectionParams = z.object({ collection: collectionName }).strict();
const documentParams = z.object({ collection: collectionName, id: z.string().min(1).max(100) }).strict();

export function collectionRoutes(app: App): FastifyPluginAsyncZod {
  return async (server) => {
    server.post(
      '/collections',
      { config: { role: 'developer' }, schema: { tags: ['collections'], summary: 'Create a collection', body: createCollectionBody, response: { 201: collectionResponse, 400: errorBody, 409: errorBody } } },
      async (request, reply) => reply.status(201).send(presentCollection(await app.retrieval.createCollection(tenantOf(request), request.body))),
    );

    server.get('/collections', { schema: { tags: ['collections'], summary: 'List collections', response: { 200: z.object({ collections: z.array(collectionResponse) }) } } }, async (request) => ({
      collections: (await app.retrievalRepo.listCollections(tenantOf(request))).map(presentCollection),
    }));

    server.get(
      '/collections/:collection',
      { schema: { tags: ['collections'], summary: 'One collection', params: collectionParams, response: { 200: collectionResponse, 404: errorBody } } },
      async (request) => presentCollection(await app.retrieval.collection(tenantOf(request), request.params.collection)),
    );

    server.delete(
      '/collections/:collection',
      { config: { role: 'developer' }, schema: { tags: ['collections'], summary: 'Delete a collection with its documents', params: collectionParams, response: { 204: z.null(), 404: errorBody } } },
      async (request, reply) => {
        if (!(await app.retrievalRepo.deleteCollection(tenantOf(request), request.params.collection))) {
          throw new GroundworkError('COLLECTION_NOT_FOUND', `no collection named "${request.params.collection}"`);
        }
        return reply.status(204).send(null);
      },
    );

    server.post(
      '/collections/:collection/documents',
      { config: { role: 'developer' },
        bodyLimit: app.config.uploadLimitBytes,
        schema: {
          tags: ['collections'],
          summary: 'Ingest documents (JSON text or multipart files)',
          description:
            'JSON: `{ documents: [{ source, text, format?, metadata? }] }`. Multipart: one or more file parts (the file name is the source) and an optional `metadata` field holding a JSON object applied to every file. Each document gets its own status; one bad document never fails the batch. Re-ingesting a source with changed content replaces its chunks; unchanged content is skipped.',
          params: collectionParams,
          response: { 200: z.object({ results: z.array(ingestOutcome) }), 400: errorBody, 404: errorBody, 413: errorBody },
        },
      },
      async (request) => {
        const files = request.isMultipart() ? await multipartFiles(request, app.config.uploadLimitBytes) : jsonFiles(request.body);
        return { results: await app.ingest(tenantOf(request), request.params.collection, files) };
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
        await app.retrieval.collection(tenantOf(request), request.params.collection);
        return { documents: (await app.retrievalRepo.listDocuments(tenantOf(request), request.params.collection, request.query)).map(presentDocument) };
      },
    );

    server.get(
      '/collections/:collection/documents/:id',
      { schema: { tags: ['collections'], summary: 'One document', params: documentParams, response: { 200: documentResponse, 404: errorBody } } },
      async (request) => {
        const document = await app.retrievalRepo.getDocument(tenantOf(request), request.params.collection, request.params.id);
        if (!document) throw new GroundworkError('DOCUMENT_NOT_FOUND', `no document "${request.params.id}" in collection "${request.params.collection}"`);
        return presentDocument(document);
      },
    );

    server.delete(
      '/collections/:collection/documents/:id',
      { config: { role: 'developer' }, schema: { tags: ['collections'], summary: 'Delete a document and its chunks', params: documentParams, response: { 204: z.null(), 404: errorBody } } },
      async (request, reply) => {
        if (!(await app.retrievalRepo.deleteDocument(tenantOf(request), request.params.collection, request.params.id))) {
          throw new GroundworkError('DOCUMENT_NOT_FOUND', `no document "${request.params.id}" in collection "${request.params.collection}"`);
        }
        return reply.status(204).send(null);
      },
    );

    server.post(
      '/collections/:collection/search',
      { config: { role: 'runner' }, schema: { tags: ['collections'], summary: 'Hybrid search (BM25 + vectors, fused)', params: collectionParams, body: searchBody, response: { 200: z.object({ hits: z.array(searchHit) }), 400: errorBody, 404: errorBody, 409: errorBody } } },
      async (request) => {
        const { body } = request;
        const { hits } = await app.retrieval.search(tenantOf(request), {
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

function jsonFiles(body: unknown): IngestFile[] {
  const parsed = parseOrThrow(textDocumentsBody, body, 'body');
  return parsed.documents.map(textDocumentFile);
}

async function multipartFiles(request: FastifyRequest, limit: number): Promise<IngestFile[]> {
  const files: Array<Omit<IngestFile, 'metadata'>> = [];
  let metadata: Record<string, unknown> | undefined;
  // A file over the limit is cut (not thrown) so it fails alone with a typed error.
  for await (const part of request.parts({ limits: { fileSize: limit, files: 100, fields: 10 } })) {
    if (part.type === 'file') {
      const bytes = await part.toBuffer();
      const source = part.filename || `upload-${files.length + 1}`;
      const rejected = part.file.truncated
        ? new GroundworkError('INGEST_FILE_TOO_LARGE', `${source} is larger than the upload limit of ${limit} bytes`)
        : undefined;
      files.push({ source, bytes: rejected ? new Uint8Array(0) : new Uint8Array(bytes), mime: part.mimetype, rejected });
    } else if (part.fieldname === 'metadata') {
      let value: unknown;
      try {
        value = JSON.parse(String(part.value));
      } catch {
        throw new GroundworkError('REQUEST_INVALID_BODY', 'multipart field "metadata" must be a JSON object', { details: { issues: [{ path: 'body/metadata', message: 'not valid JSON' }] } });
      }
      metadata = parseOrThrow(metadataSchema, value, 'metadata');
    }
  }
  if (files.length === 0) throw new GroundworkError('REQUEST_INVALID_BODY', 'multipart upload has no file parts', { details: { issues: [{ path: 'body', message: 'no files' }] } });
  return files.map((f) => ({ ...f, metadata }));
}
