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

export function createTaskService(deps: { tasks: TaskRepository; config: RouteConfig }) {
  // Versions are immutable, so a resolved version can be cached forever (per tenant).
  const versionCache = new Map<string, TaskVersionRecord>();

  async function push(tenantId: string, definitions: TaskDefinition[], activate = true): Promise<PushResult[]> {
    const results: PushResult[] = [];
    for (const definition of definitions) {
      const version = taskVersion(definition);
      const saved = await deps.tasks.saveVersion(tenantId, { name: definition.name, version, definition, activate });
      results.push({ name: definition.name, version, created: saved.created, active: saved.active });
    }
    return results;
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
      if (version === undefined) return this.get(tenantId, name);
      const key = `${tenantId}\u0000${name}\u0000${version}`;
      const cached = versionCache.get(key);
      if (cached) return cached;
      const found = await deps.tasks.getVersion(tenantId, name, version);
      if (!found) {
        if (!(await deps.tasks.getActive(tenantId, name))) throw notFound(name);
        throw new GroundworkError('TASK_VERSION_NOT_FOUND', `task "${name}" has no version "${version}"`, { details: { task: name, version } });
      }
      versionCache.set(key, found);
      return found;
    },
  };
}

export type TaskService = ReturnType<typeof createTaskService>;

function notFound(name: string): GroundworkError {
  return new GroundworkError('TASK_NOT_FOUND', `no task named "${name}"`, { details: { task: name } });
}
