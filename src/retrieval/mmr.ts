/**
 * Maximal marginal relevance (Carbonell & Goldstein, SIGIR 1998): picks, one at a time, the
 * candidate maximising λ·relevance − (1−λ)·(highest similarity to anything already picked).
 * Relevance is min-max rescaled to [0, 1] over the candidates so λ means the same for BM25,
 * cosine and fused scores (RRF scores alone span a narrow band: 1/61 … 1/160 for 100
 * candidates). λ = 1 keeps the relevance order; λ = 0 is pure diversity.
 */

export interface MmrParams<T> {
  lambda: number;
  k: number;
  relevance: (item: T) => number;
  /** Similarity of two candidates, typically cosine of their embeddings (in [-1, 1]). */
  similarity: (a: T, b: T) => number;
}

/** Candidates must come best first; ties keep that order. */
export function maximalMarginalRelevance<T>(candidates: readonly T[], params: MmrParams<T>): T[] {
  const lambda = Math.min(1, Math.max(0, params.lambda));
  const k = Math.min(params.k, candidates.length);
  if (k <= 0) return [];
  const scores = candidates.map(params.relevance);
  const best = Math.max(...scores);
  const worst = Math.min(...scores);
  const relevance = scores.map((s) => (best > worst ? (s - worst) / (best - worst) : 1));
  // Highest similarity of each remaining candidate to the picked set, updated incrementally.
  const redundancy = new Float64Array(candidates.length).fill(-Infinity);
  const picked = new Uint8Array(candidates.length);
  const out: T[] = [];
  while (out.length < k) {
    let choice = -1;
    let choiceScore = -Infinity;
    for (let i = 0; i < candidates.length; i++) {
      if (picked[i]) continue;
      const penalty = out.length === 0 ? 0 : redundancy[i];
      const score = lambda * relevance[i] - (1 - lambda) * penalty;
      if (score > choiceScore) {
        choice = i;
        choiceScore = score;
      }
    }
    picked[choice] = 1;
    out.push(candidates[choice]);
    for (let i = 0; i < candidates.length; i++) {
      if (!picked[i]) redundancy[i] = Math.max(redundancy[i], params.similarity(candidates[i], candidates[choice]));
    }
  }
  return out;
}
