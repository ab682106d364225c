import { describe, expect, it } from 'vitest';
import { reciprocalRankFusion } from './fusion.js';
import { maximalMarginalRelevance } from './mmr.js';

describe('reciprocal rank fusion', () => {
  it('sums weight / (k + rank) over the lists, best first', () => {
    const fused = reciprocalRankFusion([{ ranked: ['a', 'b', 'c'] }, { ranked: ['c', 'a'], weight: 0.5 }], 60);
    expect(fused.map((f) => f.key)).toEqual(['a', 'c', 'b']);
    expect(fused[0]).toEqual({ key: 'a', score: 1 / 61 + 0.5 / 62, ranks: [1, 2] });
    expect(fused[1]).toEqual({ key: 'c', score: 1 / 63 + 0.5 / 61, ranks: [3, 1] });
    expect(fused[2]).toEqual({ key: 'b', score: 1 / 62, ranks: [2, undefined] });
  });

  it('keeps an item found by one list only, and breaks ties by key', () => {
    const fused = reciprocalRankFusion([{ ranked: [7, 3] }, { ranked: [3, 7] }, { ranked: [9] }]);
    expect(fused.map((f) => f.key)).toEqual([3, 7, 9]);
    expect(fused[2].ranks).toEqual([undefined, undefined, 1]);
  });

  it('counts a key listed twice in one list once, at its best rank', () => {
    const [entry] = reciprocalRankFusion([{ ranked: ['x', 'x'] }], 10);
    expect(entry).toEqual({ key: 'x', score: 1 / 11, ranks: [1] });
  });
});

describe('maximal marginal relevance', () => {
  const items = [
    { id: 'a', score: 1.0, topic: 0 },
    { id: 'a2', score: 0.95, topic: 0 },
    { id: 'b', score: 0.9, topic: 1 },
    { id: 'c', score: 0.5, topic: 2 },
  ];
  const params = (lambda: number, k = 4) => ({
    lambda,
    k,
    relevance: (item: (typeof items)[number]) => item.score,
    similarity: (x: (typeof items)[number], y: (typeof items)[number]) => (x.topic === y.topic ? 1 : 0),
  });

  it('keeps the relevance order at λ = 1', () => {
    expect(maximalMarginalRelevance(items, params(1)).map((i) => i.id)).toEqual(['a', 'a2', 'b', 'c']);
  });

  it('moves a near-duplicate behind different relevant items as λ falls', () => {
    expect(maximalMarginalRelevance(items, params(0.5)).map((i) => i.id)).toEqual(['a', 'b', 'c', 'a2']);
    expect(maximalMarginalRelevance(items, params(0.5, 2)).map((i) => i.id)).toEqual(['a', 'b']);
  });

  it('returns nothing for no candidates and clamps k', () => {
    expect(maximalMarginalRelevance([], params(0.5))).toEqual([]);
    expect(maximalMarginalRelevance(items.slice(0, 1), params(0.5, 5)).map((i) => i.id)).toEqual(['a']);
  });
});
