import type { Database } from '../store/ports.js';
import { countTerms } from './analyzer.js';
import { CollectionIndex, type IndexedDocument } from './collection-index.js';
import { decodeVectorSend } from './embedding-codec.js';

/**
 * The per-process cache of collection indexes. Before every search the repository reads the
 * collection's revision (one indexed row it reads anyway); an index behind it replays the
 * documents changed since (retrieval_changes) or, when it has none yet or too much changed,
 * loads the collection page by page. Reads are not one snapshot, on purpose: a load must not
 * hold PGlite's only connection for seconds. The index records the revision read *before*
 * its rows, so anything that changed while it read carries a later revision and is replayed
 * by the next search. A process that writes applies its own committed change directly when
 * its index was exactly one revision behind, so ingestion keeps the index warm without
 * reading rows back. Least recently used indexes are dropped past a memory budget.
 */

export interface IndexCacheOptions {
  /** Approximate memory for all cached indexes (default 2 GiB); the index in use is never dropped. */
  budgetBytes?: number;
  /** Rows per page when loading a collection. */
  pageSize?: number;
}

export interface CollectionRef {
  tenantId: string;
  id: string;
  dimensions: number;
  revision: number;
}

interface Entry {
  index?: CollectionIndex;
  refreshing?: Promise<void>;
}

/** What lexical search indexes for a chunk: the document title and headings give it context. */
export function lexicalText(title: string, headingPath: readonly string[], text: string): string {
  return [title, ...headingPath, text].filter((part) => part.length > 0).join('\n');
}

export class IndexCache {
  private readonly entries = new Map<string, Entry>();
  private readonly budget: number;
  private readonly pageSize: number;

  constructor(
    private readonly db: Database,
    options: IndexCacheOptions = {},
  ) {
    this.budget = options.budgetBytes ?? 2 * 2 ** 30;
    // Each page is analysed synchronously (~0.1 ms per chunk): small pages keep the event loop responsive.
    this.pageSize = options.pageSize ?? 500;
  }

  /** The collection's index, at least as new as `ref.revision`. */
  async fresh(ref: CollectionRef): Promise<CollectionIndex> {
    const key = keyOf(ref.tenantId, ref.id);
    for (;;) {
      let entry = this.entries.get(key);
      if (!entry) {
        entry = {};
        this.entries.set(key, entry);
      }
      // Map order is the LRU order: re-insert on use.
      this.entries.delete(key);
      this.entries.set(key, entry);
      if (entry.index && entry.index.revision >= ref.revision) return entry.index;
      if (!entry.refreshing) {
        const current = entry;
        current.refreshing = this.refresh(ref, current).finally(() => {
          current.refreshing = undefined;
        });
      }
      await entry.refreshing;
      if (entry.index && entry.index.revision >= ref.revision) {
        this.evict(key);
        return entry.index;
      }
    }
  }

  /** An empty index for a collection just created, so ingestion keeps it warm from the start. */
  seed(ref: CollectionRef): void {
    this.entries.set(keyOf(ref.tenantId, ref.id), { index: new CollectionIndex(ref.id, ref.dimensions, ref.revision) });
  }

  /**
   * Whether a write committed at `revision` can be applied in place: the index reflects
   * exactly the revision before it and no reload is running. Otherwise the next search reloads.
   */
  accepts(tenantId: string, collectionId: string, revision: number): CollectionIndex | undefined {
    const entry = this.entries.get(keyOf(tenantId, collectionId));
    if (!entry?.index || entry.refreshing || entry.index.revision !== revision - 1) return undefined;
    return entry.index;
  }

  drop(tenantId: string, collectionId: string): void {
    this.entries.delete(keyOf(tenantId, collectionId));
  }

  private async refresh(ref: CollectionRef, entry: Entry): Promise<void> {
    if (entry.index && (await this.replayChanges(ref, entry.index))) return;
    entry.index = await this.load(ref);
  }

  /** Replays changed documents onto the index; false when a full load is cheaper. */
  private async replayChanges(ref: CollectionRef, index: CollectionIndex): Promise<boolean> {
    const revision = await this.revisionOf(ref);
    if (revision === undefined) return false;
    const changed = await this.db.query<{ document_id: string }>(
      `SELECT document_id FROM retrieval_changes WHERE tenant_id = $1 AND collection_id = $2 AND revision > $3`,
      [ref.tenantId, ref.id, index.revision],
    );
    if (changed.length > Math.max(REPLAY_BATCH, index.documentCount / 2)) return false;
    const ids = changed.map((row) => row.document_id);
    // In batches, each applied in one synchronous step: a search never sees half a document,
    // and a large replay does not block the event loop for long.
    for (let start = 0; start < ids.length; start += REPLAY_BATCH) {
      const batch = ids.slice(start, start + REPLAY_BATCH);
      const docs = await this.readDocuments(ref, batch);
      const chunks = await this.db.query<ChunkRow>(`${CHUNKS_SQL} AND c.document_id = ANY($3::text[]) ORDER BY c.id`, [ref.tenantId, ref.id, batch]);
      for (const id of batch) index.removeDocument(id);
      this.addRows(index, docs, chunks);
    }
    index.revision = Math.max(index.revision, revision);
    return true;
  }

  private async load(ref: CollectionRef): Promise<CollectionIndex> {
    const revision = (await this.revisionOf(ref)) ?? ref.revision;
    const index = new CollectionIndex(ref.id, ref.dimensions, revision);
    const docs = await this.readDocuments(ref);
    let after = 0;
    for (;;) {
      // Ordered like the primary key, so the plan is a range scan of it even without statistics.
      const rows = await this.db.query<ChunkRow>(`${CHUNKS_SQL} AND c.id > $3 ORDER BY c.tenant_id, c.collection_id, c.id LIMIT ${this.pageSize}`, [
        ref.tenantId,
        ref.id,
        after,
      ]);
      this.addRows(index, docs, rows, false);
      if (rows.length < this.pageSize) break;
      after = Number(rows[rows.length - 1].id);
    }
    for (const [id, doc] of docs) index.ensureDocument(id, doc.metadata);
    return index;
  }

  private addRows(index: CollectionIndex, docs: Map<string, DocInfo>, rows: ChunkRow[], ensureAll = true): void {
    for (const row of rows) {
      const doc = docs.get(row.document_id);
      if (!doc) continue;
      index.appendChunk(row.document_id, doc.metadata, {
        id: Number(row.id),
        counts: countTerms(lexicalText(doc.title, row.heading_path, row.text)),
        vector: decodeVectorSend(row.embedding),
      });
    }
    if (ensureAll) for (const [id, doc] of docs) index.ensureDocument(id, doc.metadata);
  }

  private async revisionOf(ref: CollectionRef): Promise<number | undefined> {
    const rows = await this.db.query<{ revision: number }>('SELECT revision FROM retrieval_collections WHERE tenant_id = $1 AND id = $2', [
      ref.tenantId,
      ref.id,
    ]);
    return rows[0] === undefined ? undefined : Number(rows[0].revision);
  }

  private async readDocuments(ref: CollectionRef, ids?: string[]): Promise<Map<string, DocInfo>> {
    const rows = await this.db.query<{ id: string; title: string; metadata: Record<string, unknown> }>(
      `SELECT id, title, metadata FROM retrieval_documents
        WHERE tenant_id = $1 AND collection_id = $2 AND status = 'ready'${ids ? ' AND id = ANY($3::text[])' : ''}`,
      ids ? [ref.tenantId, ref.id, ids] : [ref.tenantId, ref.id],
    );
    return new Map(rows.map((row) => [row.id, { title: row.title, metadata: row.metadata }]));
  }

  private evict(keep: string): void {
    let total = 0;
    for (const entry of this.entries.values()) total += entry.index?.bytes ?? 0;
    for (const [key, entry] of this.entries) {
      if (total <= this.budget) break;
      if (key === keep || entry.refreshing || !entry.index) continue;
      total -= entry.index.bytes;
      this.entries.delete(key);
    }
  }
}

const REPLAY_BATCH = 100;

interface DocInfo {
  title: string;
  metadata: Record<string, unknown>;
}

interface ChunkRow {
  id: number | string;
  document_id: string;
  heading_path: string[];
  text: string;
  embedding: string;
}

const CHUNKS_SQL = `SELECT c.id, c.document_id, c.heading_path, c.text, encode(vector_send(c.embedding), 'base64') AS embedding
  FROM retrieval_chunks c WHERE c.tenant_id = $1 AND c.collection_id = $2`;

function keyOf(tenantId: string, collectionId: string): string {
  return `${tenantId}\u0000${collectionId}`;
}

export type { IndexedDocument };
