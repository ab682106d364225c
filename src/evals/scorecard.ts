import type { CaseResult, Scores } from './scorers.js';
import { bootstrapInterval, bootstrapMeanInterval, percentile, weightedMean, type BootstrapOptions } from './stats.js';

/**
 * Scorecards and comparisons. A scorecard summarises one (task version, dataset) eval: per
 * metric the (weighted) mean over the cases judged on it with a 95 % bootstrap interval, the
 * pass rate (and pass^k over trials), latency percentiles and cost. A comparison pairs a
 * candidate's cases with a baseline's, case by case, on the same dataset: which got better,
 * worse or stayed, and the interval of the mean difference per metric.
 */

/** One trial of one case. */
export interface CaseTrial {
  caseId: string;
  weight: number;
  trial: number;
  result: CaseResult;
  scores: Scores;
}

export interface MetricSummary {
  /** The mean over judged cases (each case's value being its mean over trials), or the statistic itself (latency_p95_ms). */
  value: number;
  low: number;
  high: number;
  /** Cases judged on it. */
  cases: number;
}

export interface Scorecard {
  cases: number;
  trials: number;
  metrics: Record<string, MetricSummary>;
  /** Share of case trials that passed: every pass/fail metric it was judged on at 1, and no error. */
  passRate: number;
  /** Share of cases that passed in every one of their trials (pass^k; equals passRate for one trial). */
  passAllTrials: number;
  latencyMs: { p50: number; p95: number; p99: number };
  costUsd: { total: number; mean: number };
  /** Case trials whose run failed for a reason other than the output (no model answered). */
  errors: number;
}

/** Metrics where a case either passed or did not; the graded ones (token_f1, ndcg…) inform, they do not fail a case. */
const PASS_FAIL = new Set(['schema_valid', 'exact_match', 'abstain_accuracy', 'grounded_rate']);
/** Raw measurements, not scores: summarised by the scorecard's own rows. */
const RAW = new Set(['latency_ms', 'cost_usd']);
/** Metrics where lower is better: the raw measurements and the scorecard's latency row. */
const LOWER_IS_BETTER = new Set([...RAW, 'latency_p95_ms', 'judge_cost_usd']);

export function lowerIsBetter(metric: string): boolean {
  return LOWER_IS_BETTER.has(metric);
}

export function isPassFail(metric: string): boolean {
  return PASS_FAIL.has(metric) || metric.startsWith('field:');
}

/** Did this trial pass? */
export function passed(trial: CaseTrial): boolean {
  if (trial.result.status === 'error') return false;
  return Object.entries(trial.scores).every(([metric, value]) => !isPassFail(metric) || value === 1);
}

export function buildScorecard(trials: readonly CaseTrial[], options: BootstrapOptions = {}): Scorecard {
  const byCase = groupByCase(trials);
  const metrics: Record<string, MetricSummary> = {};
  for (const metric of metricNames(trials)) {
    if (RAW.has(metric)) continue;
    const values: number[] = [];
    const weights: number[] = [];
    for (const caseTrials of byCase.values()) {
      const judged = caseTrials.filter((t) => metric in t.scores);
      if (judged.length === 0) continue;
      values.push(weightedMean(judged.map((t) => t.scores[metric])));
      weights.push(caseTrials[0].weight);
    }
    metrics[metric] = { value: weightedMean(values, weights), ...bootstrapMeanInterval(values, weights, options), cases: values.length };
  }
  const latencies = trials.map((t) => t.result.latencyMs);
  const costs = trials.map((t) => t.result.costUsd);
  if (trials.length > 0) {
    metrics.latency_p95_ms = { value: percentile(latencies, 95), ...bootstrapInterval(latencies, (s) => percentile(s, 95), options), cases: byCase.size };
    const caseCosts = [...byCase.values()].map((caseTrials) => weightedMean(caseTrials.map((t) => t.result.costUsd)));
    metrics.cost_usd = { value: weightedMean(caseCosts), ...bootstrapMeanInterval(caseCosts, undefined, options), cases: byCase.size };
  }
  const passes = trials.filter(passed).length;
  const casesPassingAll = [...byCase.values()].filter((caseTrials) => caseTrials.every(passed)).length;
  return {
    cases: byCase.size,
    trials: byCase.size === 0 ? 0 : Math.max(...[...byCase.values()].map((t) => t.length)),
    metrics,
    passRate: trials.length === 0 ? Number.NaN : passes / trials.length,
    passAllTrials: byCase.size === 0 ? Number.NaN : casesPassingAll / byCase.size,
    latencyMs: { p50: percentile(latencies, 50), p95: percentile(latencies, 95), p99: percentile(latencies, 99) },
    costUsd: { total: costs.reduce((a, b) => a + b, 0), mean: weightedMean(costs) },
    errors: trials.filter((t) => t.result.status === 'error').length,
  };
}

export interface MetricComparison {
  /** Mean of candidate − baseline over the cases judged on the metric in both. */
  difference: number;
  low: number;
  high: number;
  cases: number;
  better: string[];
  worse: string[];
  same: number;
}

export interface Comparison {
  /** Cases in both runs (paired); the others are listed and left out of every difference. */
  paired: number;
  onlyCandidate: string[];
  onlyBaseline: string[];
  metrics: Record<string, MetricComparison>;
  /** Per case: worse on any pass/fail or graded metric; better on some and worse on none; else same. */
  better: string[];
  worse: string[];
  same: number;
}

/** Pairs the candidate's cases with the baseline's by case id and compares them metric by metric. */
export function compare(candidate: readonly CaseTrial[], baseline: readonly CaseTrial[], options: BootstrapOptions = {}): Comparison {
  const cand = groupByCase(candidate);
  const base = groupByCase(baseline);
  const paired = [...cand.keys()].filter((id) => base.has(id));
  const metrics: Record<string, MetricComparison> = {};
  const caseBetter = new Set<string>();
  const caseWorse = new Set<string>();
  for (const metric of metricNames([...candidate, ...baseline])) {
    const differences: number[] = [];
    const weights: number[] = [];
    const better: string[] = [];
    const worse: string[] = [];
    let same = 0;
    for (const id of paired) {
      const a = caseMean(cand.get(id)!, metric);
      const b = caseMean(base.get(id)!, metric);
      if (a === undefined || b === undefined) continue;
      const difference = a - b;
      differences.push(difference);
      weights.push(cand.get(id)![0].weight);
      // Latency and cost move on every run: they are compared as means, not case by case.
      if (RAW.has(metric)) continue;
      if (difference > 1e-9) better.push(id);
      else if (difference < -1e-9) worse.push(id);
      else same++;
    }
    if (differences.length === 0) continue;
    const interval = bootstrapMeanInterval(differences, weights, options);
    metrics[metric] = { difference: weightedMean(differences, weights), ...interval, cases: differences.length, better, worse, same };
    // (Empty for latency and cost, which are not compared case by case.)
    for (const id of better) caseBetter.add(id);
    for (const id of worse) caseWorse.add(id);
  }
  const worse = paired.filter((id) => caseWorse.has(id));
  const better = paired.filter((id) => caseBetter.has(id) && !caseWorse.has(id));
  return {
    paired: paired.length,
    onlyCandidate: [...cand.keys()].filter((id) => !base.has(id)),
    onlyBaseline: [...base.keys()].filter((id) => !cand.has(id)),
    metrics,
    better,
    worse,
    same: paired.length - better.length - worse.length,
  };
}

/** Trials by case id, in the order cases first appear. */
export function groupByCase(trials: readonly CaseTrial[]): Map<string, CaseTrial[]> {
  const byCase = new Map<string, CaseTrial[]>();
  for (const trial of trials) {
    const list = byCase.get(trial.caseId);
    if (list) list.push(trial);
    else byCase.set(trial.caseId, [trial]);
  }
  return byCase;
}

function metricNames(trials: readonly CaseTrial[]): string[] {
  const names = new Set<string>();
  for (const trial of trials) for (const metric of Object.keys(trial.scores)) names.add(metric);
  return [...names].sort();
}

function caseMean(trials: readonly CaseTrial[], metric: string): number | undefined {
  const judged = trials.filter((t) => metric in t.scores);
  return judged.length === 0 ? undefined : weightedMean(judged.map((t) => t.scores[metric]));
}
