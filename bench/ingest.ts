/**
 * bench:ingest — ingestion throughput and hybrid query latency at 100k chunks, on the embedded
 * store (PGlite in a temporary data folder) and on a PostgreSQL server (a private schema,
 * dropped afterwards; GROUNDWORK_TEST_DATABASE_URL or the local test server).
 *
 *   npm run bench:ingest [-- --chunks 100000 --queries 200 --dims <n> --k 10 --no-server]
 *
 * The corpus is synthetic and deterministic: a vocabulary of 50,000 pseudo-words drawn with a
 * Zipf distribution (s = 1), chunks of 150–250 words, documents of 15–25 chunks. Ingestion
 * starts from text chunks (no parsing) and includes analysis, embedding with the built-in
 * embedder, storage and index maintenance. Queries are 3–6 words drawn from the same Zipf
 * distribution (so common words appear, as in real queries); latency is embedding the query
 * plus a hybrid search for the top k, with the index warm (the cold load is reported apart).
 * Peak RSS is sampled every 50 ms and covers everything in the process, PGlite's WASM heap
 * included.
 *
 * Last line: {"bench":"ingest","embedded_chunks_per_s":…,"server_chunks_per_s":…,
 *   "embedded_query_p50_ms":…,"server_query_p50_ms":…,"peak_rss_mb":…,…}
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { BUILTIN_DEFAULT_DIMENSIONS, createBuiltinEmbedder } from '../src/embeddings/builtin.js';
import type { EmbeddingModel } from '../src/embeddings/spec.js';
import { createRetrievalRepository, type RetrievalRepository } from '../src/retrieval/index.js';
import { openStore, type Store } from '../src/store/index.js';
import { machine, percentile, writeResult } from './report.js';
import { syntheticCorpus, type SyntheticDocument } from './synthetic-corpus.js';

const { values } = parseArgs({
  options: {
    chunks: { type: 'string', default: '100000' },
    queries: { type: 'string', default: '200' },
    dims: { type: 'string', default: String(BUILTIN_DEFAULT_DIMENSIONS) },
    k: { type: 'string', default: '10' },
    'no-server': { type: 'boolean', default: false },
  },
});

const TENANT = 'bench';
const COLLECTION = 'synthetic';
const k = Number(values.k);
const embedder = createBuiltinEmbedder({ dimensions: Number(values.dims) });
const corpus = syntheticCorpus({ chunks: Number(values.chunks), queries: Number(values.queries), seed: 42 });

interface Phase {
  chunks_per_s: number;
  docs_per_s: number;
  ingest_s: number;
  query_p50_ms: number;
  query_p95_ms: number;
  /** Ingest and queries: one process holding the collection's index. */
  peak_rss_mb: number;
  cold_load_s: number;
  /** During the cold load, while the ingesting repository's index may not be collected yet. */
  cold_load_peak_rss_mb: number;
}

/** Peak RSS between start() and stop(), sampled every 50 ms. */
function rssPeak(): { stop(): number } {
  let peak = process.memoryUsage().rss;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 50);
  return {
    stop() {
      clearInterval(timer);
      return Math.round(Math.max(peak, process.memoryUsage().rss) / 2 ** 20);
    },
  };
}

async function runPhase(store: Store): Promise<Phase> {
  const warmPeak = rssPeak();
  // The ingesting repository lives only in here: afterwards its index can be collected.
  const warm = await (async () => {
    const repo = createRetrievalRepository(store.db);
    await repo.createCollection(TENANT, { name: COLLECTION, description: 'synthetic', embedder: embedder.id, dimensions: embedder.dimensions });
    const start = performance.now();
    for (const document of corpus.documents) await ingest(repo, embedder, document);
    const ingestSeconds = (performance.now() - start) / 1000;
    return { ingestSeconds, latencies: await queryAll(repo) };
  })();
  const peak = warmPeak.stop();

  // A process that did not ingest (another replica, a restart) first loads the index.
  const coldPeak = rssPeak();
  const coldStart = performance.now();
  const cold = createRetrievalRepository(store.db);
  await cold.search(TENANT, { collection: COLLECTION, query: corpus.queries[0], k, mode: 'lexical' });
  const coldSeconds = (performance.now() - coldStart) / 1000;
  return {
    chunks_per_s: round(corpus.chunkCount / warm.ingestSeconds, 0),
    docs_per_s: round(corpus.documents.length / warm.ingestSeconds, 1),
    ingest_s: round(warm.ingestSeconds, 1),
    query_p50_ms: round(percentile(warm.latencies, 50), 2),
    query_p95_ms: round(percentile(warm.latencies, 95), 2),
    peak_rss_mb: peak,
    cold_load_s: round(coldSeconds, 1),
    cold_load_peak_rss_mb: coldPeak.stop(),
  };
}

async function ingest(repo: RetrievalRepository, model: EmbeddingModel, document: SyntheticDocument): Promise<void> {
  const { vectors } = await model.embed({ texts: document.chunks.map((text) => `${document.title}\n${text}`), kind: 'document' });
  await repo.upsertDocument(TENANT, COLLECTION, {
    source: document.source,
    title: document.title,
    format: 'text',
    contentHash: document.source,
    metadata: document.metadata,
    bytes: document.chunks.reduce((sum, text) => sum + text.length, 0),
    chunks: document.chunks.map((text, position) => ({ position, text, headingPath: [], tokenCount: text.split(' ').length, embedding: vectors[position] })),
  });
}

async function queryAll(repo: RetrievalRepository): Promise<number[]> {
  const latencies: number[] = [];
  for (const [i, query] of corpus.queries.entries()) {
    const start = performance.now();
    const { vectors } = await embedder.embed({ texts: [query], kind: 'query' });
    const hits = await repo.search(TENANT, { collection: COLLECTION, query, queryVector: vectors[0], k, mode: 'hybrid' });
    if (hits.length === 0) throw new Error(`query ${i} ("${query}") found nothing`);
    latencies.push(performance.now() - start);
  }
  return latencies;
}

const dataDir = mkdtempSync(join(tmpdir(), 'gw-bench-ingest-'));
let embedded: Phase;
try {
  const store = await openStore({ dataDir, lock: false });
  try {
    embedded = await runPhase(store);
  } finally {
    await store.close();
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}
console.log(`embedded: ${JSON.stringify(embedded)}`);

let server: Phase | undefined;
let serverSkipped: string | undefined;
if (values['no-server']) serverSkipped = 'skipped (--no-server)';
else {
  const url = process.env.GROUNDWORK_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/groundwork_test';
  const schema = `gw_bench_${randomBytes(4).toString('hex')}`;
  try {
    await admin(url, `CREATE SCHEMA ${schema}`);
  } catch (error) {
    serverSkipped = `PostgreSQL unreachable at ${url.replace(/\/\/[^@]*@/, '//')}: ${(error as Error).message}`;
  }
  if (!serverSkipped) {
    try {
      const store = await openStore({ dataDir, databaseUrl: url, schema });
      try {
        server = await runPhase(store);
      } finally {
        await store.close();
      }
    } finally {
      await admin(url, `DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    }
    console.log(`server: ${JSON.stringify(server)}`);
  }
}
writeResult('ingest', {
  bench: 'ingest',
  embedded_chunks_per_s: embedded.chunks_per_s,
  server_chunks_per_s: server?.chunks_per_s ?? null,
  embedded_query_p50_ms: embedded.query_p50_ms,
  server_query_p50_ms: server?.query_p50_ms ?? null,
  peak_rss_mb: Math.max(embedded.peak_rss_mb, server?.peak_rss_mb ?? 0),
  embedded_docs_per_s: embedded.docs_per_s,
  server_docs_per_s: server?.docs_per_s ?? null,
  embedded_query_p95_ms: embedded.query_p95_ms,
  server_query_p95_ms: server?.query_p95_ms ?? null,
  embedded_cold_load_s: embedded.cold_load_s,
  server_cold_load_s: server?.cold_load_s ?? null,
  embedded_peak_rss_mb: embedded.peak_rss_mb,
  server_peak_rss_mb: server?.peak_rss_mb ?? null,
  embedded_cold_load_peak_rss_mb: embedded.cold_load_peak_rss_mb,
  server_cold_load_peak_rss_mb: server?.cold_load_peak_rss_mb ?? null,
  peak_rss_note:
    'peak_rss_mb: ingest + queries (the process holds one 100k-chunk index); cold-load peaks are separate because the bench process may still hold the ingesting index',
  ...(serverSkipped ? { server_skipped: serverSkipped } : {}),
  chunks: corpus.chunkCount,
  documents: corpus.documents.length,
  queries: corpus.queries.length,
  k,
  embedder: embedder.id,
  machine: machine(),
});

async function admin(url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

function round(value: number, digits: number): number {
  return Number(value.toFixed(digits));
}
