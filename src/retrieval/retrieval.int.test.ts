import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../store/database.js';
import { migrate } from '../store/migrations.js';
import type { Database } from '../store/ports.js';
import { testServer } from '../store/test-server.js';
import type { RetrievalRepository, SearchHit } from './ports.js';
import { chunk, doc, embedder, query, retrievalContract } from './retrieval.contract.js';
import { createRetrievalRepository } from './retrieval.repository.js';

const server = await testServer();

describe.skipIf(!server.available)('PostgreSQL server retrieval', () => {
  let db: Database;
  let embedded: Database;
  beforeAll(async () => {
    db = await openDatabase({ databaseUrl: server.url, schema: await server.createSchema('gw_retrieval') });
    await migrate(db);
    embedded = await openDatabase({ dataDir: 'memory://', fromTemplate: true });
    await migrate(embedded);
  });
  afterAll(async () => {
    await db?.close();
    await embedded?.close();
    await server.cleanup();
  });

  retrievalContract('PostgreSQL', () => db);

  it('returns the same hits, scores and order as PGlite on the same data', async () => {
    const topics = ['solar', 'wind', 'hydro', 'nuclear', 'coal', 'gas', 'battery', 'grid', 'tariff', 'storage'];
    const ingest = async (repo: RetrievalRepository) => {
      await repo.createCollection('same', { name: 'energy', description: '', embedder: embedder.id, dimensions: 64 });
      for (let d = 0; d < 40; d++) {
        const words = (i: number) => Array.from({ length: 12 }, (_, j) => topics[(d * 7 + i * 3 + j * j) % topics.length]).join(' ');
        await repo.upsertDocument(
          'same',
          'energy',
          doc(`doc-${d}`, '', {
            title: `Report ${d}`,
            metadata: { region: d % 3 === 0 ? 'north' : 'south' },
            chunks: [chunk(0, `${words(0)} power`), chunk(1, words(1), ['Costs']), chunk(2, `${words(2)} outlook`)],
          }),
        );
      }
      // Replacements and deletions leave dead slots in the index; results must not depend on them.
      await repo.upsertDocument('same', 'energy', doc('doc-3', 'rewritten solar grid tariff text'));
      const victim = (await repo.listDocuments('same', 'energy', { limit: 5 }))[1];
      await repo.deleteDocument('same', 'energy', victim.id);
    };
    const remote = createRetrievalRepository(db);
    const local = createRetrievalRepository(embedded);
    await ingest(remote);
    await ingest(local);
    const strip = (hits: SearchHit[]) => hits.map(({ chunkId: _c, documentId: _d, ...rest }) => rest);
    const queries = ['solar grid', 'battery storage outlook', 'nuclear tariff costs', 'wind power', 'gas'];
    for (const text of queries) {
      for (const mode of ['lexical', 'vector', 'hybrid'] as const) {
        for (const extra of [{}, { filters: { region: 'north' } }, { mmrLambda: 0.5 }]) {
          const q = query('energy', text, { mode, k: 15, ...extra });
          const [a, b] = await Promise.all([remote.search('same', q), local.search('same', q)]);
          expect(a.length).toBeGreaterThan(0);
          expect(strip(a)).toEqual(strip(b));
        }
      }
    }
    // A fresh replica that loads the server's rows ranks the same way too.
    const cold = createRetrievalRepository(db);
    const q = query('energy', 'solar grid', { k: 20 });
    expect(strip(await cold.search('same', q))).toEqual(strip(await local.search('same', q)));
  });
});
