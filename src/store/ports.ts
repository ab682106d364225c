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

export interface TaskRepository {
  /** Stores the version if new; makes it active when `activate`. Atomic. */
  saveVersion(tenantId: string, params: { name: string; version: string; definition: unknown; activate: boolean }): Promise<SaveVersionResult>;
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
}

export type RunSummary = Omit<RunRecord, 'input' | 'output' | 'attempts'> & { attemptCount: number };

export interface RunListQuery {
  task?: string;
  status?: 'ok' | 'error';
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

export interface Store {
  readonly db: Database;
  readonly tasks: TaskRepository;
  readonly runs: RunRepository;
  /** Embedded data folder: entries opening found open to other users and made private (0 otherwise). */
  readonly tightened: number;
  /** Closes the database and releases the data-folder lock (embedded mode). */
  close(): Promise<void>;
}
