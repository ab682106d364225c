import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../cli/test-cli.js';
import { loadConfig } from '../config/config.js';
import { DEFAULT_TENANT } from '../store/ports.js';
import { createApp } from './app.js';

/**
 * An eval of the built-in `ask` (no stored task named `ask`): each case asks of the collection
 * given with --collection, through the real ask (retrieval, the extractive engine, citation
 * checks); an answer of `answerable: false` is an abstention; the retrieval it ranked is scored
 * against the case's expected documents; every case is a run tagged with the eval.
 */

const DOCS = {
  'refunds.md': '# Refunds\n\nCard refunds take five business days to reach the card after we approve them.',
  'shipping.md': '# Shipping\n\nOrders ship within two days. Express shipping costs twelve euros.',
};
const DATASET = [
  { id: 'refund-time', input: { question: 'How long do card refunds take?' }, expected_sources: ['refunds.md'], expect_abstain: false },
  { id: 'express', input: { question: 'How much does express shipping cost?' }, expected_sources: ['shipping.md'], expect_abstain: false },
  { id: 'mars', input: { question: 'Zyxw qqvv plorb?' }, expect_abstain: true },
]
  .map((c) => JSON.stringify(c))
  .join('\n');

describe('groundwork eval ask', () => {
  let root: string;
  let dataDir: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'gw-eval-ask-'));
    dataDir = join(root, 'data');
    writeFileSync(join(root, 'ask.jsonl'), DATASET);
    const app = await createApp(loadConfig({ env: {}, cwd: root, overrides: { dataDir, logLevel: 'silent' } }), {
      lock: { role: 'cli' },
      logger: { error: () => undefined },
    });
    try {
      await app.retrieval.createCollection(DEFAULT_TENANT, { name: 'kb' });
      await app.ingest(
        DEFAULT_TENANT,
        'kb',
        Object.entries(DOCS).map(([source, text]) => ({ source, bytes: new TextEncoder().encode(text) })),
      );
    } finally {
      await app.close();
    }
  });

  it('evaluates the built-in ask on a collection: abstentions, citations and retrieval scored, runs tagged', async () => {
    const result = await runCli(dataDir, 'eval', 'ask', '--dataset', join(root, 'ask.jsonl'), '--collection', 'kb', '--json');
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as {
      task: string;
      baselineVersion?: string;
      scorecard: { metrics: Record<string, { value: number; cases: number }> };
      cases: Array<{ id: string; trials: Array<{ status: string }> }>;
    };
    expect(report.task).toBe('ask');
    expect(report.baselineVersion).toBeUndefined();
    expect(report.cases.map((c) => [c.id, c.trials[0].status])).toEqual([
      ['refund-time', 'ok'],
      ['express', 'ok'],
      ['mars', 'abstained'],
    ]);
    expect(report.scorecard.metrics.abstain_accuracy).toMatchObject({ value: 1, cases: 3 });
    expect(report.scorecard.metrics.recall_at_k).toMatchObject({ value: 1, cases: 2 });
    expect(report.scorecard.metrics.mrr.value).toBe(1);
    expect(report.scorecard.metrics.citation_precision.value).toBe(1);

    const runs = JSON.parse((await runCli(dataDir, 'runs', 'list', '--task', 'ask', '--json')).stdout) as Array<{ eval_id?: string }>;
    expect(runs).toHaveLength(3);
    expect(new Set(runs.map((r) => r.eval_id)).size).toBe(1);
    expect(runs[0].eval_id).toMatch(/^eval_/);
  });

  it('refuses cases that name no collection when none is given, before anything runs', async () => {
    const result = await runCli(dataDir, 'eval', 'ask', '--dataset', join(root, 'ask.jsonl'));
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/EVAL_DATASET_INVALID: 3 cases of the dataset have inputs task "ask" refuses: line 1 \(\/collection: is required\)/);
  });
});
