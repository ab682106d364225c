import type { Principal } from '../auth/principal.js';
import type { IngestFile, IngestOutcome } from '../ingest/pipeline.js';
import type { RunRecord, RunListQuery, RunSummary } from '../store/ports.js';
import type { AskOptions } from '../tasks/ask-task.js';
import type { RunOutcome, RunTaskParams } from '../tasks/run-task.js';

/**
 * The narrow services the routes modules receive (each module declares which it uses). The
 * app implements them; a routes module never sees the whole application.
 */

/** Runs on behalf of an API key: metered against its tenant's quotas and recorded with the key. */
export interface KeyedRuns {
  runTaskAs(principal: Principal, params: Omit<RunTaskParams, 'meter' | 'keyId'>, onSoftQuota?: () => void): Promise<RunOutcome>;
  askAs(principal: Principal, input: unknown, options?: Omit<AskOptions, 'meter' | 'keyId'> & { onSoftQuota?: () => void }): Promise<RunOutcome>;
}

/** Recorded runs (reads include runs still queued for writing). */
export interface RunReader {
  get(tenantId: string, id: string): Promise<RunRecord | undefined>;
  list(tenantId: string, query: RunListQuery): Promise<RunSummary[]>;
}

/** Parses, chunks, embeds and stores files into a collection; one outcome per file. */
export type Ingest = (tenantId: string, collection: string, files: IngestFile[], signal?: AbortSignal) => Promise<IngestOutcome[]>;
