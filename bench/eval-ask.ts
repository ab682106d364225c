/**
 * bench:eval-ask — an eval of the built-in `ask` on a seeded slice of SQuAD 2.0: --questions
 * questions drawn (seeded) from the dev file, the contexts of their paragraphs ingested into ONE
 * collection (one document per paragraph, built-in embedder, embedded store), every question
 * asked through app.ask (hybrid search → relevance floor → numbered sources → extractive engine →
 * citation verification). One collection for the whole slice makes retrieval pick the right
 * paragraph among all of them (bench:abstain gives each article its own collection).
 *
 * Scores, per question (an answerable one expects an answer, an unanswerable one an abstention):
 * - answerable_hit_rate: answered, and a verified citation's quote contains a gold answer
 *   (SQuAD normalisation: grounding/squad-eval.ts, as bench:abstain scores it);
 * - unanswerable_abstain_rate: abstained;
 * - abstain_accuracy, citation_precision, grounded_rate: the eval's own scorers and scorecard
 *   (src/evals: each question a case with `expect_abstain`, each answer a CaseResult; an
 *   ungrounded answer, no citation verified, is an invalid output, as task cases count it),
 *   with their 95 % bootstrap intervals;
 * - recall_at_10, mrr: the question's own paragraph among what retrieval ranked (answerable questions);
 * - answerable_own_paragraph_rate: answered, citing the paragraph the question was written on.
 *
 *   npm run bench:eval-ask [-- --questions 1000 --seed 1 --data <squad-v2.json> --out <predictions.jsonl>]
 *
 * Last line: {"bench":"eval-ask","cases":…,"answerable_hit_rate":…,"unanswerable_abstain_rate":…,…}
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createApp } from '../src/app/app.js';
import { loadConfig } from '../src/config/config.js';
import type { AskOutput, GroundingMetrics } from '../src/grounding/ask.js';
import { loadSquad, scoreSquad, type SquadPrediction, type SquadQuestion } from '../src/grounding/squad-eval.js';
import type { EvalCase } from '../src/evals/dataset.js';
import { buildScorecard, type CaseTrial, type Scorecard } from '../src/evals/scorecard.js';
import { defaultScorers, scoreCase, type CaseResult } from '../src/evals/scorers.js';
import { mulberry32 } from '../src/kernel/random.js';
import { DEFAULT_TENANT } from '../src/store/ports.js';
import { machine, percentile, writeResult } from './report.js';
import { mean } from './retrieval-metrics.js';

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = join(here, here.includes(join('dist', 'bench')) ? '../..' : '..');
const { values } = parseArgs({
  options: {
    data: { type: 'string', default: join(repoRoot, '..', 'shared', 'data', 'squad2-dev-cs224n', 'dev-v2.0.json') },
    questions: { type: 'string', default: '1000' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
  },
});
const wanted = Number(values.questions);
const seed = Number(values.seed);
if (!Number.isInteger(wanted) || wanted < 1 || !Number.isInteger(seed))
  throw new RangeError('--questions must be a whole number ≥ 1 and --seed a whole number');
console.log(`bench:eval-ask seed ${seed}: ${wanted} questions`);

// Every question with its paragraph (the document it is ingested as), then a seeded draw without replacement.
const articles = await loadSquad(values.data as string);
const pool = articles.flatMap((article) =>
  article.paragraphs.flatMap((paragraph, p) =>
    paragraph.questions.map((question) => ({ question, source: `${article.title}#${p}.txt`, context: paragraph.context })),
  ),
);
const random = mulberry32(seed);
for (let i = 0; i < Math.min(wanted, pool.length); i++) {
  const j = i + Math.floor(random() * (pool.length - i));
  [pool[i], pool[j]] = [pool[j], pool[i]];
}
const slice = pool.slice(0, wanted);
const paragraphs = new Map(slice.map((item) => [item.source, item.context]));

const COLLECTION = 'squad-slice';
const dataDir = mkdtempSync(join(tmpdir(), 'gw-bench-eval-ask-'));
const configDir = mkdtempSync(join(tmpdir(), 'gw-bench-cfg-'));
const config = loadConfig({ env: {}, cwd: configDir, overrides: { dataDir, logLevel: 'silent' } });
const app = await createApp(config, { lock: { role: 'cli' }, logger: { error: (d, m) => console.error(m, d) } });

/** One question's result as the eval's scorers see it, and whether the answer cited the question's own paragraph. */
const judged: Array<{ question: SquadQuestion; trial: CaseTrial; ownParagraph: boolean }> = [];
const scorers = defaultScorers();
const predictions = new Map<string, SquadPrediction>();
const lines: string[] = [];
const latencies: number[] = [];
try {
  await app.retrieval.createCollection(DEFAULT_TENANT, { name: COLLECTION });
  const ingested = await app.ingest(
    DEFAULT_TENANT,
    COLLECTION,
    [...paragraphs].map(([source, context]) => ({ source, bytes: new TextEncoder().encode(context) })),
  );
  const failed = ingested.filter((outcome) => outcome.status === 'failed');
  if (failed.length > 0) throw new Error(`${failed.length} paragraphs were not ingested: ${JSON.stringify(failed[0])}`);

  for (const { question, source } of slice) {
    const started = performance.now();
    const answer = await app.ask(DEFAULT_TENANT, { question: question.question, collection: COLLECTION });
    latencies.push(performance.now() - started);
    const output = answer.output as AskOutput;
    const metrics = answer.grounding as Partial<GroundingMetrics> | undefined;
    const prediction = { abstained: !output.answerable, quotes: output.citations.map((c) => c.quote) };
    predictions.set(question.id, prediction);
    const testCase: EvalCase = {
      id: question.id,
      line: judged.length + 1,
      input: { question: question.question, collection: COLLECTION },
      expectAbstain: question.isImpossible,
      // An answerable question's relevant document is the paragraph it was written on.
      expectedSources: question.isImpossible ? undefined : [source],
      tags: [],
      weight: 1,
    };
    const result: CaseResult = {
      status: metrics?.ungrounded ? 'invalid_output' : prediction.abstained ? 'abstained' : 'ok',
      output,
      citations: { proposed: metrics?.citations_proposed ?? 0, verified: metrics?.citations_verified ?? 0 },
      retrieved: ((answer.grounding?.retrieved as Array<{ document: string }> | undefined) ?? []).map((hit) => hit.document),
      latencyMs: latencies[latencies.length - 1],
      costUsd: answer.usage.costUsd,
      runId: answer.runId,
    };
    judged.push({
      question,
      trial: { caseId: testCase.id, weight: 1, trial: 0, result, scores: scoreCase(scorers, testCase, result) },
      ownParagraph: !prediction.abstained && output.citations.some((c) => c.document === source),
    });
    lines.push(
      JSON.stringify({
        id: question.id,
        abstained: prediction.abstained,
        answer: output.answer,
        documents: output.citations.map((c) => c.document),
        quotes: prediction.quotes,
      }),
    );
  }
} finally {
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(configDir, { recursive: true, force: true });
}

if (values.out) writeFileSync(values.out, `${lines.join('\n')}\n`);
const score = scoreSquad(
  predictions,
  slice.map((item) => item.question),
);
const scorecard = buildScorecard(
  judged.map((j) => j.trial),
  { seed },
);
writeResult('eval-ask', {
  bench: 'eval-ask',
  cases: judged.length,
  answerable_hit_rate: round(score.answerable_hit_rate),
  unanswerable_abstain_rate: round(score.unanswerable_abstain_rate),
  answerable: score.answerable,
  unanswerable: score.unanswerable,
  abstain_accuracy: metric(scorecard, 'abstain_accuracy'),
  abstain_accuracy_ci95: interval(scorecard, 'abstain_accuracy'),
  citation_precision: metric(scorecard, 'citation_precision'),
  grounded_rate: metric(scorecard, 'grounded_rate'),
  recall_at_10: metric(scorecard, 'recall_at_k'),
  mrr: metric(scorecard, 'mrr'),
  answerable_own_paragraph_rate: round(mean(judged.filter((j) => !j.question.isImpossible).map((j) => (j.ownParagraph ? 1 : 0)))),
  ms_per_case: round(mean(latencies)),
  ask_p50_ms: round(percentile(latencies, 50)),
  ask_p95_ms: round(percentile(latencies, 95)),
  paragraphs: paragraphs.size,
  seed,
  data: 'SQuAD 2.0 dev, CS224N half, first 8 articles (../shared/data/squad2-dev-cs224n): a seeded draw of questions',
  engine: 'builtin-extractive over hybrid search (builtin embedder), one collection, embedded store',
  machine: machine(),
});

function metric(card: Scorecard, name: string): number | null {
  const summary = card.metrics[name];
  return summary ? round(summary.value) : null;
}

function interval(card: Scorecard, name: string): [number, number] | null {
  const summary = card.metrics[name];
  return summary ? [round(summary.low), round(summary.high)] : null;
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
