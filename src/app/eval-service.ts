import { GroundworkError } from '../kernel/errors.js';
import { caseLine, parseDataset, type Dataset, type EvalCase } from '../evals/dataset.js';
import { checkCaseInputs } from '../evals/task-cases.js';
import type { DatasetRecord, EvalRecord, EvalRepository, RunRecord } from '../store/ports.js';
import type { PreparedTask } from '../tasks/prepared-task.js';
import type { TaskService } from '../tasks/task-service.js';

export type { EvalPlan } from './evaluate.js';

/**
 * Golden datasets as the API keeps them: uploaded per task (JSONL text or a JSON array of
 * cases, each line checked, every input checked against the task's active input schema), stored
 * by content hash under a name, grown by turning a production run into a case; and eval records
 * read back. Nothing is stored unless the whole upload is good (or lenient mode was asked for).
 */

export interface DatasetUpload {
  name: string;
  /** JSON Lines, or … */
  jsonl?: string;
  /** … a JSON array of cases (its positions are reported as lines 1, 2, …). */
  cases?: unknown[];
  lenient?: boolean;
}

export interface StoredDataset {
  dataset: Omit<DatasetRecord, 'cases'>;
  created: boolean;
  /** Lenient mode: what was left out. */
  skipped: Dataset['skipped'];
}

export interface EvalService {
  uploadDataset(tenantId: string, task: string, upload: DatasetUpload): Promise<StoredDataset>;
  listDatasets(tenantId: string, task: string): Promise<Array<Omit<DatasetRecord, 'cases'>>>;
  /** A new version of the dataset with the run's input as a case (its output as `expected` unless given). */
  addCaseFromRun(tenantId: string, dataset: string, params: { runId: string; expected?: unknown; id?: string; tags?: string[] }): Promise<StoredDataset>;
  getEval(tenantId: string, id: string): Promise<EvalRecord>;
  listEvals(tenantId: string, task: string): Promise<Array<Omit<EvalRecord, 'report'>>>;
}

export interface EvalServiceDeps {
  tasks: Pick<TaskService, 'resolve'>;
  evals: EvalRepository;
  runs: { get(tenantId: string, id: string): Promise<RunRecord | undefined> };
}

export function createEvalService(deps: EvalServiceDeps): EvalService {
  /** Checks every case against the task's active version, then stores the dataset under `name`. */
  async function store(tenantId: string, active: PreparedTask, name: string, dataset: Dataset): Promise<StoredDataset> {
    checkCaseInputs(active, dataset.cases);
    const { created } = await deps.evals.saveDataset(tenantId, { name, version: dataset.hash, task: active.name, cases: dataset.cases });
    const saved = await deps.evals.datasetHead(tenantId, name, dataset.hash);
    return { dataset: saved!, created, skipped: dataset.skipped };
  }

  return {
    async uploadDataset(tenantId, task, upload) {
      if ((upload.jsonl === undefined) === (upload.cases === undefined)) {
        throw new GroundworkError('EVAL_DATASET_INVALID', 'send the cases either as "jsonl" text or as a "cases" array', { details: { dataset: upload.name } });
      }
      // Resolve the task first: an unknown task is TASK_NOT_FOUND, whatever the cases hold.
      const active = await deps.tasks.resolve(tenantId, task);
      const text = upload.jsonl ?? upload.cases!.map((c) => JSON.stringify(c) ?? 'undefined').join('\n');
      const owner = await deps.evals.datasetHead(tenantId, upload.name);
      if (owner && owner.task !== task) throw otherTask(upload.name, owner.task, task);
      return store(tenantId, active, upload.name, parseDataset(text, { lenient: upload.lenient }));
    },

    async listDatasets(tenantId, task) {
      await deps.tasks.resolve(tenantId, task);
      return deps.evals.listDatasets(tenantId, task);
    },

    async addCaseFromRun(tenantId, name, params) {
      const current = await deps.evals.getDataset(tenantId, name);
      if (!current) throw datasetNotFound(name);
      const run = await deps.runs.get(tenantId, params.runId);
      if (!run) throw new GroundworkError('RUN_NOT_FOUND', `no run with id "${params.runId}"`, { details: { run_id: params.runId } });
      if (run.taskName !== current.task) {
        throw new GroundworkError('EVAL_DATASET_INVALID', `run ${run.id} is a run of "${run.taskName}"; dataset "${name}" holds cases of "${current.task}"`, {
          details: { dataset: name, run_id: run.id, task: current.task },
        });
      }
      const expected = params.expected !== undefined ? params.expected : run.status === 'ok' ? run.output : undefined;
      if (expected === undefined) {
        throw new GroundworkError('EVAL_DATASET_INVALID', `run ${run.id} produced no output: give the case its "expected" output`, {
          details: { dataset: name, run_id: run.id },
        });
      }
      const line = JSON.stringify({ id: params.id, input: run.input, expected, tags: params.tags });
      const text = [...(current.cases as EvalCase[]).map(caseLine), line].join('\n');
      return store(tenantId, await deps.tasks.resolve(tenantId, current.task), name, parseDataset(text));
    },

    async getEval(tenantId, id) {
      const found = await deps.evals.getEval(tenantId, id);
      if (!found) throw new GroundworkError('EVAL_NOT_FOUND', `no eval with id "${id}"`, { details: { eval_id: id } });
      return found;
    },

    async listEvals(tenantId, task) {
      await deps.tasks.resolve(tenantId, task);
      return deps.evals.listEvals(tenantId, task, 100);
    },
  };
}

function datasetNotFound(name: string): GroundworkError {
  return new GroundworkError('EVAL_DATASET_NOT_FOUND', `no dataset named "${name}"`, { details: { dataset: name } });
}

function otherTask(name: string, owner: string, task: string): GroundworkError {
  return new GroundworkError('EVAL_DATASET_INVALID', `dataset "${name}" holds cases of task "${owner}", not "${task}": choose another name`, {
    details: { dataset: name, task: owner },
  });
}
