import { canonicalJson, isRecord } from '../kernel/json.js';
import type { EvalCase } from './dataset.js';
import { normalise, type Normaliser } from './normalise.js';

/**
 * Scorers: one small port, each judging one case's result against what the dataset expected.
 * A scorer gives each metric it knows a value (1 best, 0 worst, except latency and cost,
 * which are raw) or leaves it out when the case cannot be judged on it (no `expected`, no
 * `expected_sources`, nothing proposed…): a mean is taken over the cases that were judged.
 */

/** What a case's run came to, as scorers see it. */
export interface CaseResult {
  /**
   * ok: a valid output; invalid_output: the model's output never validated (a quality result:
   * 0 on schema_valid and on what depends on the output); abstained: the run declined to
   * answer (grounded tasks, `ask`); error: the run failed for another reason (no model).
   */
  status: 'ok' | 'invalid_output' | 'abstained' | 'error';
  output?: unknown;
  /** Ids of what retrieval returned, best first (document ids and chunk ids both count). */
  retrieved?: readonly string[];
  /** Citations of the answer: proposed by the model, and verified against the sources. */
  citations?: { proposed: number; verified: number; cited?: readonly string[] };
  latencyMs: number;
  costUsd: number;
  /** Why an error trial failed (its registered code): shown in reports, never scored. */
  error?: { code: string; message: string };
  /** The recorded run of this trial, when one was recorded. */
  runId?: string;
  /** The LLM judge's verdict on the output (evals whose task declares a judge), or why there is none. */
  judge?: { score: number; reason: string; costUsd: number; runId?: string } | { error: { code: string; message: string }; costUsd: number };
}

export type Scores = Record<string, number>;

export interface Scorer {
  readonly name: string;
  score(testCase: EvalCase, result: CaseResult): Scores;
}

export interface ScorerOptions {
  /** Normalisers for exact, per-field and token comparisons. */
  normalisers?: readonly Normaliser[];
  /** k of recall@k and nDCG@k (default 10). */
  k?: number;
  /** Score the LLM judge's verdicts (the eval has a judge). */
  judge?: boolean;
}

/** Every deterministic scorer (the LLM judge is separate: it costs money and needs a route). */
export function defaultScorers(options: ScorerOptions = {}): Scorer[] {
  const normalisers = options.normalisers ?? [];
  const k = options.k ?? 10;
  const scorers = [
    schemaValid(),
    exactMatch(normalisers),
    fieldMatch(normalisers),
    tokenF1(normalisers),
    retrieval(k),
    citations(),
    abstention(),
    latencyAndCost(),
  ];
  return options.judge ? [...scorers, judged()] : scorers;
}

/**
 * judge: the LLM judge's score (0..1) of a valid output, 0 for an output that never validated;
 * judge_cost_usd: what the verdict cost. Not judged: an abstention, an error, a verdict that failed.
 */
export function judged(): Scorer {
  return {
    name: 'judge',
    score(_, result): Scores {
      const cost: Scores = result.judge ? { judge_cost_usd: result.judge.costUsd } : {};
      if (result.status === 'invalid_output') return { judge: 0, ...cost };
      if (result.status !== 'ok' || !result.judge || !('score' in result.judge)) return cost;
      return { judge: result.judge.score, ...cost };
    },
  };
}

/** schema_valid: 1 for a valid output, 0 when the output never validated; not judged for an abstention or an error. */
export function schemaValid(): Scorer {
  return {
    name: 'schema_valid',
    score: (_, result): Scores => (result.status === 'ok' ? { schema_valid: 1 } : result.status === 'invalid_output' ? { schema_valid: 0 } : {}),
  };
}

/** exact_match: the output equals `expected` (on the fields `expected` names, when it is an object). */
export function exactMatch(normalisers: readonly Normaliser[] = []): Scorer {
  return {
    name: 'exact_match',
    score(testCase, result): Scores {
      if (testCase.expected === undefined || !answered(result)) return {};
      if (result.status !== 'ok') return { exact_match: 0 };
      const expected = testCase.expected;
      const actual = isRecord(expected) && isRecord(result.output) ? pick(result.output, Object.keys(expected)) : result.output;
      return { exact_match: same(actual, expected, normalisers) ? 1 : 0 };
    },
  };
}

/** field:<name> for each field `expected` names (1 equal, 0 not), and field_match, their mean. */
export function fieldMatch(normalisers: readonly Normaliser[] = []): Scorer {
  return {
    name: 'field_match',
    score(testCase, result): Scores {
      const expected = testCase.expected;
      if (!isRecord(expected) || Object.keys(expected).length === 0 || !answered(result)) return {};
      const output = result.status === 'ok' && isRecord(result.output) ? result.output : undefined;
      const scores: Scores = {};
      let sum = 0;
      for (const [field, value] of Object.entries(expected)) {
        const score = output && field in output && same(output[field], value, normalisers) ? 1 : 0;
        scores[`field:${field}`] = score;
        sum += score;
      }
      scores.field_match = sum / Object.keys(expected).length;
      return scores;
    },
  };
}

/**
 * token_f1: SQuAD's token F1 (lower case, punctuation and articles dropped) between expected
 * and actual text: the expected string itself, or the mean over the string fields `expected` names.
 */
export function tokenF1(normalisers: readonly Normaliser[] = []): Scorer {
  return {
    name: 'token_f1',
    score(testCase, result): Scores {
      const expected = testCase.expected;
      if (!answered(result)) return {};
      const pairs: Array<[unknown, string]> = [];
      if (typeof expected === 'string') pairs.push([result.output, expected]);
      else if (isRecord(expected)) {
        for (const [field, value] of Object.entries(expected))
          if (typeof value === 'string') pairs.push([isRecord(result.output) ? result.output[field] : undefined, value]);
      }
      if (pairs.length === 0) return {};
      // An output that never validated earns nothing, even where an empty answer was expected.
      if (result.status !== 'ok') return { token_f1: 0 };
      let sum = 0;
      for (const [actual, wanted] of pairs) {
        const text = typeof actual === 'string' ? actual : '';
        sum += f1(tokens(String(normalise(text, normalisers))), tokens(String(normalise(wanted, normalisers))));
      }
      return { token_f1: sum / pairs.length };
    },
  };
}

/** recall_at_k, mrr and ndcg_at_k of what retrieval returned, against `expected_sources` (binary relevance). */
export function retrieval(k = 10): Scorer {
  return {
    name: 'retrieval',
    score(testCase, result): Scores {
      const relevant = new Set(testCase.expectedSources ?? []);
      if (relevant.size === 0 || result.status === 'error') return {};
      const ranked = dedupe(result.retrieved ?? []);
      const top = ranked.slice(0, k);
      const hits = top.filter((id) => relevant.has(id)).length;
      const first = ranked.findIndex((id) => relevant.has(id));
      let dcg = 0;
      top.forEach((id, index) => {
        if (relevant.has(id)) dcg += 1 / Math.log2(index + 2);
      });
      let ideal = 0;
      for (let index = 0; index < Math.min(relevant.size, k); index++) ideal += 1 / Math.log2(index + 2);
      return { recall_at_k: hits / relevant.size, mrr: first === -1 ? 0 : 1 / (first + 1), ndcg_at_k: dcg / ideal };
    },
  };
}

/** citation_precision (verified / proposed) and grounded_rate (an answer with at least one verified citation). */
export function citations(): Scorer {
  return {
    name: 'citations',
    score(_, result): Scores {
      if (!result.citations || result.status === 'abstained' || result.status === 'error') return {};
      const { proposed, verified } = result.citations;
      const scores: Scores = { grounded_rate: verified > 0 ? 1 : 0 };
      if (proposed > 0) scores.citation_precision = verified / proposed;
      return scores;
    },
  };
}

/** abstain_accuracy: the run abstained exactly when the case says it should (`expect_abstain`). */
export function abstention(): Scorer {
  return {
    name: 'abstention',
    score(testCase, result): Scores {
      if (testCase.expectAbstain === undefined || result.status === 'error') return {};
      return { abstain_accuracy: (result.status === 'abstained') === testCase.expectAbstain ? 1 : 0 };
    },
  };
}

/** latency_ms and cost_usd of the case's run, as they were (the scorecard takes p95 and the mean). */
export function latencyAndCost(): Scorer {
  return { name: 'latency_cost', score: (_, result): Scores => ({ latency_ms: result.latencyMs, cost_usd: result.costUsd }) };
}

/** Scores a case with every scorer; a later scorer's value for a metric never hides an earlier one's. */
export function scoreCase(scorers: readonly Scorer[], testCase: EvalCase, result: CaseResult): Scores {
  const scores: Scores = {};
  for (const scorer of scorers) for (const [metric, value] of Object.entries(scorer.score(testCase, result))) scores[metric] ??= value;
  return scores;
}

/** A result that can be judged on its output: a valid one, or one whose output never validated (scored 0). */
function answered(result: CaseResult): boolean {
  return result.status === 'ok' || result.status === 'invalid_output';
}

function same(actual: unknown, expected: unknown, normalisers: readonly Normaliser[]): boolean {
  return canonicalJson(normalise(actual, normalisers)) === canonicalJson(normalise(expected, normalisers));
}

function pick(object: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((key) => key in object).map((key) => [key, object[key]]));
}

const ARTICLES = new Set(['a', 'an', 'the']);

/** SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces. */
export function tokens(text: string): string[] {
  return text
    .toLowerCase()
    .replace(/[\p{P}\p{S}]/gu, ' ')
    .split(/\s+/)
    .filter((token) => token.length > 0 && !ARTICLES.has(token));
}

function f1(actual: readonly string[], expected: readonly string[]): number {
  if (actual.length === 0 || expected.length === 0) return actual.length === expected.length ? 1 : 0;
  const counts = new Map<string, number>();
  for (const token of expected) counts.set(token, (counts.get(token) ?? 0) + 1);
  let common = 0;
  for (const token of actual) {
    const left = counts.get(token) ?? 0;
    if (left > 0) {
      common++;
      counts.set(token, left - 1);
    }
  }
  if (common === 0) return 0;
  const precision = common / actual.length;
  const recall = common / expected.length;
  return (2 * precision * recall) / (precision + recall);
}

function dedupe(ids: readonly string[]): string[] {
  return [...new Set(ids)];
}
