import type { Database } from '../store/ports.js';

/**
 * Keeps planner statistics of the retrieval tables fresh. PGlite runs no autovacuum, and a
 * server's runs a minute or more behind a bulk load; without ANALYZE the planner assumes
 * `tenant_id = $1 AND collection_id = $2` selects almost nothing and, on a grown table, picks
 * plans that scan a whole collection (measured: 100 hits fetched in 50 ms instead of 1.5 ms).
 * ANALYZE runs after the chunks doubled since the last one this process saw (a logarithmic
 * number of runs over a bulk load) and only on the key columns queries filter by: statistics
 * on chunk text and embeddings would cost most of the time and steer no plan.
 */
export function statisticsKeeper(db: Database): (rowsWritten: number) => Promise<void> {
  let pending = 0;
  let analyzedRows: number | undefined;
  let running: Promise<void> | undefined;

  const rowsNow = async () => {
    const [row] = await db.query<{ n: number }>(`SELECT greatest(reltuples, 0)::float8 AS n FROM pg_class WHERE oid = to_regclass('retrieval_chunks')`);
    return row?.n ?? 0;
  };

  return async (rowsWritten) => {
    pending += rowsWritten;
    if (running) return running;
    running = (async () => {
      analyzedRows ??= await rowsNow();
      if (pending < Math.max(1_000, analyzedRows)) return;
      pending = 0;
      await db.exec(
        `ANALYZE retrieval_collections (tenant_id, id, name),
                 retrieval_documents (tenant_id, collection_id, id, source),
                 retrieval_chunks (tenant_id, collection_id, id, document_id),
                 retrieval_changes`,
      );
      analyzedRows = await rowsNow();
    })().finally(() => {
      running = undefined;
    });
    return running;
  };
}
