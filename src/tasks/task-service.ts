import { GroundworkError } from '../kernel/errors.js';
import type { TaskRepository, TaskVersionRecord } from '../store/ports.js';
import { parseTaskDefinition, taskVersion, type RouteConfig, type TaskDefinition } from './definition.js';

/** Task catalogue: push definitions as immutable versions, look them up, resolve for a run. */

export interface PushResult {
  name: string;
  version: string;
  /** False when this exact content was already stored. */
  created: boolean;
  active: boolean;
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

export function createTaskService(deps: TaskServiceDeps) {
  const now = deps.now ?? Date.now;
  // Versions are immutable, so a resolved version can be cached forever (per tenant).
  const versionCache = new Map<string, TaskVersionRecord>();
  const activeCache = new Map<string, { task: TaskVersionRecord; until: number }>();
  const key = (tenantId: string, name: string) => `${tenantId}\u0000${name}`;

  async function push(tenantId: string, definitions: TaskDefinition[], activate = true): Promise<PushResult[]> {
    const results: PushResult[] = [];
    for (const definition of definitions) {
      const version = taskVersion(definition);
      const saved = await deps.tasks.saveVersion(tenantId, { name: definition.name, version, definition, activate });
      activeCache.delete(key(tenantId, definition.name));
      results.push({ name: definition.name, version, created: saved.created, active: saved.active });
    }
    return results;
  }

  async function active(tenantId: string, name: string): Promise<TaskVersionRecord> {
    const cached = activeCache.get(key(tenantId, name));
    if (cached && cached.until > now()) return cached.task;
    const task = await deps.tasks.getActive(tenantId, name);
    if (!task) throw notFound(name);
    if (deps.activeCacheMs > 0) activeCache.set(key(tenantId, name), { task, until: now() + deps.activeCacheMs });
    return task;
  }

  return {
    push,

    /** Validates a raw definition (API body) and pushes it. */
    async pushRaw(tenantId: string, raw: unknown): Promise<PushResult> {
      const definition = parseTaskDefinition(raw, deps.config, 'request body');
      const [result] = await push(tenantId, [definition]);
      return result;
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

    /** The version to run: the requested one, else the active one. */
    async resolve(tenantId: string, name: string, version?: string): Promise<TaskVersionRecord> {
      if (version === undefined) return active(tenantId, name);
      const versionKey = `${key(tenantId, name)}\u0000${version}`;
      const cached = versionCache.get(versionKey);
      if (cached) return cached;
      const found = await deps.tasks.getVersion(tenantId, name, version);
      if (!found) {
        if (!(await deps.tasks.getActive(tenantId, name))) throw notFound(name);
        throw new GroundworkError('TASK_VERSION_NOT_FOUND', `task "${name}" has no version "${version}"`, { details: { task: name, version } });
      }
      versionCache.set(versionKey, found);
      return found;
    },
  };
}

export type TaskService = ReturnType<typeof createTaskService>;

function notFound(name: string): GroundworkError {
  return new GroundworkError('TASK_NOT_FOUND', `no task named "${name}"`, { details: { task: name } });
}
