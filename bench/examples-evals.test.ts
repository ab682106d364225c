import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../src/app/app.js';
import { evaluateTask } from '../src/app/evaluate.js';
import { loadConfig } from '../src/config/config.js';
import { parseDataset, type Dataset } from '../src/evals/dataset.js';
import { checkCaseInputs } from '../src/evals/task-cases.js';
import type { AskOutput } from '../src/grounding/ask.js';
import { DEFAULT_TENANT } from '../src/store/ports.js';
import { taskVersion } from '../src/tasks/definition.js';
import { validateValue } from '../src/tasks/json-schema.js';
import { fromDefinition } from '../src/tasks/prepared-task.js';
import { loadTaskFiles } from '../src/tasks/task-files.js';

/**
 * The example eval datasets stay usable as the examples change: each parses as a dataset; the
 * ticket-triage cases are inputs the bundled task accepts, labelled with values its output schema
 * allows; the support-kb questions, asked of the bundled documents on the embedded default, abstain
 * where they should at least as often as they did when the dataset was written, and their expected
 * sources are documents the example ships.
 */

const examples = fileURLToPath(new URL('../examples/', import.meta.url));
const read = (path: string) => readFileSync(join(examples, path), 'utf8');

describe('examples/ticket-triage/evals/ticket-triage.jsonl', () => {
  const dir = join(examples, 'ticket-triage');
  const config = loadConfig({ env: {}, file: join(dir, 'groundwork.yaml'), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
  const [{ definition }] = loadTaskFiles(join(dir, 'tasks'), config);
  const dataset = parseDataset(read('ticket-triage/evals/ticket-triage.jsonl'));

  it('has inputs the bundled task accepts', () => {
    const task = fromDefinition(definition, { version: taskVersion(definition), active: true, createdAt: new Date(0) }, config);
    expect(() => checkCaseInputs(task, dataset.cases)).not.toThrow();
    expect(dataset.cases.length).toBeGreaterThanOrEqual(10);
  });

  it('labels every case with category and priority, each field a value the output schema allows', () => {
    // The output schema without `required`: a case names some of the fields, not all.
    const fields = { ...definition.output_schema, required: [] };
    const problems = dataset.cases.flatMap((c) => validateValue(fields, c.expected).map((issue) => `${c.id} ${issue.path}: ${issue.message}`));
    expect(problems).toEqual([]);
    const unlabelled = dataset.cases.filter((c) => !isLabelled(c.expected)).map((c) => c.id);
    expect(unlabelled).toEqual([]);
  });
});

describe('examples/support-kb/evals/ask.jsonl', () => {
  const dir = join(examples, 'support-kb');
  const dataset: Dataset = parseDataset(read('support-kb/evals/ask.jsonl'));
  const documents = readdirSync(join(dir, 'docs'))
    .sort()
    .map((name) => `docs/${name}`);
  let app: App;

  beforeAll(async () => {
    const config = loadConfig({ env: {}, file: join(dir, 'groundwork.yaml'), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
    app = await createApp(config, { lock: false, logger: { error: () => undefined } });
    await app.retrieval.createCollection(DEFAULT_TENANT, { name: 'support-kb' });
    // Named as `groundwork demo` names them: the path below the example's folder.
    const ingested = await app.ingest(
      DEFAULT_TENANT,
      'support-kb',
      documents.map((source) => ({ source, bytes: new Uint8Array(readFileSync(join(dir, source))) })),
    );
    expect(ingested.filter((outcome) => outcome.status === 'failed')).toEqual([]);
  });
  afterAll(() => app?.close());

  it('expects sources that are documents of the example, and says of every question whether it is answerable', () => {
    const unknown = dataset.cases.flatMap((c) =>
      (c.expectedSources ?? []).filter((source) => !documents.includes(source)).map((source) => `${c.id}: ${source}`),
    );
    expect(unknown).toEqual([]);
    expect(dataset.cases.filter((c) => c.expectAbstain === undefined).map((c) => c.id)).toEqual([]);
    expect(dataset.cases.filter((c) => c.expectAbstain === false && !c.expectedSources?.length).map((c) => c.id)).toEqual([]);
  });

  it('abstains where the documents are silent, and answers the rest citing an expected document', async () => {
    // groundwork eval ask --collection support-kb --dataset examples/support-kb/evals/ask.jsonl, in-process.
    const { report } = await evaluateTask(app, {
      tenantId: DEFAULT_TENANT,
      task: 'ask',
      collection: 'support-kb',
      dataset: { name: 'support-kb-ask', text: read('support-kb/evals/ask.jsonl') },
    });
    const cited = new Map(report.trials.map((t) => [t.caseId, ((t.result.output as AskOutput | undefined)?.citations ?? []).map((c) => c.document)]));
    const { scorecard } = report;
    expect(scorecard.errors).toBe(0);
    // Measured when the dataset was written: 28 of 32 (0.875). Every unanswerable question
    // abstained; four answerable ones did too (lost packages, downgrades, customs, PayPal refunds).
    expect(scorecard.metrics.abstain_accuracy.value).toBeGreaterThanOrEqual(0.8);
    expect(scorecard.metrics.abstain_accuracy.cases).toBe(dataset.cases.length);
    console.info(`support-kb ask eval: recall@10 ${scorecard.metrics.recall_at_k.value.toFixed(3)}, MRR ${scorecard.metrics.mrr.value.toFixed(3)}`);
    expect(scorecard.metrics.recall_at_k.cases).toBe(dataset.cases.filter((c) => c.expectedSources?.length).length);
    // Measured when written: recall@10 1.000 and MRR 1.000 (the expected document ranked first for every answerable question).
    expect(scorecard.metrics.recall_at_k.value).toBe(1);
    expect(scorecard.metrics.mrr.value).toBeGreaterThanOrEqual(0.9);
    // An answer cites one of the documents the case expects (measured: every one of the 16 answered).
    const answered = dataset.cases.filter((c) => c.expectedSources && (cited.get(c.id)?.length ?? 0) > 0);
    const offSource = answered.filter((c) => !cited.get(c.id)?.some((document) => c.expectedSources?.includes(document))).map((c) => c.id);
    expect(answered.length).toBeGreaterThanOrEqual(12);
    expect(offSource).toEqual([]);
  });
});

function isLabelled(expected: unknown): boolean {
  return typeof expected === 'object' && expected !== null && 'category' in expected && 'priority' in expected;
}
