import type { TermCounts } from './analyzer.js';
import { DEFAULT_BM25, grow, LexicalIndex, type Bm25Params, type SlotView } from './bm25.js';
import type { CompiledFilter } from './filters.js';
import { VectorIndex } from './vector-index.js';

/**
 * The in-process search index of one collection: a cache of its rows in the database, never a
 * source of truth. It carries the collection revision it reflects; the repository compares
 * that with the database before every search and replays changed documents (index-loader.ts),
 * so replicas that share only PostgreSQL answer alike. Chunks live in slots; removing a
 * document frees its slots lazily and compaction renumbers them once enough are dead.
 */

export interface IndexedChunk {
  /** retrieval_chunks.id: the stable key for ties and for fetching hits. */
  id: number;
  counts: TermCounts;
  vector: Float32Array;
}

export interface IndexedDocument {
  id: string;
  metadata: Record<string, unknown>;
  chunks: IndexedChunk[];
}

export interface SlotHit {
  chunkId: number;
  slot: number;
  score: number;
}

const MIN_COMPACT = 1_024;

export class CollectionIndex {
  revision: number;
  private slotCount = 0;
  private live = new Uint8Array(0);
  private ids = new Float64Array(0);
  private liveCount = 0;
  private deadCount = 0;
  private readonly docs = new Map<string, { slots: number[]; metadata: Record<string, unknown> }>();
  private readonly lexical = new LexicalIndex();
  private readonly vectors: VectorIndex;

  constructor(
    readonly collectionId: string,
    readonly dimensions: number,
    revision: number,
  ) {
    this.revision = revision;
    this.vectors = new VectorIndex(dimensions);
  }

  get chunkCount(): number {
    return this.liveCount;
  }

  get documentCount(): number {
    return this.docs.size;
  }

  hasDocument(id: string): boolean {
    return this.docs.has(id);
  }

  /** Adds the document, replacing an earlier version of it. */
  putDocument(doc: IndexedDocument): void {
    this.removeDocument(doc.id);
    this.ensureDocument(doc.id, doc.metadata);
    for (const chunk of doc.chunks) this.appendChunk(doc.id, doc.metadata, chunk);
  }

  /** Streaming load: adds one chunk of a document that is not indexed yet or is being loaded. */
  appendChunk(documentId: string, metadata: Record<string, unknown>, chunk: IndexedChunk): void {
    let doc = this.docs.get(documentId);
    if (!doc) {
      doc = { slots: [], metadata };
      this.docs.set(documentId, doc);
    }
    this.reserve(this.slotCount + 1);
    const slot = this.slotCount++;
    this.live[slot] = 1;
    this.ids[slot] = chunk.id;
    this.lexical.add(slot, chunk.counts);
    this.vectors.set(slot, chunk.vector);
    doc.slots.push(slot);
    this.liveCount++;
  }

  /** A ready document without chunks still counts as indexed (it matches nothing). */
  ensureDocument(documentId: string, metadata: Record<string, unknown>): void {
    if (!this.docs.has(documentId)) this.docs.set(documentId, { slots: [], metadata });
  }

  removeDocument(id: string): void {
    const doc = this.docs.get(id);
    if (!doc) return;
    for (const slot of doc.slots) {
      this.live[slot] = 0;
      this.lexical.remove(slot);
    }
    this.liveCount -= doc.slots.length;
    this.deadCount += doc.slots.length;
    this.docs.delete(id);
    if (this.deadCount >= MIN_COMPACT && this.deadCount * 4 >= this.slotCount) this.compact();
  }

  /** Slots of documents whose metadata matches, or undefined for no filter. */
  allowed(filter: CompiledFilter | undefined): Uint8Array | undefined {
    if (!filter) return undefined;
    const mask = new Uint8Array(this.slotCount);
    for (const doc of this.docs.values()) {
      if (!filter.matches(doc.metadata)) continue;
      for (const slot of doc.slots) mask[slot] = 1;
    }
    return mask;
  }

  searchLexical(terms: string[], k: number, allowed?: Uint8Array, params: Bm25Params = DEFAULT_BM25): SlotHit[] {
    return this.lexical.search(terms, k, this.view(), params, allowed).map((hit) => ({ ...hit, chunkId: this.ids[hit.slot] }));
  }

  searchVector(query: Float32Array, k: number, allowed?: Uint8Array): SlotHit[] {
    return this.vectors.search(query, k, this.view(), allowed, this.slotCount).map((hit) => ({ ...hit, chunkId: this.ids[hit.slot] }));
  }

  /** A copy of the slot's embedding (for MMR). */
  vectorOf(slot: number): Float32Array {
    return this.vectors.get(slot);
  }

  /** Approximate memory held, for the cache budget. */
  get bytes(): number {
    return this.lexical.bytes + this.vectors.bytes + this.live.byteLength + this.ids.byteLength + this.docs.size * 96;
  }

  private view(): SlotView {
    return { live: this.live, ids: this.ids, liveCount: this.liveCount, deadCount: this.deadCount };
  }

  private reserve(needed: number): void {
    if (needed <= this.live.length) return;
    // 1.5× rather than 2×: at 100k chunks × 768 dimensions the slack alone would be 300 MB.
    const capacity = Math.max(needed, Math.ceil(this.live.length * 1.5), 256);
    this.live = grow(this.live, capacity);
    this.ids = grow(this.ids, capacity);
    this.lexical.ensureCapacity(capacity);
    this.vectors.ensureCapacity(capacity);
  }

  private compact(): void {
    const remap = new Int32Array(this.slotCount).fill(-1);
    let next = 0;
    for (let slot = 0; slot < this.slotCount; slot++) if (this.live[slot]) remap[slot] = next++;
    const capacity = Math.max(Math.ceil(next * 1.5), 256);
    const live = new Uint8Array(capacity);
    const ids = new Float64Array(capacity);
    for (let slot = 0; slot < this.slotCount; slot++) {
      if (remap[slot] < 0) continue;
      live[remap[slot]] = 1;
      ids[remap[slot]] = this.ids[slot];
    }
    this.lexical.compact(remap, capacity);
    this.vectors.compact(remap, capacity);
    for (const doc of this.docs.values()) doc.slots = doc.slots.map((slot) => remap[slot]);
    this.live = live;
    this.ids = ids;
    this.slotCount = next;
    this.deadCount = 0;
  }
}
