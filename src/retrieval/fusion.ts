/**
 * Reciprocal rank fusion (Cormack, Clarke & Büttcher, SIGIR 2009): score(d) = Σ w_i / (k + rank_i(d)),
 * ranks starting at 1. Rank-based, so BM25 scores and cosine similarities need no calibration.
 */

export const RRF_K = 60;

export interface FusionInput<K> {
  /** Keys best first. */
  ranked: readonly K[];
  /** Default 1. */
  weight?: number;
}

export interface Fused<K> {
  key: K;
  score: number;
  /** 1-based rank in each input list (undefined where absent), in input order. */
  ranks: Array<number | undefined>;
}

/** Fused list, best first; equal scores keep the smaller key first (numbers) or the lexically smaller. */
export function reciprocalRankFusion<K extends string | number>(lists: readonly FusionInput<K>[], k: number = RRF_K): Fused<K>[] {
  const fused = new Map<K, Fused<K>>();
  lists.forEach((list, index) => {
    const weight = list.weight ?? 1;
    list.ranked.forEach((key, position) => {
      let entry = fused.get(key);
      if (!entry) {
        entry = { key, score: 0, ranks: lists.map(() => undefined) };
        fused.set(key, entry);
      }
      // A key listed twice in one input keeps its best rank.
      if (entry.ranks[index] !== undefined) return;
      entry.ranks[index] = position + 1;
      entry.score += weight / (k + position + 1);
    });
  });
  return [...fused.values()].sort((a, b) => b.score - a.score || compareKeys(a.key, b.key));
}

function compareKeys(a: string | number, b: string | number): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}
