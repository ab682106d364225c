/**
 * bench:retrieval — retrieval quality and query latency on BEIR SciFact, end to end through
 * the product's code: an embedded (PGlite) store in a temporary data folder, the built-in
 * embedder, the retrieval repository's lexical (BM25), vector and hybrid (RRF) search.
 *
 *   npm run bench:retrieval [-- --corpus <corpus.jsonl> --queries <queries.jsonl>
 *     --qrels <qrels.tsv> --run-out <trec run file> --dims <n> --k1 <x> --b <x>
 *     --rrf-k <n> --lexical-weight <x> --vector-weight <x>]
 *
 * BM25 and fusion default to the repository's defaults for the embedder; the flags are for
 * tuning (see src/retrieval/search.ts for what was tuned and how much it moved).
 *
 * Each corpus row is one document of ONE chunk (title as the document title, abstract as the
 * chunk text): SciFact abstracts are short (~200 words), and the published BM25 baselines index
 * title + abstract as one unit. Lexical search indexes title + text; the embedder sees the same.
 * Only queries with judgements in the qrels file are evaluated (train: 809 queries).
 *
 * Last line: {"bench":"retrieval","ndcg10_lexical":…,"ndcg10_embedder":…,"ndcg10_hybrid":…,
 *   "recall100_hybrid":…,"query_p50_ms":…,"query_p95_ms":…,…}
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { BUILTIN_DEFAULT_DIMENSIONS, createBuiltinEmbedder } from '../src/embeddings/builtin.js';
import { createRetrievalRepository, DEFAULT_RANKING, defaultFusion, type SearchHit } from '../src/retrieval/index.js';
import { openStore } from '../src/store/index.js';
import { machine, percentile, writeResult } from './report.js';
import { mean, ndcgAt, parseQrels, recallAt } from './retrieval-metrics.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = here.includes(join('dist', 'bench')) ? join(here, '..', '..') : join(here, '..');
const data = resolve(repoRoot, '..', 'shared', 'data', 'beir-scifact');

const { values } = parseArgs({
  options: {
    corpus: { type: 'string', default: join(data, 'corpus.jsonl') },
    queries: { type: 'string', default: join(data, 'queries.jsonl') },
    qrels: { type: 'string', default: join(data, 'qrels', 'train.tsv') },
    'run-out': { type: 'string' },
    dims: { type: 'string', default: String(BUILTIN_DEFAULT_DIMENSIONS) },
    k1: { type: 'string', default: String(DEFAULT_RANKING.bm25.k1) },
    b: { type: 'string', default: String(DEFAULT_RANKING.bm25.b) },
    // Fusion defaults to what the repository picks for the embedder (defaultFusion).
    'rrf-k': { type: 'string' },
    'lexical-weight': { type: 'string' },
    'vector-weight': { type: 'string' },
  },
});

const TENANT = 'bench';
const COLLECTION = 'scifact';
const DEPTH = 100;

const corpus = jsonl<{ _id: string; title: string; text: string }>(values.corpus as string);
const queryText = new Map(jsonl<{ _id: string; text: string }>(values.queries as string).map((q) => [q._id, q.text]));
const qrels = parseQrels(readFileSync(values.qrels as string, 'utf8'));
const evaluated = [...qrels.keys()].filter((qid) => queryText.has(qid));

const embedder = createBuiltinEmbedder({ dimensions: Number(values.dims) });
const fusion = defaultFusion(embedder.id);
const ranking = {
  bm25: { k1: Number(values.k1), b: Number(values.b) },
  fusion: {
    k: Number(values['rrf-k'] ?? fusion.k),
    lexicalWeight: Number(values['lexical-weight'] ?? fusion.lexicalWeight),
    vectorWeight: Number(values['vector-weight'] ?? fusion.vectorWeight),
  },
  candidates: DEPTH,
};
const dataDir = mkdtempSync(join(tmpdir(), 'gw-bench-retrieval-'));
const store = await openStore({ dataDir, lock: false });
try {
  const repo = createRetrievalRepository(store.db, { ranking });
  await repo.createCollection(TENANT, { name: COLLECTION, description: 'BEIR SciFact', embedder: embedder.id, dimensions: embedder.dimensions });

  const ingestStart = performance.now();
  const BATCH = 64;
  for (let i = 0; i < corpus.length; i += BATCH) {
    const rows = corpus.slice(i, i + BATCH);
    const { vectors } = await embedder.embed({ texts: rows.map((row) => `${row.title}\n${row.text}`), kind: 'document' });
    for (const [j, row] of rows.entries()) {
      await repo.upsertDocument(TENANT, COLLECTION, {
        source: row._id,
        title: row.title,
        format: 'text',
        contentHash: createHash('sha256').update(row.title).update('\n').update(row.text).digest('hex'),
        metadata: {},
        bytes: Buffer.byteLength(row.text),
        chunks: [{ position: 0, text: row.text, headingPath: [], tokenCount: row.text.split(/\s+/).length, embedding: vectors[j] }],
      });
    }
  }
  const ingestSeconds = (performance.now() - ingestStart) / 1000;

  const scores = { lexical: [] as number[], vector: [] as number[], hybrid: [] as number[] };
  const recall = { lexical: [] as number[], vector: [] as number[], hybrid: [] as number[] };
  const latencies: number[] = [];
  const run: string[] = [];
  for (const qid of evaluated) {
    const text = queryText.get(qid) as string;
    const relevant = qrels.get(qid) as Set<string>;
    for (const mode of ['lexical', 'vector', 'hybrid'] as const) {
      // Hybrid latency is what a caller waits for: embedding the query plus the search.
      const start = performance.now();
      const queryVector = mode === 'lexical' ? undefined : (await embedder.embed({ texts: [text], kind: 'query' })).vectors[0];
      const hits: SearchHit[] = await repo.search(TENANT, { collection: COLLECTION, query: text, queryVector, k: DEPTH, mode });
      if (mode === 'hybrid') latencies.push(performance.now() - start);
      const ranked = hits.map((hit) => hit.source);
      scores[mode].push(ndcgAt(ranked, relevant, 10));
      recall[mode].push(recallAt(ranked, relevant, DEPTH));
      if (mode === 'hybrid') hits.forEach((hit, i) => run.push(`${qid} Q0 ${hit.source} ${i + 1} ${hit.score.toFixed(8)} groundwork-hybrid`));
    }
  }
  if (values['run-out']) writeFileSync(values['run-out'], `${run.join('\n')}\n`);

  const round = (x: number, digits = 4) => Number(x.toFixed(digits));
  writeResult('retrieval', {
    bench: 'retrieval',
    ndcg10_lexical: round(mean(scores.lexical)),
    ndcg10_embedder: round(mean(scores.vector)),
    ndcg10_hybrid: round(mean(scores.hybrid)),
    recall100_hybrid: round(mean(recall.hybrid)),
    query_p50_ms: round(percentile(latencies, 50), 2),
    query_p95_ms: round(percentile(latencies, 95), 2),
    recall100_lexical: round(mean(recall.lexical)),
    recall100_embedder: round(mean(recall.vector)),
    bm25_published_ndcg10: '0.665–0.679',
    bm25_published_note: 'BEIR SciFact test split (300 queries; Anserini multifield 0.665, flat 0.679); these numbers are on the train qrels',
    qrels: values.qrels,
    queries_evaluated: evaluated.length,
    corpus_docs: corpus.length,
    chunking: 'one chunk per document (title + abstract)',
    embedder: embedder.id,
    ranking,
    ingest_docs_per_s: round(corpus.length / ingestSeconds, 1),
    store: 'embedded (PGlite, temporary data folder)',
    machine: machine(),
  });
} finally {
  await store.close();
  rmSync(dataDir, { recursive: true, force: true });
}

function jsonl<T>(path: string): T[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim().length > 0)
    .map((line) => JSON.parse(line) as T);
}
