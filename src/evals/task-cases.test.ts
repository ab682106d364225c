import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { loadConfig } from '../config/config.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { parseDataset } from './dataset.js';
import { evaluateGate, parseGate } from './gate.js';
import { runCases } from './runner.js';
import { buildScorecard, compare } from './scorecard.js';
import { defaultScorers } from './scorers.js';
import { checkCaseInputs, taskCaseRunner } from './task-cases.js';

/**
 * An eval end to end in one process, on the embedded store: a dataset through two versions of
 * a task (one routed to a model that answers well, one to a model whose output never fits the
 * schema), scored, compared case by case and judged by a gate. The mock model answers by the
 * model id it is asked for.
 */

const DATASET = [
  '{"id":"refund","input":{"subject":"Refund please","body":"Charged twice"},"expected":{"category":"billing"}}',
  '{"id":"crash","input":{"subject":"App crashes","body":"On start"},"expected":{"category":"bug"}}',
  '{"id":"hello","input":{"subject":"Hello","body":"Just saying hi"},"expected":{"category":"other"}}',
].join('\n');

describe('an eval of a task version, through the real run path', () => {
  let mock: MockLlm;
  let app: App;
  const scorers = defaultScorers();

  beforeAll(async () => {
    mock = await startMockLlm({
      respond: (request) => {
        const text = request.messages.map((m) => (typeof m.content === 'string' ? m.content : '')).join(' ');
        if (request.model === 'broken') return { category: 'unknown', mood: 'confused' };
        return { category: /refund|charged/i.test(text) ? 'billing' : /crash/i.test(text) ? 'bug' : 'other', summary: 'triaged' };
      },
    });
    const dir = mkdtempSync(join(tmpdir(), 'gw-eval-'));
    const base = loadConfig({ env: {}, cwd: dir, overrides: { dataDir: 'memory://', logLevel: 'silent' } });
    app = await createApp(
      {
        ...base,
        providers: { ...base.providers, mock: { name: 'mock', type: 'openai-compatible', base_url: mock.url, native_structured_output: true } },
        models: { ...base.models, good: { name: 'good', provider: 'mock' }, broken: { name: 'broken', provider: 'mock' } },
        routes: { default: ['good'], broken: ['broken'] },
      },
      { lock: false, logger: { error: () => undefined } },
    );
  });
  afterAll(async () => {
    await app?.close();
    await mock?.close();
  });

  const evaluate = async (route: string) => {
    const pushed = await app.tasks.pushRaw('default', triageDefinition({ route }));
    const task = await app.tasks.resolve('default', 'triage', pushed.version);
    const { cases } = parseDataset(DATASET);
    checkCaseInputs(task, cases);
    const runCase = taskCaseRunner({
      tenantId: 'default',
      task,
      runTask: (params) => app.runTask(params),
      runCost: async (runId) => (await app.runs.get('default', runId))?.costUsd,
    });
    return runCases({ cases, scorers, runCase, concurrency: 2 });
  };

  it('scores a good version, refuses a candidate whose output never validates, and lists the cases that got worse', async () => {
    const baseline = await evaluate('default');
    expect(baseline.trials.map((t) => [t.caseId, t.result.status, t.scores.schema_valid, t.scores.exact_match])).toEqual([
      ['refund', 'ok', 1, 1],
      ['crash', 'ok', 1, 1],
      ['hello', 'ok', 1, 1],
    ]);
    const candidate = await evaluate('broken');
    // Invalid output is a quality result: 0 on schema_valid and on every output metric, not an error.
    expect(candidate.trials.map((t) => [t.result.status, t.result.error?.code, t.scores.schema_valid, t.scores['field:category']])).toEqual([
      ['invalid_output', 'MODEL_ALL_TIERS_FAILED', 0, 0],
      ['invalid_output', 'MODEL_ALL_TIERS_FAILED', 0, 0],
      ['invalid_output', 'MODEL_ALL_TIERS_FAILED', 0, 0],
    ]);

    const gate = parseGate({ schema_valid: { min: 1 }, 'field:category': { max_drop: 0.02 } });
    const baselineCard = buildScorecard(baseline.trials);
    const candidateCard = buildScorecard(candidate.trials);
    const comparison = compare(candidate.trials, baseline.trials);
    expect(comparison.worse).toEqual(['refund', 'crash', 'hello']);
    const verdict = evaluateGate(gate, candidateCard, { scorecard: baselineCard, comparison });
    expect(verdict.passed).toBe(false);
    expect(verdict.checks.map((c) => [c.metric, c.rule, c.passed, c.value])).toEqual([
      ['schema_valid', 'min', false, 0],
      ['field:category', 'max_drop', false, 1],
    ]);
    // The unchanged version against itself passes.
    const again = await evaluate('default');
    expect(evaluateGate(gate, buildScorecard(again.trials), { scorecard: baselineCard, comparison: compare(again.trials, baseline.trials) }).passed).toBe(true);
  });

  it('refuses a dataset whose inputs the task would refuse, naming the lines, before running anything', async () => {
    const pushed = await app.tasks.pushRaw('default', triageDefinition());
    const task = await app.tasks.resolve('default', 'triage', pushed.version);
    const calls = mock.stats().total;
    const { cases } = parseDataset(['{"input":{"subject":"ok","body":"ok"}}', '{"input":{"subject":"no body"}}'].join('\n'));
    expect(() => checkCaseInputs(task, cases)).toThrow(
      expect.objectContaining({
        code: 'EVAL_DATASET_INVALID',
        details: expect.objectContaining({ bad_lines: 1, lines: [{ line: 2, message: expect.stringMatching(/body/) }] }),
      }),
    );
    expect(mock.stats().total).toBe(calls);
  });
});

describe('retrieval metrics of a grounded run', () => {
  it('come from the hits the run recorded, as the ids the case names (chunks where it names chunks, else documents)', async () => {
    const runCase = taskCaseRunner({
      tenantId: 't',
      task: { name: 'grounded', version: 'v1', checkInput: () => undefined },
      runTask: async () => ({
        runId: 'run_1',
        output: {},
        latencyMs: 1,
        usage: { costUsd: 0 },
        grounding: {
          citations_proposed: 1,
          citations_verified: 1,
          retrieved: [
            { document: 'a.md', chunk: 'c1' },
            { document: 'b.md', chunk: 'c2' },
            { document: 'a.md', chunk: 'c3' },
          ],
        },
      }),
    });
    const [testCase] = parseDataset('{"input":{},"expected_sources":["b.md","c3"]}').cases;
    const result = await runCase(testCase, 0, new AbortController().signal);
    expect(result.retrieved).toEqual(['a.md', 'b.md', 'c3']);
    // k = 2: the top two hold b.md (one of the two relevant ids), first at rank 2.
    const scores = defaultScorers({ k: 2 })
      .map((scorer) => scorer.score(testCase, result))
      .reduce((all, one) => ({ ...all, ...one }), {});
    expect(scores).toMatchObject({ recall_at_k: 0.5, mrr: 0.5 });
  });
});
