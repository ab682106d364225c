/**
 * Storage ports: the narrow surfaces domain code receives. One SQL dialect (PostgreSQL)
 * serves both modes: PGlite in a data folder (embedded) and a PostgreSQL server.
 * Every repository method takes the tenant id first: no query is ever unscoped.
 */

import type { AttemptOutcome } from '../models/spec.js';

export interface SqlExecutor {
  query<T = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<T[]>;
}

/** The executor inside a transaction; `exec` runs several statements (no parameters). */
export interface SqlTransaction extends SqlExecutor {
  exec(sql: string): Promise<void>;
}

export interface Database extends SqlTransaction {
  readonly kind: 'embedded' | 'server';
  /** Runs several statements (no parameters), e.g. a migration. */
  exec(sql: string): Promise<void>;
  transaction<T>(fn: (tx: SqlTransaction) => Promise<T>): Promise<T>;
  /**
   * Embedded store only (undefined on a server): in one transaction and one trip to PGlite's
   * thread, runs `setup` (statements without parameters), then each `COPY <table> (…) FROM
   * '/dev/blob'` with its `data` (rows in COPY's text format) as the blob. The cheapest bulk
   * write PGlite has.
   */
  bulkLoad?(setup: string, copies: ReadonlyArray<{ sql: string; data: string }>): Promise<void>;
  close(): Promise<void>;
}

/** The tenant every request uses until API keys arrive (issue 4); a seam, not a feature. */
export const DEFAULT_TENANT = 'default';

export interface TaskSummary {
  name: string;
  description: string;
  activeVersion: string;
  versionCount: number;
  updatedAt: Date;
}

export interface TaskVersionRecord {
  name: string;
  version: string;
  /** The validated definition as JSON (tasks/definition.ts gives it a type). */
  definition: unknown;
  createdAt: Date;
  active: boolean;
}

export interface SaveVersionResult {
  /** False when this exact content hash already existed (versions are immutable). */
  created: boolean;
  /** True when this version became (or already was) the active one. */
  active: boolean;
}

/** A change of a task's active version, as `task_releases` records it. */
export type ReleaseAction = 'push' | 'promote' | 'override' | 'rollback';

export interface ReleaseRecord {
  task: string;
  seq: number;
  action: ReleaseAction;
  /** The version active before (none for a task's first version). */
  fromVersion?: string;
  toVersion: string;
  /** Who made it: an API key id, 'cli', 'serve'. */
  actor: string;
  reason?: string;
  /** The eval whose gate let a promotion through. */
  evalId?: string;
  /** What the decision rested on (scorecards, the gate's checks): JSON. */
  evidence?: unknown;
  createdAt: Date;
}

export interface ReleaseParams {
  action: Exclude<ReleaseAction, 'rollback'>;
  actor: string;
  reason?: string;
  evalId?: string;
  evidence?: unknown;
  /** Activate only while this version is the active one (the gate was judged against it). */
  expectedActive?: string;
}

export interface TaskRepository {
  /**
   * Stores the version if new. A task's first version always becomes active; another becomes
   * active when `activate` is 'always', or 'if-new' and it was not stored before; a change is
   * recorded as a 'push' release by `actor`. Atomic.
   */
  saveVersion(
    tenantId: string,
    params: { name: string; version: string; definition: unknown; activate: 'always' | 'if-new' | 'never'; actor?: string },
  ): Promise<SaveVersionResult>;
  /**
   * Makes a stored version active and records the release, in one transaction. Undefined when
   * the version was already active; 'conflict' when `expectedActive` no longer is.
   */
  activate(tenantId: string, name: string, version: string, params: ReleaseParams): Promise<ReleaseRecord | 'conflict' | undefined>;
  /**
   * Makes the version active before the current one active again (the `from` of the newest
   * non-rollback release that made the current one active). Undefined when there is none.
   */
  rollback(tenantId: string, name: string, actor: string, reason?: string): Promise<ReleaseRecord | undefined>;
  /** Newest first. */
  releases(tenantId: string, name: string, limit: number): Promise<ReleaseRecord[]>;
  list(tenantId: string): Promise<TaskSummary[]>;
  /** The active version of a task, or undefined when the task does not exist. */
  getActive(tenantId: string, name: string): Promise<TaskVersionRecord | undefined>;
  getVersion(tenantId: string, name: string, version: string): Promise<TaskVersionRecord | undefined>;
  /** Newest first. Empty when the task does not exist. */
  listVersions(tenantId: string, name: string): Promise<Omit<TaskVersionRecord, 'definition'>[]>;
}

export interface AttemptRecord {
  seq: number;
  tier: number;
  model: string;
  provider: string;
  outcome: AttemptOutcome;
  inputTokens: number;
  outputTokens: number;
  tokensEstimated: boolean;
  costUsd: number;
  latencyMs: number;
  error?: string;
  validationErrors?: string[];
  escalationReason?: string;
  reask?: boolean;
  repaired?: boolean;
}

export interface RunError {
  code: string;
  message: string;
  details: Record<string, unknown>;
}

export interface RunRecord {
  id: string;
  taskName: string;
  taskVersion: string;
  status: 'ok' | 'error';
  /** Model that produced the output (undefined when the run failed). */
  model?: string;
  degraded: boolean;
  input: unknown;
  output?: unknown;
  error?: RunError;
  inputTokens: number;
  outputTokens: number;
  costUsd: number;
  latencyMs: number;
  createdAt: Date;
  attempts: AttemptRecord[];
  /** Grounded runs: retrieval scores, chunks used, citations proposed/verified/dropped, abstained, ungrounded. */
  grounding?: Record<string, unknown>;
  /** The API key that made the run (usage by key); undefined for in-process callers. */
  keyId?: string;
  /** The eval this run is a case (or a judge's verdict) of. */
  evalId?: string;
}

export type RunSummary = Omit<RunRecord, 'input' | 'output' | 'attempts'> & { attemptCount: number };

export interface RunListQuery {
  task?: string;
  status?: 'ok' | 'error';
  /** Only the runs of this eval. */
  evalId?: string;
  limit: number;
  /** Return runs with id < before (ids sort by time): keyset pagination. */
  before?: string;
}

export interface RunRepository {
  /** Stores the run and all its attempts atomically. */
  record(tenantId: string, run: RunRecord): Promise<void>;
  /** Stores many runs (any tenants) and their attempts in one statement, all or nothing (the batching recorder's write). */
  recordMany(entries: ReadonlyArray<{ tenantId: string; run: RunRecord }>): Promise<void>;
  get(tenantId: string, id: string): Promise<RunRecord | undefined>;
  /** Newest first. */
  list(tenantId: string, query: RunListQuery): Promise<RunSummary[]>;
}

/** A stored golden dataset version (cases as JSON: evals/dataset.ts gives them a type). */
export interface DatasetRecord {
  name: string;
  version: string;
  task: string;
  cases: unknown[];
  caseCount: number;
  createdAt: Date;
}

export type EvalStatus = 'running' | 'done' | 'failed';

export interface EvalRecord {
  id: string;
  task: string;
  version: string;
  baselineVersion?: string;
  datasetName: string;
  datasetVersion: string;
  status: EvalStatus;
  /** Set when the eval was judged by a gate. */
  gatePassed?: boolean;
  /** The eval's report (scorecards, comparison, gate, trials): JSON. */
  report?: unknown;
  error?: { code: string; message: string };
  createdBy: string;
  leaseUntil: Date;
  createdAt: Date;
  finishedAt?: Date;
}

export interface EvalRepository {
  /** Stores a dataset version if new (by content hash). */
  saveDataset(tenantId: string, dataset: Omit<DatasetRecord, 'createdAt' | 'caseCount'>): Promise<{ created: boolean }>;
  /** The named version, else the newest version of the name. */
  getDataset(tenantId: string, name: string, version?: string): Promise<DatasetRecord | undefined>;
  /** A dataset's record without its cases (what a gate or an ownership check needs): the named version, else the newest. */
  datasetHead(tenantId: string, name: string, version?: string): Promise<Omit<DatasetRecord, 'cases'> | undefined>;
  /** The newest version of each dataset (of one task, when named), without cases. */
  listDatasets(tenantId: string, task?: string): Promise<Array<Omit<DatasetRecord, 'cases'>>>;
  /** Records an eval as running (again, for an id already recorded: an eval job's try delivered again). */
  createEval(tenantId: string, record: Omit<EvalRecord, 'status' | 'createdAt' | 'finishedAt' | 'report' | 'error' | 'gatePassed'>): Promise<void>;
  /** Extends a running eval's lease (its holder is alive). */
  renewEval(tenantId: string, id: string, leaseUntil: Date): Promise<void>;
  finishEval(
    tenantId: string,
    id: string,
    result: { status: 'done' | 'failed'; gatePassed?: boolean; report?: unknown; error?: EvalRecord['error'] },
  ): Promise<void>;
  getEval(tenantId: string, id: string): Promise<EvalRecord | undefined>;
  /** Newest first, without reports. */
  listEvals(tenantId: string, task: string, limit: number): Promise<Array<Omit<EvalRecord, 'report'>>>;
  /** A running eval of this version whose lease has not run out. */
  running(tenantId: string, task: string, version: string): Promise<Omit<EvalRecord, 'report'> | undefined>;
  /** The newest finished, gated eval of `version` against `baselineVersion` on this dataset version. */
  latestGated(
    tenantId: string,
    query: { task: string; version: string; baselineVersion: string | undefined; datasetName: string; datasetVersion: string },
  ): Promise<EvalRecord | undefined>;
}

export interface Store {
  readonly db: Database;
  readonly tasks: TaskRepository;
  readonly evals: EvalRepository;
  readonly runs: RunRepository;
  /** Embedded data folder: entries opening found open to other users and made private (0 otherwise). */
  readonly tightened: number;
  /** Records in the data folder's lock where this process serves (nothing without a lock). */
  announce(url: string): Promise<void>;
  /** Closes the database and releases the data-folder lock (embedded mode). */
  close(): Promise<void>;
}
