import { randomBytes } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import type { Database } from '../store/ports.js';
import type { RetrievalRepository, SearchQuery, UpsertDocument } from './ports.js';
import { createRetrievalRepository } from './retrieval.repository.js';
import { hashEmbedder } from './test-fixtures.js';

/**
 * Behaviour both stores share, run on PGlite (retrieval.test.ts) and on a PostgreSQL server
 * (retrieval.int.test.ts). Each test works in fresh tenants, so one migrated database serves
 * the file; tenant scoping is itself part of the contract.
 */

export const embedder = hashEmbedder(64);

export function doc(source: string, text: string, extra: Partial<UpsertDocument> = {}): UpsertDocument {
  const chunks = extra.chunks ?? [{ position: 0, text, headingPath: [], tokenCount: text.split(' ').length, embedding: embedder.embedOne(text) }];
  return { source, title: '', format: 'text', contentHash: `h:${text}`, metadata: {}, bytes: text.length, ...extra, chunks };
}

export function chunk(position: number, text: string, headingPath: string[] = []) {
  return { position, text, headingPath, tokenCount: text.split(' ').length, embedding: embedder.embedOne(text) };
}

export function query(collection: string, text: string, extra: Partial<SearchQuery> = {}): SearchQuery {
  return { collection, query: text, queryVector: embedder.embedOne(text), k: 10, mode: 'hybrid', ...extra };
}

export function retrievalContract(backend: string, getDb: () => Database): void {
  let repo: RetrievalRepository;
  let tenant: string;
  let other: string;
  const count = async (table: string, where = 'TRUE', params: unknown[] = []) =>
    Number((await getDb().query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE ${where}`, params))[0].n);
  const create = (t: string, name = 'kb') => repo.createCollection(t, { name, description: 'docs', embedder: embedder.id, dimensions: 64 });

  beforeEach(() => {
    repo = createRetrievalRepository(getDb());
    tenant = `t_${randomBytes(6).toString('hex')}`;
    other = `t_${randomBytes(6).toString('hex')}`;
  });

  describe(`${backend}: collections`, () => {
    it('are created, listed, fetched and deleted with their documents and chunks', async () => {
      const created = await create(tenant);
      expect(created).toMatchObject({ name: 'kb', description: 'docs', embedder: embedder.id, dimensions: 64, documentCount: 0, chunkCount: 0 });
      expect(created.createdAt).toBeInstanceOf(Date);
      await expect(create(tenant)).rejects.toMatchObject({ code: 'COLLECTION_EXISTS' });
      await create(tenant, 'another');
      expect((await repo.listCollections(tenant)).map((c) => c.name)).toEqual(['another', 'kb']);

      await repo.upsertDocument(tenant, 'kb', doc('a.txt', 'alpha beta', { chunks: [chunk(0, 'alpha beta'), chunk(1, 'gamma delta')] }));
      expect(await repo.getCollection(tenant, 'kb')).toMatchObject({ documentCount: 1, chunkCount: 2 });
      expect(await repo.deleteCollection(tenant, 'kb')).toBe(true);
      expect(await repo.deleteCollection(tenant, 'kb')).toBe(false);
      expect(await repo.getCollection(tenant, 'kb')).toBeUndefined();
      expect(await count('retrieval_chunks', 'tenant_id = $1', [tenant])).toBe(0);
      expect(await count('retrieval_documents', 'tenant_id = $1', [tenant])).toBe(0);
      await expect(repo.search(tenant, query('kb', 'alpha'))).rejects.toMatchObject({ code: 'COLLECTION_NOT_FOUND' });
      // A collection created again under the same name starts empty.
      await create(tenant);
      expect(await repo.search(tenant, query('kb', 'alpha'))).toEqual([]);
    });

    it('are invisible to other tenants, and so are their documents and hits', async () => {
      await create(tenant);
      const { document } = await repo.upsertDocument(tenant, 'kb', doc('secret.txt', 'quarterly revenue forecast'));
      expect(await repo.listCollections(other)).toEqual([]);
      expect(await repo.getCollection(other, 'kb')).toBeUndefined();
      await expect(repo.search(other, query('kb', 'revenue'))).rejects.toMatchObject({ code: 'COLLECTION_NOT_FOUND' });
      await expect(repo.upsertDocument(other, 'kb', doc('x', 'y'))).rejects.toMatchObject({ code: 'COLLECTION_NOT_FOUND' });

      // Same collection name in the other tenant: separate documents, separate hits.
      await create(other);
      await repo.upsertDocument(other, 'kb', doc('public.txt', 'revenue is reported yearly'));
      const theirs = await repo.search(other, query('kb', 'quarterly revenue forecast', { k: 50 }));
      expect(theirs.map((h) => h.source)).toEqual(['public.txt']);
      expect(await repo.getDocument(other, 'kb', document.id)).toBeUndefined();
      expect(await repo.deleteDocument(other, 'kb', document.id)).toBe(false);
      expect((await repo.listDocuments(other, 'kb', { limit: 10 })).map((d) => d.source)).toEqual(['public.txt']);
      expect((await repo.search(tenant, query('kb', 'revenue', { k: 50 }))).map((h) => h.source)).toEqual(['secret.txt']);
    });

    it('reject vectors of another dimension', async () => {
      await create(tenant);
      const wrong = { ...chunk(0, 'text'), embedding: new Float32Array(8).fill(0.5) };
      await expect(repo.upsertDocument(tenant, 'kb', doc('a', 'text', { chunks: [wrong] }))).rejects.toMatchObject({ code: 'EMBEDDER_MISMATCH' });
      await expect(repo.search(tenant, query('kb', 'text', { queryVector: new Float32Array(8) }))).rejects.toMatchObject({ code: 'EMBEDDER_MISMATCH' });
      await expect(repo.search(tenant, query('kb', 'text', { queryVector: undefined, mode: 'vector' }))).rejects.toMatchObject({
        code: 'REQUEST_INVALID_BODY',
      });
      expect(await count('retrieval_documents', 'tenant_id = $1', [tenant])).toBe(0);
    });
  });

  describe(`${backend}: documents`, () => {
    it('dedupe by content hash: unchanged, no new rows, same ids', async () => {
      await create(tenant);
      const first = await repo.upsertDocument(tenant, 'kb', doc('a.md', 'solar panels convert light'));
      expect(first.outcome).toBe('created');
      const chunksBefore = await getDb().query('SELECT id FROM retrieval_chunks WHERE tenant_id = $1', [tenant]);
      const again = await repo.upsertDocument(tenant, 'kb', doc('a.md', 'solar panels convert light'));
      expect(again.outcome).toBe('unchanged');
      expect(again.document.id).toBe(first.document.id);
      expect(await getDb().query('SELECT id FROM retrieval_chunks WHERE tenant_id = $1', [tenant])).toEqual(chunksBefore);
      expect(await repo.getCollection(tenant, 'kb')).toMatchObject({ documentCount: 1, chunkCount: 1 });
    });

    it('replace only their own chunks when the content changes', async () => {
      await create(tenant);
      const a = await repo.upsertDocument(
        tenant,
        'kb',
        doc('a.md', 'old wording about turbines', { chunks: [chunk(0, 'old wording about turbines'), chunk(1, 'second part')] }),
      );
      await repo.upsertDocument(tenant, 'kb', doc('b.md', 'hydroelectric dams store water'));
      const bChunks = await getDb().query('SELECT id, text FROM retrieval_chunks WHERE tenant_id = $1 AND document_id <> $2', [tenant, a.document.id]);

      const replaced = await repo.upsertDocument(tenant, 'kb', doc('a.md', 'new wording about windmills', { metadata: { v: 2 } }));
      expect(replaced.outcome).toBe('replaced');
      expect(replaced.document).toMatchObject({ id: a.document.id, chunkCount: 1, metadata: { v: 2 }, status: 'ready' });
      expect(await getDb().query('SELECT id, text FROM retrieval_chunks WHERE tenant_id = $1 AND document_id <> $2', [tenant, a.document.id])).toEqual(bChunks);
      expect(await count('retrieval_chunks', 'tenant_id = $1 AND document_id = $2', [tenant, a.document.id])).toBe(1);
      expect(await repo.getCollection(tenant, 'kb')).toMatchObject({ documentCount: 2, chunkCount: 2 });
      expect(await repo.search(tenant, query('kb', 'turbines', { mode: 'lexical' }))).toEqual([]);
      expect((await repo.search(tenant, query('kb', 'windmills', { mode: 'lexical' }))).map((h) => [h.source, h.metadata])).toEqual([['a.md', { v: 2 }]]);
    });

    it('are deleted with their chunks, and the others stay searchable', async () => {
      await create(tenant);
      const a = await repo.upsertDocument(
        tenant,
        'kb',
        doc('a.md', 'geothermal heat pumps', { chunks: [chunk(0, 'geothermal heat pumps'), chunk(1, 'geothermal wells')] }),
      );
      await repo.upsertDocument(tenant, 'kb', doc('b.md', 'geothermal plants in iceland'));
      expect((await repo.search(tenant, query('kb', 'geothermal'))).length).toBe(3);
      expect(await repo.deleteDocument(tenant, 'kb', a.document.id)).toBe(true);
      expect(await repo.deleteDocument(tenant, 'kb', a.document.id)).toBe(false);
      expect(await repo.getDocument(tenant, 'kb', a.document.id)).toBeUndefined();
      expect(await count('retrieval_chunks', 'tenant_id = $1 AND document_id = $2', [tenant, a.document.id])).toBe(0);
      expect((await repo.search(tenant, query('kb', 'geothermal'))).map((h) => h.source)).toEqual(['b.md']);
      expect(await repo.getCollection(tenant, 'kb')).toMatchObject({ documentCount: 1, chunkCount: 1 });
    });

    it('that failed are listed with their error, replaced by a later failure or success', async () => {
      await create(tenant);
      const failed = await repo.recordFailedDocument(tenant, 'kb', {
        source: 'scan.pdf',
        format: 'pdf',
        bytes: 10,
        error: { code: 'INGEST_ENCRYPTED', message: 'encrypted' },
      });
      expect(failed).toMatchObject({ source: 'scan.pdf', status: 'failed', error: { code: 'INGEST_ENCRYPTED', message: 'encrypted' }, chunkCount: 0 });
      const again = await repo.recordFailedDocument(tenant, 'kb', {
        source: 'scan.pdf',
        format: 'pdf',
        bytes: 12,
        error: { code: 'INGEST_PARSE_FAILED', message: 'bad xref' },
      });
      expect(again).toMatchObject({ id: failed.id, bytes: 12, error: { code: 'INGEST_PARSE_FAILED' } });
      const listed = await repo.listDocuments(tenant, 'kb', { limit: 10 });
      expect(listed).toEqual([expect.objectContaining({ source: 'scan.pdf', status: 'failed', error: { code: 'INGEST_PARSE_FAILED', message: 'bad xref' } })]);

      const fixed = await repo.upsertDocument(tenant, 'kb', doc('scan.pdf', 'decrypted text about tides'));
      expect(fixed).toMatchObject({ outcome: 'replaced', document: { id: failed.id, status: 'ready', chunkCount: 1 } });
      expect(fixed.document.error).toBeUndefined();
      expect((await repo.search(tenant, query('kb', 'tides'))).map((h) => h.source)).toEqual(['scan.pdf']);

      // A source whose new content cannot be parsed no longer serves its old chunks.
      await repo.recordFailedDocument(tenant, 'kb', {
        source: 'scan.pdf',
        format: 'pdf',
        bytes: 5,
        error: { code: 'INGEST_PARSE_FAILED', message: 'truncated' },
      });
      expect(await repo.search(tenant, query('kb', 'tides'))).toEqual([]);
      expect(await repo.getCollection(tenant, 'kb')).toMatchObject({ documentCount: 1, chunkCount: 0 });
    });

    it('are listed in pages', async () => {
      await create(tenant);
      for (const name of ['a', 'b', 'c', 'd', 'e']) await repo.upsertDocument(tenant, 'kb', doc(name, `text ${name}`));
      const first = await repo.listDocuments(tenant, 'kb', { limit: 2 });
      const second = await repo.listDocuments(tenant, 'kb', { limit: 2, after: first[1].id });
      const third = await repo.listDocuments(tenant, 'kb', { limit: 2, after: second[1].id });
      expect([...first, ...second, ...third].map((d) => d.source)).toEqual(['a', 'b', 'c', 'd', 'e']);
      await expect(repo.listDocuments(tenant, 'missing', { limit: 2 })).rejects.toMatchObject({ code: 'COLLECTION_NOT_FOUND' });
    });

    it('of more chunks than one statement carries are stored whole', async () => {
      await create(tenant);
      const chunks = Array.from({ length: 1_203 }, (_, i) => chunk(i, `section ${i} marker${i}`));
      const { document } = await repo.upsertDocument(tenant, 'kb', doc('manual.pdf', '', { chunks }));
      expect(document.chunkCount).toBe(1_203);
      const positions = await getDb().query<{ position: number }>('SELECT position FROM retrieval_chunks WHERE tenant_id = $1 ORDER BY position', [tenant]);
      expect(positions.map((r) => r.position)).toEqual(chunks.map((c) => c.position));
      const [hit] = await repo.search(tenant, query('kb', 'marker1100', { mode: 'lexical' }));
      expect(hit).toMatchObject({ position: 1100, text: 'section 1100 marker1100' });
      expect(await repo.getCollection(tenant, 'kb')).toMatchObject({ documentCount: 1, chunkCount: 1_203 });
    });

    it('written concurrently keep the counters exact', async () => {
      await create(tenant);
      const results = await Promise.all(
        Array.from({ length: 12 }, (_, i) =>
          repo.upsertDocument(tenant, 'kb', doc(`d${i % 6}`, `concurrent text ${i % 6}`, { chunks: [chunk(0, 'alpha'), chunk(1, 'beta')] })),
        ),
      );
      expect(results.filter((r) => r.outcome === 'created')).toHaveLength(6);
      expect(await repo.getCollection(tenant, 'kb')).toMatchObject({ documentCount: 6, chunkCount: 12 });
      expect(await count('retrieval_chunks', 'tenant_id = $1', [tenant])).toBe(12);
      expect((await repo.search(tenant, query('kb', 'alpha', { k: 50, mode: 'lexical' }))).length).toBe(6);
    });

    it('keep text with quotes, backslashes, braces and heading paths intact', async () => {
      await create(tenant);
      const text = `He said "NULL" {a,b} \\ back\\slash 'quoted' — ünïcode`;
      await repo.upsertDocument(tenant, 'kb', doc('odd', text, { title: 'Odd', chunks: [{ ...chunk(0, text, ['Part "1"', 'NULL', '{x}']), page: 3 }] }));
      const [hit] = await repo.search(tenant, query('kb', 'quoted unicode'));
      expect(hit).toMatchObject({ text, title: 'Odd', headingPath: ['Part "1"', 'NULL', '{x}'], page: 3, position: 0, source: 'odd' });
    });
  });

  describe(`${backend}: search`, () => {
    it('ranks a chunk with every query term above one with only some (BM25)', async () => {
      await create(tenant);
      await repo.upsertDocument(tenant, 'kb', doc('partial', 'calcium signalling calcium channels calcium waves in muscle'));
      await repo.upsertDocument(tenant, 'kb', doc('exact', 'the mitochondrial calcium uniporter imports calcium'));
      await repo.upsertDocument(tenant, 'kb', doc('none', 'glucose transport in the liver'));
      const hits = await repo.search(tenant, query('kb', 'mitochondrial calcium uniporter', { mode: 'lexical' }));
      expect(hits.map((h) => h.source)).toEqual(['exact', 'partial']);
      expect(hits[0].lexicalScore).toBeGreaterThan(hits[1].lexicalScore as number);
      expect(hits[0]).toMatchObject({ lexicalRank: 1, score: hits[0].lexicalScore });
    });

    it('fuses lexical and vector candidates: a chunk found only one way still appears', async () => {
      await create(tenant);
      await repo.upsertDocument(tenant, 'kb', doc('lexical-only', 'zygomorphic flowers attract bees'));
      await repo.upsertDocument(tenant, 'kb', doc('vector-only', 'orchid pollination biology'));
      await repo.upsertDocument(tenant, 'kb', doc('neither', 'tax law of 1998'));
      // The query text matches one chunk's words; its vector is another chunk's embedding.
      const hits = await repo.search(tenant, query('kb', 'zygomorphic', { queryVector: embedder.embedOne('orchid pollination biology') }));
      const bySource = new Map(hits.map((h) => [h.source, h]));
      expect(bySource.get('lexical-only')).toMatchObject({ lexicalRank: 1 });
      expect(bySource.get('lexical-only')?.vectorRank).toBeUndefined();
      expect(bySource.get('vector-only')).toMatchObject({ vectorRank: 1 });
      expect(bySource.get('vector-only')?.lexicalRank).toBeUndefined();
      expect(
        hits
          .slice(0, 2)
          .map((h) => h.source)
          .sort(),
      ).toEqual(['lexical-only', 'vector-only']);
      // Reciprocal rank fusion with k = 60: rank 1 in one list scores 1/61.
      expect(bySource.get('lexical-only')?.score).toBeCloseTo(1 / 61, 12);
    });

    it('applies metadata filters: equality, lists as OR, arrays as containment', async () => {
      await create(tenant);
      await repo.upsertDocument(
        tenant,
        'kb',
        doc('en-2023', 'wind energy report', { metadata: { lang: 'en', year: 2023, public: true, tags: ['energy', 'wind'] } }),
      );
      await repo.upsertDocument(tenant, 'kb', doc('de-2023', 'wind energy bericht', { metadata: { lang: 'de', year: 2023, public: false, tags: ['energy'] } }));
      await repo.upsertDocument(tenant, 'kb', doc('en-2021', 'wind energy summary', { metadata: { lang: 'en', year: 2021, tags: [] } }));
      const sources = async (filters: SearchQuery['filters'], mode: SearchQuery['mode'] = 'hybrid') =>
        (await repo.search(tenant, query('kb', 'wind energy', { filters, mode }))).map((h) => h.source).sort();
      expect(await sources({ lang: 'en' })).toEqual(['en-2021', 'en-2023']);
      expect(await sources({ lang: 'en' }, 'vector')).toEqual(['en-2021', 'en-2023']);
      expect(await sources({ lang: 'en', year: 2023 }, 'lexical')).toEqual(['en-2023']);
      expect(await sources({ year: [2021, 2023], public: true })).toEqual(['en-2023']);
      expect(await sources({ tags: 'wind' })).toEqual(['en-2023']);
      expect(await sources({ tags: ['wind', 'energy'] })).toEqual(['de-2023', 'en-2023']);
      expect(await sources({ year: '2023' })).toEqual([]);
      expect(await sources({ missing: 'x' })).toEqual([]);
      await expect(sources({ lang: { en: true } } as never)).rejects.toMatchObject({ code: 'REQUEST_INVALID_BODY' });
    });

    it('agrees with SQL on filters (@>) and vector order (pgvector <=>)', async () => {
      const created = await create(tenant);
      const texts = ['red apples', 'green apples and pears', 'ripe pears', 'apple pie recipe', 'pear cider', 'apple orchard'];
      for (const [i, text] of texts.entries()) {
        await repo.upsertDocument(tenant, 'kb', doc(`d${i}`, text, { metadata: { group: i % 2 === 0 ? 'even' : 'odd', tags: [`t${i % 3}`] } }));
      }
      const q = embedder.embedOne('apples pears');
      const ours = await repo.search(
        tenant,
        query('kb', 'apples pears', { queryVector: q, mode: 'vector', k: 10, filters: { group: 'even', tags: ['t0', 't1'] } }),
      );
      const sql = await getDb().query<{ source: string; similarity: number }>(
        `SELECT d.source, 1 - (c.embedding <=> $2::vector) AS similarity
           FROM retrieval_chunks c JOIN retrieval_documents d ON d.tenant_id = c.tenant_id AND d.id = c.document_id
          WHERE c.tenant_id = $1 AND c.metadata @> '{"group":"even"}' AND (c.metadata @> '{"tags":["t0"]}' OR c.metadata @> '{"tags":["t1"]}')
            AND 1 - (c.embedding <=> $2::vector) > 0
          ORDER BY c.embedding <=> $2::vector, c.id`,
        [tenant, `[${Array.from(q).join(',')}]`],
      );
      expect(created.name).toBe('kb');
      expect(ours.map((h) => h.source)).toEqual(sql.map((r) => r.source));
      ours.forEach((hit, i) => expect(hit.vectorScore).toBeCloseTo(sql[i].similarity, 5));
    });

    it('diversifies with MMR: a near-duplicate gives way to a different relevant chunk', async () => {
      await create(tenant);
      await repo.upsertDocument(tenant, 'kb', doc('a', 'battery storage for solar power grids'));
      await repo.upsertDocument(tenant, 'kb', doc('a-copy', 'battery storage for solar power grids today'));
      await repo.upsertDocument(tenant, 'kb', doc('b', 'solar power subsidies and tariffs'));
      const plain = await repo.search(tenant, query('kb', 'battery storage solar power', { k: 3 }));
      expect(
        plain
          .map((h) => h.source)
          .slice(0, 2)
          .sort(),
      ).toEqual(['a', 'a-copy']);
      const diverse = await repo.search(tenant, query('kb', 'battery storage solar power', { k: 3, mmrLambda: 0.3 }));
      expect(diverse[0].source).toBe(plain[0].source);
      expect(diverse[1].source).toBe('b');
      expect(new Set(diverse.map((h) => h.source))).toEqual(new Set(['a', 'a-copy', 'b']));
    });

    it('serves every replica the latest committed state (indexes are caches of the database)', async () => {
      const replica = createRetrievalRepository(getDb());
      await create(tenant);
      await repo.upsertDocument(tenant, 'kb', doc('one', 'lighthouse keepers log'));
      expect((await replica.search(tenant, query('kb', 'lighthouse'))).map((h) => h.source)).toEqual(['one']);
      const two = await repo.upsertDocument(tenant, 'kb', doc('two', 'lighthouse lenses fresnel'));
      await repo.upsertDocument(tenant, 'kb', doc('one', 'harbour pilots log'));
      expect((await replica.search(tenant, query('kb', 'lighthouse', { mode: 'lexical' }))).map((h) => h.source)).toEqual(['two']);
      await replica.deleteDocument(tenant, 'kb', two.document.id);
      expect(await repo.search(tenant, query('kb', 'lighthouse', { mode: 'lexical' }))).toEqual([]);
      expect((await repo.search(tenant, query('kb', 'harbour', { mode: 'lexical' }))).map((h) => h.source)).toEqual(['one']);
      // A fresh process loads the collection from the database.
      const cold = createRetrievalRepository(getDb());
      expect((await cold.search(tenant, query('kb', 'harbour pilots'))).map((h) => h.source)).toEqual(['one']);
    });

    it('catches a replica up on many changed documents, as a fresh load would', async () => {
      const replica = createRetrievalRepository(getDb());
      await create(tenant);
      const seed = await repo.upsertDocument(tenant, 'kb', doc('seed', 'seed text'));
      await replica.search(tenant, query('kb', 'seed'));
      for (let i = 0; i < 250; i++) await repo.upsertDocument(tenant, 'kb', doc(`d${i}`, `topic${i % 7} shared words ${i}`));
      await repo.deleteDocument(tenant, 'kb', seed.document.id);
      const q = query('kb', 'topic3 shared words', { k: 40 });
      const caughtUp = await replica.search(tenant, q);
      expect(caughtUp.map((h) => [h.source, h.score])).toEqual((await createRetrievalRepository(getDb()).search(tenant, q)).map((h) => [h.source, h.score]));
      expect(caughtUp.filter((h) => h.text.startsWith('topic3'))).toHaveLength(36);
    });

    it('applies a reranker to the candidates when one is given', async () => {
      const reversed = createRetrievalRepository(getDb(), {
        reranker: { id: 'reverse', rerank: async (_q, hits) => [...hits].reverse() },
      });
      await create(tenant);
      for (const [i, text] of ['river delta', 'river delta sediment', 'river delta sediment deposits'].entries()) {
        await repo.upsertDocument(tenant, 'kb', doc(`d${i}`, text));
      }
      const plain = await repo.search(tenant, query('kb', 'river delta sediment deposits', { k: 3 }));
      const reranked = await reversed.search(tenant, query('kb', 'river delta sediment deposits', { k: 3 }));
      expect(reranked.map((h) => h.source)).toEqual(plain.map((h) => h.source).reverse());
    });
  });
}
