import { analyze } from './analyzer.js';
import { DEFAULT_BM25, type Bm25Params } from './bm25.js';
import type { CollectionIndex, SlotHit } from './collection-index.js';
import type { CompiledFilter } from './filters.js';
import { reciprocalRankFusion, RRF_K } from './fusion.js';
import { maximalMarginalRelevance } from './mmr.js';
import { cosine } from './vector-index.js';

/**
 * Ranking over one collection's index: lexical and/or vector candidates, fused by reciprocal
 * rank, optionally diversified by MMR. Returns chunk ids with their scores; the repository
 * fetches the rows. Pure given the index, so both stores rank identically.
 */

/** Reciprocal rank fusion: the constant k and a weight per list. */
export interface FusionParams {
  k: number;
  lexicalWeight: number;
  vectorWeight: number;
}

export interface RankingOptions {
  bm25: Bm25Params;
  fusion: FusionParams;
  /** Candidates taken from each list before fusion (at least k). */
  candidates: number;
}

export const DEFAULT_RANKING: RankingOptions = {
  bm25: DEFAULT_BM25,
  fusion: { k: RRF_K, lexicalWeight: 1, vectorWeight: 1 },
  candidates: 100,
};

/**
 * Fusion defaults by the collection's embedder. The built-in hashing embedder re-encodes the
 * words BM25 already sees (stems and character n-grams of the same text), so its list earns
 * a tie-breaker's weight: tuned on SciFact train qrels (bench/retrieval.ts), weight 0.3 at k = 5
 * lifts hybrid nDCG@10 from 0.665 (equal weights, k = 60) to ~0.70, level with BM25 alone,
 * and keeps the embedder's extra recall. A neural embedder brings independent evidence and
 * gets the standard equal weights at k = 60.
 */
export function defaultFusion(embedder: string): FusionParams {
  return embedder.startsWith('builtin:hash-') ? BUILTIN_FUSION : DEFAULT_RANKING.fusion;
}

const BUILTIN_FUSION: FusionParams = { k: 5, lexicalWeight: 1, vectorWeight: 0.3 };

export interface RankedChunk {
  chunkId: number;
  slot: number;
  score: number;
  lexicalScore?: number;
  vectorScore?: number;
  lexicalRank?: number;
  vectorRank?: number;
}

export interface RankRequest {
  query: string;
  queryVector?: Float32Array;
  mode: 'hybrid' | 'lexical' | 'vector';
  filter?: CompiledFilter;
  mmrLambda?: number;
  /** How many to return. */
  limit: number;
}

export function rankChunks(index: CollectionIndex, request: RankRequest, options: RankingOptions): RankedChunk[] {
  const allowed = index.allowed(request.filter);
  const depth = Math.max(options.candidates, request.limit);
  const lexical = request.mode === 'vector' ? [] : index.searchLexical(analyze(request.query), depth, allowed, options.bm25);
  const vector = request.mode === 'lexical' || !request.queryVector ? [] : index.searchVector(request.queryVector, depth, allowed);

  let ranked: RankedChunk[];
  if (request.mode === 'lexical') {
    ranked = lexical.map((hit, i) => ({ chunkId: hit.chunkId, slot: hit.slot, score: hit.score, lexicalScore: hit.score, lexicalRank: i + 1 }));
  } else if (request.mode === 'vector') {
    ranked = vector.map((hit, i) => ({ chunkId: hit.chunkId, slot: hit.slot, score: hit.score, vectorScore: hit.score, vectorRank: i + 1 }));
  } else {
    ranked = fuse(lexical, vector, options.fusion);
  }

  if (request.mmrLambda !== undefined && ranked.length > 1) {
    // Gathered once per candidate: the index is dimension-major, a row read is scattered.
    const vectors = new Map<number, Float32Array>();
    const vectorOf = (item: RankedChunk) => {
      let vector = vectors.get(item.slot);
      if (!vector) vectors.set(item.slot, (vector = index.vectorOf(item.slot)));
      return vector;
    };
    return maximalMarginalRelevance(ranked, {
      lambda: request.mmrLambda,
      k: request.limit,
      relevance: (item) => item.score,
      similarity: (a, b) => cosine(vectorOf(a), vectorOf(b)),
    });
  }
  return ranked.slice(0, request.limit);
}

function fuse(lexical: SlotHit[], vector: SlotHit[], fusion: FusionParams): RankedChunk[] {
  const byId = new Map<number, { slot: number; lexical?: number; vector?: number }>();
  for (const hit of lexical) byId.set(hit.chunkId, { slot: hit.slot, lexical: hit.score });
  for (const hit of vector) {
    const entry = byId.get(hit.chunkId);
    if (entry) entry.vector = hit.score;
    else byId.set(hit.chunkId, { slot: hit.slot, vector: hit.score });
  }
  const fused = reciprocalRankFusion(
    [
      { ranked: lexical.map((hit) => hit.chunkId), weight: fusion.lexicalWeight },
      { ranked: vector.map((hit) => hit.chunkId), weight: fusion.vectorWeight },
    ],
    fusion.k,
  );
  return fused.map((item) => {
    const entry = byId.get(item.key) as { slot: number; lexical?: number; vector?: number };
    return {
      chunkId: item.key,
      slot: entry.slot,
      score: item.score,
      ...(entry.lexical === undefined ? {} : { lexicalScore: entry.lexical, lexicalRank: item.ranks[0] }),
      ...(entry.vector === undefined ? {} : { vectorScore: entry.vector, vectorRank: item.ranks[1] }),
    };
  });
}
