/**
 * A deterministic synthetic corpus for bench:ingest: 50,000 pseudo-words (unique syllable
 * strings), word frequencies following Zipf's law (s = 1), chunks of 150–250 words grouped
 * into documents of 15–25 chunks, and short queries drawn from the same distribution.
 * Documents are generated lazily (each from its own seed), so the corpus costs no memory and
 * every pass yields the same text.
 */
import { mulberry32 } from '../src/testing/mock-llm-faults.js';

export interface SyntheticDocument {
  source: string;
  title: string;
  metadata: Record<string, unknown>;
  chunks: string[];
}

export interface SyntheticCorpus {
  chunkCount: number;
  /** Iterable more than once: each pass regenerates the same documents. */
  documents: { length: number; [Symbol.iterator](): Iterator<SyntheticDocument> };
  queries: string[];
}

const VOCABULARY = 50_000;
const ONSETS = ['', 'b', 'c', 'd', 'f', 'g', 'h', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'z', 'br', 'st', 'tr', 'ch', 'sh'];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ai', 'ou'];

export function syntheticCorpus(params: { chunks: number; queries: number; seed: number }): SyntheticCorpus {
  const words = vocabulary(params.seed);
  const cdf = zipfCdf(VOCABULARY, 1);
  const draw = (random: () => number) => words[lowerBound(cdf, random() * cdf[cdf.length - 1])];

  // Document sizes first (cheap), so the count is known before any text exists.
  const sizes: number[] = [];
  const sizeRandom = mulberry32(params.seed ^ 0x9e3779b9);
  for (let total = 0; total < params.chunks;) {
    const size = Math.min(15 + Math.floor(sizeRandom() * 11), params.chunks - total);
    sizes.push(size);
    total += size;
  }

  const makeDocument = (index: number): SyntheticDocument => {
    const random = mulberry32(params.seed * 1_000_003 + index);
    const chunks: string[] = [];
    for (let c = 0; c < sizes[index]; c++) {
      const length = 150 + Math.floor(random() * 101);
      const text: string[] = [];
      for (let w = 0; w < length; w++) text.push(draw(random));
      chunks.push(text.join(' '));
    }
    const title = `Report ${index}: ${draw(random)} ${draw(random)} ${draw(random)}`;
    return { source: `doc-${index}.txt`, title, metadata: { group: `g${index % 10}` }, chunks };
  };

  const queryRandom = mulberry32(params.seed ^ 0x51ed27);
  const queries = Array.from({ length: params.queries }, () => {
    const length = 3 + Math.floor(queryRandom() * 4);
    return Array.from({ length }, () => draw(queryRandom)).join(' ');
  });

  return {
    chunkCount: params.chunks,
    documents: {
      length: sizes.length,
      *[Symbol.iterator]() {
        for (let i = 0; i < sizes.length; i++) yield makeDocument(i);
      },
    },
    queries,
  };
}

function vocabulary(seed: number): string[] {
  const random = mulberry32(seed);
  const seen = new Set<string>();
  const words: string[] = [];
  while (words.length < VOCABULARY) {
    const syllables = 2 + Math.floor(random() * 3);
    let word = '';
    for (let s = 0; s < syllables; s++) word += ONSETS[Math.floor(random() * ONSETS.length)] + VOWELS[Math.floor(random() * VOWELS.length)];
    if (seen.has(word)) continue;
    seen.add(word);
    words.push(word);
  }
  return words;
}

function zipfCdf(n: number, s: number): Float64Array {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let rank = 1; rank <= n; rank++) {
    sum += 1 / rank ** s;
    cdf[rank - 1] = sum;
  }
  return cdf;
}

function lowerBound(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
