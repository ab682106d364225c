import type { TermCounts } from './analyzer.js';
import { TopK, type Scored } from './top-k.js';

/**
 * An in-memory inverted index scored with Okapi BM25 (Lucene's formula). It is a cache of
 * the chunks stored in the database, kept per collection (see collection-index.ts): postings
 * are typed arrays per term, collection statistics (N, average length, df) are exact over
 * the live chunks, so scores do not depend on which process built the index.
 */

export interface Bm25Params {
  k1: number;
  b: number;
}

/**
 * The classic defaults. On BEIR SciFact train qrels (bench/retrieval.ts) the surface is flat:
 * nDCG@10 0.690–0.698 over k1 0.6–2.0, b 0.3–0.75; 1.2 / 0.75 scored best (Anserini's 0.9 / 0.4: 0.696).
 */
export const DEFAULT_BM25: Bm25Params = { k1: 1.2, b: 0.75 };

/** Slot state shared with the vector index: liveness and the stored chunk id of each slot. */
export interface SlotView {
  live: Uint8Array;
  ids: Float64Array;
  liveCount: number;
  /** Removed slots not yet compacted away: when 0, df is the postings length. */
  deadCount: number;
}

/** Slot and term frequency interleaved: one allocation per growth, one cache line per read. */
interface Postings {
  entries: Int32Array;
  /** Number of (slot, tf) pairs. */
  n: number;
}

export class LexicalIndex {
  private readonly dictionary = new Map<string, Postings>();
  private lengths = new Uint32Array(0);
  private totalLength = 0;
  // Scratch space reused by every query; a query touches at most the slots of its postings.
  private scores = new Float64Array(0);
  private touched = new Int32Array(0);

  /** Grows per-slot arrays; slots are allocated by the owner. */
  ensureCapacity(capacity: number): void {
    if (capacity <= this.lengths.length) return;
    this.lengths = grow(this.lengths, capacity);
    this.scores = new Float64Array(capacity);
    this.touched = new Int32Array(capacity);
  }

  add(slot: number, counts: TermCounts): void {
    this.lengths[slot] = counts.length;
    this.totalLength += counts.length;
    counts.terms.forEach((tf, term) => {
      let postings = this.dictionary.get(term);
      if (!postings) {
        postings = { entries: new Int32Array(8), n: 0 };
        this.dictionary.set(term, postings);
      } else if (2 * postings.n === postings.entries.length) {
        const entries = new Int32Array(postings.entries.length * 2);
        entries.set(postings.entries);
        postings.entries = entries;
      }
      postings.entries[2 * postings.n] = slot;
      postings.entries[2 * postings.n + 1] = tf;
      postings.n++;
    });
  }

  /** The slot's postings stay until compaction; liveness (owned by the caller) hides them. */
  remove(slot: number): void {
    this.totalLength -= this.lengths[slot];
    this.lengths[slot] = 0;
  }

  /** Rewrites postings after the owner renumbered slots (remap[old] = new, or -1 if gone). */
  compact(remap: Int32Array, capacity: number): void {
    const lengths = new Uint32Array(capacity);
    for (let old = 0; old < remap.length; old++) if (remap[old] >= 0) lengths[remap[old]] = this.lengths[old];
    this.lengths = lengths;
    this.scores = new Float64Array(capacity);
    this.touched = new Int32Array(capacity);
    for (const [term, postings] of this.dictionary) {
      const { entries } = postings;
      let n = 0;
      for (let i = 0; i < postings.n; i++) {
        const slot = remap[entries[2 * i]];
        if (slot < 0) continue;
        entries[2 * n] = slot;
        entries[2 * n + 1] = entries[2 * i + 1];
        n++;
      }
      if (n === 0) this.dictionary.delete(term);
      else postings.n = n;
    }
  }

  /**
   * Top k slots for the query terms (a term repeated in the query counts once per
   * occurrence, as in Lucene's boolean OR). `allowed` restricts the slots (metadata filters)
   * without changing the collection statistics.
   */
  search(queryTerms: string[], k: number, view: SlotView, params: Bm25Params, allowed?: Uint8Array): Scored[] {
    if (view.liveCount === 0 || queryTerms.length === 0) return [];
    const weights = new Map<string, number>();
    for (const term of queryTerms) weights.set(term, (weights.get(term) ?? 0) + 1);

    const { live } = view;
    const avgLength = this.totalLength / view.liveCount || 1;
    const { k1, b } = params;
    const scores = this.scores;
    const touched = this.touched;
    let touchedCount = 0;

    for (const [term, queryTf] of weights) {
      const postings = this.dictionary.get(term);
      if (!postings) continue;
      const df = view.deadCount === 0 ? postings.n : liveDf(postings, live);
      if (df === 0) continue;
      const idf = Math.log(1 + (view.liveCount - df + 0.5) / (df + 0.5)) * queryTf;
      const { entries } = postings;
      for (let i = 0; i < postings.n; i++) {
        const slot = entries[2 * i];
        if (live[slot] === 0 || (allowed !== undefined && allowed[slot] === 0)) continue;
        const tf = entries[2 * i + 1];
        const norm = k1 * (1 - b + (b * this.lengths[slot]) / avgLength);
        if (scores[slot] === 0) touched[touchedCount++] = slot;
        scores[slot] += (idf * tf * (k1 + 1)) / (tf + norm);
      }
    }

    const top = new TopK(k, (slot) => view.ids[slot]);
    for (let i = 0; i < touchedCount; i++) {
      const slot = touched[i];
      const score = scores[slot];
      scores[slot] = 0;
      if (score > 0 && top.wouldAccept(score)) top.push(slot, score);
    }
    return top.result();
  }

  /** Number of distinct terms (for sizing and tests). */
  get termCount(): number {
    return this.dictionary.size;
  }

  /** Approximate bytes held, for the cache budget. */
  get bytes(): number {
    let bytes = this.lengths.byteLength + this.scores.byteLength + this.touched.byteLength;
    for (const [term, postings] of this.dictionary) bytes += postings.entries.byteLength + 2 * term.length + 64;
    return bytes;
  }
}

function liveDf(postings: Postings, live: Uint8Array): number {
  let df = 0;
  for (let i = 0; i < postings.n; i++) df += live[postings.entries[2 * i]];
  return df;
}

export function grow<T extends Uint32Array | Int32Array | Uint16Array | Uint8Array | Float32Array | Float64Array>(array: T, size: number): T {
  const next = new (array.constructor as new (n: number) => T)(Math.max(size, 4));
  next.set(array.subarray(0, Math.min(array.length, size)) as never);
  return next;
}
