import { GroundworkError } from '../kernel/errors.js';
import type { TaskRepository, TaskSummary, TaskVersionRecord } from '../store/ports.js';
import { parseTaskDefinition, taskVersion, type RouteConfig, type TaskDefinition } from './definition.js';
import { prepareTask, type PreparedTask } from './prepared-task.js';

/** Task catalogue: push definitions as immutable versions, look them up, resolve for a run. */

export interface PushResult {
  name: string;
  version: string;
  /** False when this exact content was already stored. */
  created: boolean;
  active: boolean;
  /**
   * A new version of a gated task (its definition declares `eval.gate`) is not made active by a
   * push: it waits as a candidate, to be evaluated and promoted through its gate.
   */
  candidate: boolean;
}

/**
 * How a push treats versions: 'push' (the API, `tasks push`) makes the version active unless its
 * task is gated; 'sync' (the task files `serve` pushes at start) makes only a new version active,
 * so a restart never undoes a promotion or rollback to another stored version.
 */
export type PushMode = 'push' | 'sync';

/** A definition whose `eval.gate` names a threshold: its new versions go live only through the gate. */
export function isGated(definition: TaskDefinition): boolean {
  return definition.eval !== undefined && Object.keys(definition.eval.gate).length > 0;
}

export interface TaskServiceDeps {
  tasks: TaskRepository;
  config: RouteConfig;
  /**
   * How long this process may answer "which version is active" from memory. A push
   * through this process invalidates at once; pushes through another replica are seen
   * after at most this long. Embedded mode (one process owns the store): Infinity.
   */
  activeCacheMs: number;
  now?: () => number;
}

/** The task catalogue as its callers see it. */
export interface TaskService {
  push(tenantId: string, definitions: TaskDefinition[], options?: { mode?: PushMode; actor?: string }): Promise<PushResult[]>;
  /** Validates a raw definition (API body) and pushes it. */
  pushRaw(tenantId: string, raw: unknown, actor?: string): Promise<PushResult>;
  list(tenantId: string): Promise<TaskSummary[]>;
  /** The active version as stored (for presentation). */
  get(tenantId: string, name: string): Promise<TaskVersionRecord>;
  versions(tenantId: string, name: string): Promise<Array<Omit<TaskVersionRecord, 'definition'>>>;
  /** The version to run, prepared: the requested one, else the active one. */
  resolve(tenantId: string, name: string, version?: string): Promise<PreparedTask>;
  /** A version from a definition that need not be stored (an eval's candidate file): prepared as it would be. */
  prepareUnstored(definition: TaskDefinition): PreparedTask;
  /** Forgets what this process remembers of a task's active version (a release changed it). */
  forgetActive(tenantId: string, name: string): void;
}

// Prepared versions kept per process: versions are immutable, so this is only a memory bound.
const MAX_PREPARED = 5_000;

export function createTaskService(deps: TaskServiceDeps): TaskService {
  const now = deps.now ?? Date.now;
  const prepared = new Map<string, PreparedTask>();
  const activeCache = new Map<string, { task: PreparedTask; until: number }>();
  const key = (tenantId: string, name: string) => `${tenantId}\u0000${name}`;

  /** One prepared form per stored version (keyed by tenant, name and version). */
  function prepare(tenantId: string, record: TaskVersionRecord): PreparedTask {
    const versionKey = `${key(tenantId, record.name)}\u0000${record.version}`;
    const found = prepared.get(versionKey);
    // The active flag is the one thing that changes; reuse the parsed definition either way.
    if (found && found.active === record.active) return found;
    const task = found ? { ...found, active: record.active } : prepareTask(record, deps.config);
    if (prepared.size >= MAX_PREPARED) prepared.delete(prepared.keys().next().value as string);
    prepared.set(versionKey, task);
    return task;
  }

  async function push(tenantId: string, definitions: TaskDefinition[], options: { mode?: PushMode; actor?: string } = {}): Promise<PushResult[]> {
    const mode = options.mode ?? 'push';
    const results: PushResult[] = [];
    for (const definition of definitions) {
      const version = taskVersion(definition);
      const gated = isGated(definition);
      const saved = await deps.tasks.saveVersion(tenantId, {
        name: definition.name,
        version,
        definition,
        activate: gated ? 'never' : mode === 'sync' ? 'if-new' : 'always',
        actor: options.actor,
      });
      activeCache.delete(key(tenantId, definition.name));
      results.push({ name: definition.name, version, created: saved.created, active: saved.active, candidate: gated && !saved.active });
    }
    return results;
  }

  async function active(tenantId: string, name: string): Promise<PreparedTask> {
    const cached = activeCache.get(key(tenantId, name));
    if (cached && cached.until > now()) return cached.task;
    const record = await deps.tasks.getActive(tenantId, name);
    if (!record) throw notFound(name);
    const task = prepare(tenantId, record);
    if (deps.activeCacheMs > 0) activeCache.set(key(tenantId, name), { task, until: now() + deps.activeCacheMs });
    return task;
  }

  return {
    push,

    /** Validates a raw definition (API body) and pushes it. */
    async pushRaw(tenantId: string, raw: unknown, actor?: string): Promise<PushResult> {
      const definition = parseTaskDefinition(raw, deps.config, 'request body');
      const [result] = await push(tenantId, [definition], { actor });
      return result;
    },

    prepareUnstored(definition) {
      const version = taskVersion(definition);
      return prepareTask({ name: definition.name, version, definition, createdAt: new Date(), active: false }, deps.config);
    },

    forgetActive(tenantId, name) {
      activeCache.delete(key(tenantId, name));
    },

    list: (tenantId: string) => deps.tasks.list(tenantId),

    async get(tenantId: string, name: string): Promise<TaskVersionRecord> {
      const task = await deps.tasks.getActive(tenantId, name);
      if (!task) throw notFound(name);
      return task;
    },

    async versions(tenantId: string, name: string) {
      const versions = await deps.tasks.listVersions(tenantId, name);
      if (versions.length === 0) throw notFound(name);
      return versions;
    },

    async resolve(tenantId: string, name: string, version?: string): Promise<PreparedTask> {
      if (version === undefined) return active(tenantId, name);
      const cached = prepared.get(`${key(tenantId, name)}\u0000${version}`);
      if (cached) return cached;
      const found = await deps.tasks.getVersion(tenantId, name, version);
      if (!found) {
        if (!(await deps.tasks.getActive(tenantId, name))) throw notFound(name);
        throw new GroundworkError('TASK_VERSION_NOT_FOUND', `task "${name}" has no version "${version}"`, { details: { task: name, version } });
      }
      return prepare(tenantId, found);
    },
  };
}

function notFound(name: string): GroundworkError {
  return new GroundworkError('TASK_NOT_FOUND', `no task named "${name}"`, { details: { task: name } });
}
