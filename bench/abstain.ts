/**
 * bench:abstain — SQuAD 2.0 through the real ask path: each article is ingested as its own
 * collection (one document per paragraph, built-in embedder, embedded store), every question
 * goes through POST /v1/ask's code (hybrid search → relevance floor → numbered sources →
 * extractive engine → citation verification). Answerable: a cited quote contains a gold
 * answer. Unanswerable: the system abstained.
 *
 *   npm run bench:abstain [-- --data <squad-v2.json> --out <predictions.jsonl>]
 *
 * Last line: {"bench":"abstain","answerable_hit_rate":…,"unanswerable_abstain_rate":…}
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createApp } from '../src/app/app.js';
import { loadConfig } from '../src/config/config.js';
import type { AskOutput } from '../src/grounding/ask.js';
import { loadSquad, scoreSquad, squadQuestions, type SquadPrediction } from '../src/grounding/squad-eval.js';
import { DEFAULT_TENANT } from '../src/store/ports.js';
import { machine, percentile, writeResult } from './report.js';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), dirname(fileURLToPath(import.meta.url)).includes(join('dist', 'bench')) ? '../..' : '..');
const { values } = parseArgs({
  options: {
    data: { type: 'string', default: join(repoRoot, '..', 'shared', 'data', 'squad2-dev-cs224n', 'dev-v2.0.json') },
    out: { type: 'string' },
  },
});

const articles = await loadSquad(values.data as string);
const dataDir = mkdtempSync(join(tmpdir(), 'gw-bench-abstain-'));
const config = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-bench-cfg-')), overrides: { dataDir, logLevel: 'silent' } });
const app = await createApp(config, { lock: { role: 'cli' }, logger: { error: (d, m) => console.error(m, d) } });

const predictions = new Map<string, SquadPrediction>();
const lines: string[] = [];
const latencies: number[] = [];
try {
  for (const [a, article] of articles.entries()) {
    const collection = `squad-${a}`;
    await app.retrieval.createCollection(DEFAULT_TENANT, { name: collection });
    await app.ingest(
      DEFAULT_TENANT,
      collection,
      article.paragraphs.map((p, i) => ({ source: `${article.title}#${i}.txt`, bytes: new TextEncoder().encode(p.context) })),
    );
    for (const paragraph of article.paragraphs) {
      for (const q of paragraph.questions) {
        const started = performance.now();
        const result = await app.ask(DEFAULT_TENANT, { question: q.question, collection });
        latencies.push(performance.now() - started);
        const output = result.output as AskOutput;
        const prediction = { abstained: !output.answerable, quotes: output.citations.map((c) => c.quote) };
        predictions.set(q.id, prediction);
        lines.push(JSON.stringify({ id: q.id, abstained: prediction.abstained, answer: output.answer, quotes: prediction.quotes }));
      }
    }
  }
} finally {
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
}

if (values.out) writeFileSync(values.out, `${lines.join('\n')}\n`);
const score = scoreSquad(predictions, squadQuestions(articles));
writeResult('abstain', {
  bench: 'abstain',
  answerable_hit_rate: round(score.answerable_hit_rate),
  unanswerable_abstain_rate: round(score.unanswerable_abstain_rate),
  answerable: score.answerable,
  unanswerable: score.unanswerable,
  ask_p50_ms: round(percentile(latencies, 50)),
  ask_p95_ms: round(percentile(latencies, 95)),
  data: 'SQuAD 2.0 dev, CS224N half, first 8 articles (../shared/data/squad2-dev-cs224n)',
  engine: 'builtin-extractive over hybrid search (builtin embedder), embedded store',
  machine: machine(),
});

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
