/**
 * Measures the built-in embedder on BEIR SciFact (train qrels: 809 queries; the test split is held
 * out of shared/ for independent measurement) with brute-force cosine: nDCG@10 and Recall@100,
 * alone and fused with a reference BM25 by reciprocal rank fusion, plus embedding throughput.
 *
 *   node --import tsx src/embeddings/builtin.eval.ts [--dims 384,768,1024] [--seeds 0,1,2]
 *     [--params '{"chargram":0.5}'] [--no-speed]
 *
 * Hash collisions make a single run noisy (about ±0.01 nDCG@10 between seeds at 1024 dims), so
 * each setting is averaged over several hash seeds; the shipped embedder uses seed 0.
 *
 * The BM25 here is only a yardstick for complementarity (Porter stems, k1 0.9, b 0.4, the
 * embedder's stopwords); the product's lexical index lives in retrieval/.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { countTokens } from 'gpt-tokenizer';
import { stemmer } from 'stemmer';
import { contentWords } from './builtin-features.js';
import { createBuiltinEmbedder, createHashVectorizer, HASH_V1 } from './builtin.js';

interface Doc {
  id: string;
  text: string;
}

const { values } = parseArgs({
  options: {
    data: { type: 'string', default: resolve(import.meta.dirname, '../../../shared/data/beir-scifact') },
    dims: { type: 'string', default: '384,768,1024' },
    seeds: { type: 'string', default: '0,1,2' },
    params: { type: 'string', default: '{}' },
    'no-speed': { type: 'boolean', default: false },
  },
});

const dir = values.data;
const docs: Doc[] = lines(`${dir}/corpus.jsonl`).map((line) => {
  const row = JSON.parse(line) as { _id: string; title: string; text: string };
  return { id: row._id, text: `${row.title} ${row.text}` };
});
const qrels = new Map<string, Set<string>>();
for (const line of lines(`${dir}/qrels/train.tsv`).slice(1)) {
  const [query, doc, score] = line.split('\t');
  if (Number(score) <= 0) continue;
  if (!qrels.has(query)) qrels.set(query, new Set());
  qrels.get(query)!.add(doc);
}
const queries: Doc[] = lines(`${dir}/queries.jsonl`)
  .map((line) => JSON.parse(line) as { _id: string; text: string })
  .filter((query) => qrels.has(query._id))
  .map((query) => ({ id: query._id, text: query.text }));

console.log(`SciFact: ${docs.length} docs, ${queries.length} train queries`);
const bm25 = bm25Rankings();
print('BM25 (reference)', [score(bm25)]);

const seeds = values.seeds.split(',').map(Number);
for (const dimensions of values.dims.split(',').map(Number)) {
  const runs = seeds.map((seed) => {
    const vectorize = createHashVectorizer({ ...HASH_V1, ...(JSON.parse(values.params) as object), dimensions, seed });
    const docVectors = docs.map((doc) => vectorize(doc.text));
    const dense = queries.map((query) => rankByCosine(vectorize(query.text), docVectors));
    return { alone: score(dense), fused: score(fuse(bm25, dense, 1)), half: score(fuse(bm25, dense, 0.5)) };
  });
  print(
    `builtin ${dimensions}d`,
    runs.map((run) => run.alone),
  );
  print(
    `  RRF(BM25, builtin ${dimensions}d)`,
    runs.map((run) => run.fused),
  );
  print(
    `  RRF(BM25, builtin ${dimensions}d × 0.5)`,
    runs.map((run) => run.half),
  );
}

if (!values['no-speed']) await measureSpeed();

// ---------------------------------------------------------------------------------------------

function lines(path: string): string[] {
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '');
}

interface Score {
  ndcg: number;
  recall: number;
}

/** Mean over seeds, with the range when there is more than one. */
function print(label: string, scores: Score[]): void {
  const show = (values: number[]) => {
    const mean = (values.reduce((a, x) => a + x, 0) / values.length).toFixed(4);
    return values.length === 1 ? mean : `${mean} [${Math.min(...values).toFixed(3)}–${Math.max(...values).toFixed(3)}]`;
  };
  const ndcg = show(scores.map((s) => s.ndcg));
  console.log(`${label.padEnd(34)} nDCG@10 ${ndcg.padEnd(22)} Recall@100 ${show(scores.map((s) => s.recall))}`);
}

function score(rankings: string[][]): Score {
  let ndcg = 0;
  let recall = 0;
  queries.forEach((query, q) => {
    const relevant = qrels.get(query.id)!;
    const ranking = rankings[q];
    let dcg = 0;
    let ideal = 0;
    for (let k = 0; k < 10; k++) {
      if (k < ranking.length && relevant.has(ranking[k])) dcg += 1 / Math.log2(k + 2);
      if (k < relevant.size) ideal += 1 / Math.log2(k + 2);
    }
    ndcg += dcg / ideal;
    recall += ranking.slice(0, 100).filter((id) => relevant.has(id)).length / relevant.size;
  });
  return { ndcg: ndcg / queries.length, recall: recall / queries.length };
}

function rankByCosine(query: Float32Array, vectors: Float32Array[]): string[] {
  const scores = vectors.map((vector) => {
    let dot = 0;
    for (let i = 0; i < vector.length; i++) dot += vector[i] * query[i];
    return dot;
  });
  return top(scores, 1000);
}

function top(scores: ArrayLike<number>, k: number): string[] {
  return Array.from({ length: scores.length }, (_, i) => i)
    .filter((i) => scores[i] > 0)
    .sort((a, b) => scores[b] - scores[a] || a - b)
    .slice(0, k)
    .map((i) => docs[i].id);
}

/** Reciprocal rank fusion with the usual k = 60; `weight` scales the embedder's votes. */
function fuse(lexical: string[][], dense: string[][], weight: number): string[][] {
  return lexical.map((ranking, q) => {
    const scores = new Map<string, number>();
    ranking.forEach((id, rank) => scores.set(id, 1 / (61 + rank)));
    dense[q].forEach((id, rank) => scores.set(id, (scores.get(id) ?? 0) + weight / (61 + rank)));
    return [...scores].sort((a, b) => b[1] - a[1]).map(([id]) => id);
  });
}

function bm25Rankings(k1 = 0.9, b = 0.4): string[][] {
  const stems = new Map<string, string>();
  const terms = (text: string) => contentWords(text).map((word) => stems.get(word) ?? (stems.set(word, stemmer(word)), stems.get(word)!));
  const postings = new Map<string, Array<[number, number]>>();
  const lengths = docs.map((doc, d) => {
    const tf = new Map<string, number>();
    const words = terms(doc.text);
    for (const term of words) tf.set(term, (tf.get(term) ?? 0) + 1);
    for (const [term, count] of tf) {
      if (!postings.has(term)) postings.set(term, []);
      postings.get(term)!.push([d, count]);
    }
    return words.length;
  });
  const average = lengths.reduce((a, x) => a + x, 0) / lengths.length;
  return queries.map((query) => {
    const scores = new Float64Array(docs.length);
    for (const term of new Set(terms(query.text))) {
      const list = postings.get(term) ?? [];
      const idf = Math.log(1 + (docs.length - list.length + 0.5) / (list.length + 0.5));
      for (const [d, tf] of list) scores[d] += (idf * tf * (k1 + 1)) / (tf + k1 * (1 - b + (b * lengths[d]) / average));
    }
    return top(scores, 1000);
  });
}

/**
 * The corpus cut into 150-word chunks (~220 o200k tokens), embedded in batches of 64 through the
 * public API on one core: first with a fresh embedder (every word new to its cache), then again.
 */
async function measureSpeed(): Promise<void> {
  const words = docs.flatMap((doc) => doc.text.split(/\s+/));
  const chunks: string[] = [];
  for (let i = 0; i + 150 <= words.length; i += 150) chunks.push(words.slice(i, i + 150).join(' '));
  const tokens = chunks.slice(0, 1000).reduce((a, chunk) => a + countTokens(chunk), 0) / Math.min(1000, chunks.length);
  console.log(`speed: ${chunks.length} chunks of 150 words, ~${Math.round(tokens)} tokens each`);
  for (const dimensions of values.dims.split(',').map(Number)) {
    const embedder = createBuiltinEmbedder({ dimensions });
    const rates = [];
    for (let pass = 0; pass < 2; pass++) {
      const started = performance.now();
      for (let i = 0; i < chunks.length; i += 64) await embedder.embed({ texts: chunks.slice(i, i + 64), kind: 'document' });
      rates.push(Math.round(chunks.length / ((performance.now() - started) / 1000)));
    }
    console.log(`  ${dimensions}d: ${rates[0]} chunks/s first pass, ${rates[1]} chunks/s second pass`);
  }
}
