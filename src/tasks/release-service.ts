import { GroundworkError } from '../kernel/errors.js';
import type { EvalRecord, EvalRepository, ReleaseRecord, TaskRepository } from '../store/ports.js';
import { isGated, type TaskService } from './task-service.js';

/**
 * Releases: which version of a task serves. A promotion makes a version active only when its
 * gate passed against the version active now (the newest finished gate eval of that pair on the
 * newest version of the gate's dataset), or with an admin's override and its reason; a rollback
 * makes the previously active version active again. Each is one transaction that also records
 * the release (who, when, the eval and scorecards behind it). A task whose definition declares
 * no gate is promoted as asked.
 */

export interface PromoteParams {
  version: string;
  /** Who asks: an API key id, 'cli'. */
  actor: string;
  /** Skip the gate (admins only; the caller checks the role). */
  override?: boolean;
  reason?: string;
}

export interface ReleaseOutcome {
  task: string;
  activeVersion: string;
  /** Undefined when nothing changed (the version was already active). */
  release?: ReleaseRecord;
}

export interface ReleaseService {
  promote(tenantId: string, task: string, params: PromoteParams): Promise<ReleaseOutcome>;
  rollback(tenantId: string, task: string, actor: string, reason?: string): Promise<ReleaseOutcome>;
  /** Newest first; TASK_NOT_FOUND for a task the tenant does not have. */
  list(tenantId: string, task: string, limit?: number): Promise<ReleaseRecord[]>;
}

export interface ReleaseServiceDeps {
  tasks: TaskService;
  taskRepo: Pick<TaskRepository, 'activate' | 'rollback' | 'releases'>;
  evals: Pick<EvalRepository, 'running' | 'datasetHead' | 'latestGated' | 'listEvals'>;
}

export function createReleaseService(deps: ReleaseServiceDeps): ReleaseService {
  return {
    async promote(tenantId, name, params) {
      if (params.override && !params.reason?.trim()) {
        throw new GroundworkError('RELEASE_OVERRIDE_INVALID', 'an override needs a reason: it is recorded with the release', { details: { task: name } });
      }
      const candidate = await deps.tasks.resolve(tenantId, name, params.version);
      const active = await deps.tasks.resolve(tenantId, name);
      if (candidate.version === active.version) return { task: name, activeVersion: active.version };
      const running = await deps.evals.running(tenantId, name, candidate.version);
      if (running) {
        throw new GroundworkError('EVAL_RUNNING', `eval ${running.id} of version ${candidate.version} is still running: promote when it has finished`, {
          details: { task: name, version: candidate.version, eval_id: running.id },
        });
      }
      let decided: { evalId?: string; evidence?: unknown } = {};
      if (!params.override && isGated(candidate.definition)) {
        decided = await gateEvidence(deps, tenantId, name, candidate.version, active.version, candidate.definition.eval!.dataset);
      } else if (params.override) {
        // What the override overrode, when there is a finished eval to show.
        const [last] = (await deps.evals.listEvals(tenantId, name, 20)).filter((e) => e.version === candidate.version && e.status === 'done');
        if (last) decided = { evalId: last.id, evidence: { eval_id: last.id, gate_passed: last.gatePassed ?? null } };
      }
      const release = await deps.taskRepo.activate(tenantId, name, candidate.version, {
        action: params.override ? 'override' : 'promote',
        actor: params.actor,
        reason: params.reason?.trim() || undefined,
        expectedActive: active.version,
        ...decided,
      });
      deps.tasks.forgetActive(tenantId, name);
      if (release === 'conflict') {
        throw new GroundworkError('RELEASE_CONFLICT', `the active version of "${name}" changed while the promotion was decided: promote again`, {
          details: { task: name, version: candidate.version },
        });
      }
      return { task: name, activeVersion: candidate.version, release };
    },

    async rollback(tenantId, name, actor, reason) {
      const active = await deps.tasks.resolve(tenantId, name);
      const release = await deps.taskRepo.rollback(tenantId, name, actor, reason?.trim() || undefined);
      deps.tasks.forgetActive(tenantId, name);
      if (!release) {
        throw new GroundworkError('RELEASE_NO_PREVIOUS', `task "${name}" has no earlier active version to roll back to`, {
          details: { task: name, active_version: active.version },
        });
      }
      return { task: name, activeVersion: release.toVersion, release };
    },

    async list(tenantId, name, limit = 100) {
      await deps.tasks.resolve(tenantId, name);
      return deps.taskRepo.releases(tenantId, name, limit);
    },
  };
}

/** The finished gate eval that lets `version` replace `active`, as the release's evidence; a typed refusal otherwise. */
async function gateEvidence(
  deps: ReleaseServiceDeps,
  tenantId: string,
  task: string,
  version: string,
  active: string,
  datasetName: string,
): Promise<{ evalId: string; evidence: unknown }> {
  const dataset = await deps.evals.datasetHead(tenantId, datasetName);
  const run = `groundwork eval ${task} --dataset ${datasetName} --version ${version} --gate`;
  if (!dataset) {
    throw new GroundworkError('EVAL_REQUIRED', `task "${task}" is gated on dataset "${datasetName}", which is not stored yet: run ${run}`, {
      details: { task, version, dataset: datasetName },
    });
  }
  const found = await deps.evals.latestGated(tenantId, { task, version, baselineVersion: active, datasetName, datasetVersion: dataset.version });
  if (!found) {
    throw new GroundworkError(
      'EVAL_REQUIRED',
      `version ${version} of "${task}" has no finished gate eval against the active version ${active} on dataset "${datasetName}" (version ${dataset.version}): run ${run}`,
      { details: { task, version, active_version: active, dataset: datasetName, dataset_version: dataset.version } },
    );
  }
  const evidence = releaseEvidence(found);
  if (!found.gatePassed) {
    throw new GroundworkError('RELEASE_GATE_FAILED', `version ${version} of "${task}" failed its gate in eval ${found.id}`, {
      details: { task, version, eval_id: found.id, failed: evidence.failed },
    });
  }
  return { evalId: found.id, evidence };
}

/** The scorecards and gate checks of an eval, without its per-case trials. */
function releaseEvidence(record: EvalRecord): { eval_id: string; failed: unknown[]; [key: string]: unknown } {
  const report = (record.report ?? {}) as { scorecard?: unknown; baselineScorecard?: unknown; gate?: { checks?: Array<{ passed?: boolean }> } };
  const checks = report.gate?.checks ?? [];
  return {
    eval_id: record.id,
    dataset: { name: record.datasetName, version: record.datasetVersion },
    baseline_version: record.baselineVersion ?? null,
    scorecard: report.scorecard ?? null,
    baseline_scorecard: report.baselineScorecard ?? null,
    gate: checks,
    failed: checks.filter((c) => c.passed === false),
  };
}
