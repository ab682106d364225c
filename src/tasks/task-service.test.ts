import { describe, expect, it } from 'vitest';
import type { TaskRepository, TaskVersionRecord } from '../store/ports.js';
import { parseTaskDefinition } from './definition.js';
import { createTaskService } from './task-service.js';
import { testRouteConfig, triageDefinition } from './test-fixtures.js';

/** A TaskRepository fake that counts reads, to see what the service answers from memory. */
function countingRepo() {
  const versions = new Map<string, TaskVersionRecord>();
  let active: string | undefined;
  const repo: TaskRepository & { reads: number; setActive(v: string): void } = {
    reads: 0,
    setActive(v) {
      active = v;
    },
    async saveVersion(_t, p) {
      const created = !versions.has(p.version);
      if (created) versions.set(p.version, { name: p.name, version: p.version, definition: p.definition, createdAt: new Date(), active: false });
      if (p.activate === 'always' || !active) active = p.version;
      return { created, active: active === p.version };
    },
    async list() {
      return [];
    },
    async getActive() {
      repo.reads++;
      return active ? { ...versions.get(active)!, active: true } : undefined;
    },
    async getVersion(_t, _n, v) {
      repo.reads++;
      return versions.get(v);
    },
    async listVersions() {
      return [];
    },
    activate: unused,
    rollback: unused,
    releases: unused,
  };
  return repo;
}

async function unused(): Promise<never> {
  throw new Error('not used by these tests');
}

const v1 = parseTaskDefinition(triageDefinition(), testRouteConfig);
const v2 = parseTaskDefinition(triageDefinition({ description: 'v2' }), testRouteConfig);

describe('task service', () => {
  it('answers the active version from memory in embedded mode and sees its own pushes at once', async () => {
    const repo = countingRepo();
    const service = createTaskService({ tasks: repo, config: testRouteConfig, activeCacheMs: Number.POSITIVE_INFINITY });
    const [first] = await service.push('t', [v1]);
    expect((await service.resolve('t', 'triage')).version).toBe(first.version);
    await service.resolve('t', 'triage');
    expect(repo.reads).toBe(1);
    const [second] = await service.push('t', [v2]);
    expect((await service.resolve('t', 'triage')).version).toBe(second.version);
  });

  it('re-reads the active version after the TTL when replicas share a server', async () => {
    const repo = countingRepo();
    let clock = 0;
    const service = createTaskService({ tasks: repo, config: testRouteConfig, activeCacheMs: 1_000, now: () => clock });
    const [first] = await service.push('t', [v1]);
    const [second] = await service.push('t', [v2]);
    await service.resolve('t', 'triage');
    repo.setActive(first.version); // another replica rolled back
    clock = 500;
    expect((await service.resolve('t', 'triage')).version).toBe(second.version);
    clock = 1_001;
    expect((await service.resolve('t', 'triage')).version).toBe(first.version);
  });

  it('says which is missing: the task or the version', async () => {
    const service = createTaskService({ tasks: countingRepo(), config: testRouteConfig, activeCacheMs: 0 });
    await expect(service.resolve('t', 'triage')).rejects.toMatchObject({ code: 'TASK_NOT_FOUND' });
    await service.push('t', [v1]);
    await expect(service.resolve('t', 'triage', '0000000000000000')).rejects.toMatchObject({ code: 'TASK_VERSION_NOT_FOUND' });
  });
});
