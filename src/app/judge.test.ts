import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, type Config } from '../config/config.js';
import { JUDGE_SYSTEM_PROMPT } from '../tasks/judge-task.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { createApp, type App } from './app.js';
import { evaluateTask } from './evaluate.js';

/**
 * The eval's LLM judge: a fixed judge route from the config grades each valid output against the
 * definition's rubric; each verdict is a recorded run of `eval-judge` with its own cost, scored
 * as `judge` and `judge_cost_usd` and gated like any metric. With no judge route there is no
 * judge: the eval is refused before any model call, never scored by something made up.
 */

const DATASET = ['{"id":"refund","input":{"subject":"Refund please","body":"Charged twice"},"expected":{"category":"billing"}}'].join('\n');
const judged = (gate: Record<string, unknown> = {}) =>
  triageDefinition({ eval: { dataset: 'tickets', gate, normalisers: [], k: 10, judge: { rubric: 'The summary names the customer problem.' } } });

describe('the LLM judge', () => {
  let mock: MockLlm;
  let base: Config;
  const judgeRequests: string[] = [];

  beforeAll(async () => {
    mock = await startMockLlm({
      respond: (request) => {
        const system = request.messages.find((m) => m.role === 'system')?.content;
        if (system === JUDGE_SYSTEM_PROMPT) {
          judgeRequests.push(request.messages.map((m) => (typeof m.content === 'string' ? m.content : '')).join('\n'));
          return { score: 0.75, reason: 'names the double charge' };
        }
        return { category: 'billing', summary: 'double charge' };
      },
    });
    const loaded = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-judge-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
    base = {
      ...loaded,
      providers: { ...loaded.providers, mock: { name: 'mock', type: 'openai-compatible', base_url: mock.url, native_structured_output: true } },
      models: {
        ...loaded.models,
        worker: { name: 'worker', provider: 'mock' },
        grader: { name: 'grader', provider: 'mock', price: { input_per_mtok: 1, output_per_mtok: 2 } },
      },
      routes: { default: ['worker'] },
    };
  });
  afterAll(() => mock?.close());

  async function appWith(judgeRoute: string[] | undefined): Promise<App> {
    const app = await createApp({ ...base, evals: { ...base.evals, judge_route: judgeRoute } }, { lock: false, logger: { error: () => undefined } });
    await app.tasks.pushRaw('default', judged({ judge: { min: 0.9 } }));
    return app;
  }

  it('grades each valid output, records the verdict as a run with its own cost, and gates on it', async () => {
    const app = await appWith(['grader']);
    try {
      const { report, exitCode } = await evaluateTask(app, { tenantId: 'default', task: 'triage', dataset: { name: 'tickets', text: DATASET }, gate: true });
      expect(report.scorecard.metrics.judge.value).toBe(0.75);
      expect(report.scorecard.metrics.judge_cost_usd.value).toBeGreaterThan(0);
      expect(report.trials[0].result.judge).toMatchObject({ score: 0.75, reason: 'names the double charge' });
      // The rubric, the case's input, its reference and the output reached the judge.
      expect(judgeRequests.at(-1)).toContain('The summary names the customer problem.');
      expect(judgeRequests.at(-1)).toContain('"summary":"double charge"');
      expect(judgeRequests.at(-1)).toContain('"category":"billing"');
      const [run] = await app.runs.list('default', { task: 'eval-judge', limit: 5 });
      expect(run).toMatchObject({ taskName: 'eval-judge', status: 'ok', evalId: expect.stringMatching(/^eval_/) });
      expect(run.costUsd).toBe(report.scorecard.metrics.judge_cost_usd.value);
      // min 0.9 on the judge's 0.75: the gate fails, as for any metric.
      expect(exitCode).toBe(1);
      expect(report.gate?.checks).toEqual([expect.objectContaining({ metric: 'judge', rule: 'min', passed: false })]);
    } finally {
      await app.close();
    }
  });

  it('is unavailable, never faked, without a judge route: the eval is refused before any call', async () => {
    const app = await appWith(undefined);
    try {
      const calls = mock.stats().total;
      await expect(evaluateTask(app, { tenantId: 'default', task: 'triage', dataset: { name: 'tickets', text: DATASET } })).rejects.toMatchObject({
        code: 'EVAL_JUDGE_UNAVAILABLE',
      });
      expect(mock.stats().total).toBe(calls);
    } finally {
      await app.close();
    }
  });
});
