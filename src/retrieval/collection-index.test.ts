import { describe, expect, it } from 'vitest';
import { countTerms } from './analyzer.js';
import { CollectionIndex, type IndexedDocument } from './collection-index.js';
import { compileFilter } from './filters.js';

const texts = ['apple banana', 'banana cherry cherry', 'cherry date', 'date elderberry fig', 'apple apple fig grape', 'grape'];

function document(id: string, chunkIds: number[], words: string[], metadata: Record<string, unknown> = {}): IndexedDocument {
  return {
    id,
    metadata,
    chunks: chunkIds.map((chunkId, i) => ({ id: chunkId, counts: countTerms(words[i]), vector: vector(words[i]) })),
  };
}

function vector(text: string): Float32Array {
  const v = new Float32Array(8);
  for (const word of text.split(' ')) v[word.charCodeAt(0) % 8] += 1;
  return v;
}

describe('BM25 scoring', () => {
  it('matches the Okapi formula over the live chunks', () => {
    const index = new CollectionIndex('c', 8, 0);
    texts.forEach((text, i) => index.putDocument(document(`d${i}`, [i + 1], [text])));
    const hits = index.searchLexical(['cherri'], 10, undefined, { k1: 1.2, b: 0.75 });
    // N = 6 chunks, df(cherry) = 2, avgdl = 15 / 6.
    const idf = Math.log(1 + (6 - 2 + 0.5) / (2 + 0.5));
    const score = (tf: number, dl: number) => (idf * tf * 2.2) / (tf + 1.2 * (1 - 0.75 + (0.75 * dl) / (15 / 6)));
    expect(hits.map((h) => h.chunkId)).toEqual([2, 3]);
    expect(hits[0].score).toBeCloseTo(score(2, 3), 12);
    expect(hits[1].score).toBeCloseTo(score(1, 2), 12);
  });

  it('scores a chunk with more query terms higher and ignores unknown terms', () => {
    const index = new CollectionIndex('c', 8, 0);
    texts.forEach((text, i) => index.putDocument(document(`d${i}`, [i + 1], [text])));
    const hits = index.searchLexical(['appl', 'fig', 'unknown'], 10);
    expect(hits.map((h) => h.chunkId)).toEqual([5, 1, 4]);
  });
});

describe('collection index', () => {
  it('answers after removals and compaction exactly as an index built from the survivors', () => {
    let state = 3;
    const random = () => (state = (Math.imul(state, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const words = ['alpha', 'beta', 'gamma', 'delta', 'omega', 'sigma', 'kappa', 'theta'];
    const live = new Map<string, IndexedDocument>();
    const index = new CollectionIndex('c', 8, 0);
    let nextChunk = 1;
    // Enough churn to cross the compaction threshold (1,024 dead slots) several times.
    for (let step = 0; step < 4_000; step++) {
      const id = `d${Math.floor(random() * 300)}`;
      if (random() < 0.3) {
        index.removeDocument(id);
        live.delete(id);
        continue;
      }
      const chunkTexts = Array.from({ length: 1 + Math.floor(random() * 3) }, () =>
        Array.from({ length: 2 + Math.floor(random() * 6) }, () => words[Math.floor(random() * words.length)]).join(' '),
      );
      const doc = document(
        id,
        chunkTexts.map(() => nextChunk++),
        chunkTexts,
        { group: random() < 0.5 ? 'a' : 'b' },
      );
      index.putDocument(doc);
      live.set(id, doc);
    }
    const fresh = new CollectionIndex('c', 8, 0);
    for (const doc of live.values()) fresh.putDocument(doc);
    expect(index.chunkCount).toBe(fresh.chunkCount);
    expect(index.documentCount).toBe(live.size);
    const filter = compileFilter({ group: 'a' });
    for (const query of [['alpha'], ['beta', 'kappa'], ['omega', 'omega', 'theta']]) {
      const strip = (hits: { chunkId: number; score: number }[]) => hits.map(({ chunkId, score }) => ({ chunkId, score }));
      expect(strip(index.searchLexical(query, 20))).toEqual(strip(fresh.searchLexical(query, 20)));
      expect(strip(index.searchLexical(query, 20, index.allowed(filter)))).toEqual(strip(fresh.searchLexical(query, 20, fresh.allowed(filter))));
      const q = vector(query.join(' '));
      expect(strip(index.searchVector(q, 20))).toEqual(strip(fresh.searchVector(q, 20)));
      expect(strip(index.searchVector(q, 20, index.allowed(filter)))).toEqual(strip(fresh.searchVector(q, 20, fresh.allowed(filter))));
    }
  });

  it('finds nothing in an empty index or for an empty query', () => {
    const index = new CollectionIndex('c', 8, 0);
    expect(index.searchLexical(['x'], 5)).toEqual([]);
    index.putDocument(document('d', [1], ['alpha']));
    expect(index.searchLexical([], 5)).toEqual([]);
    expect(index.searchVector(new Float32Array(8), 5)).toEqual([]);
  });

  it('ranks vectors by cosine, ties by chunk id, and leaves out those at 90° or more', () => {
    const index = new CollectionIndex('c', 2, 0);
    const put = (id: number, x: number, y: number) =>
      index.putDocument({ id: `d${id}`, metadata: {}, chunks: [{ id, counts: countTerms(''), vector: Float32Array.of(x, y) }] });
    put(4, 1, 1);
    put(2, 2, 2);
    put(3, 1, 0);
    put(1, -1, 0);
    put(5, 0, 1);
    const hits = index.searchVector(Float32Array.of(1, 1), 10);
    expect(hits.map((h) => h.chunkId)).toEqual([2, 4, 3, 5]);
    expect(hits[0].score).toBeCloseTo(1, 12);
    expect(hits[2].score).toBeCloseTo(Math.SQRT1_2, 12);
  });
});
