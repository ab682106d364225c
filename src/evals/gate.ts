import { GroundworkError } from '../kernel/errors.js';
import { lowerIsBetter, type Comparison, type Scorecard } from './scorecard.js';

/**
 * The gate: thresholds per metric, declared in the task definition
 * (`eval: { dataset, gate: { schema_valid: { min: 1 }, "field:category": { max_drop: 0.02 } } }`).
 * `min` and `max` are absolute (on the candidate's scorecard); `max_drop` is how far a metric
 * where higher is better may fall below the baseline (paired mean difference), `max_rise` how
 * far latency or cost may grow above it. A metric the candidate was never judged on fails its
 * threshold: a gate passes on what was measured, never on what was not.
 */

export interface GateThreshold {
  min?: number;
  max?: number;
  max_drop?: number;
  max_rise?: number;
}

export type Gate = Record<string, GateThreshold>;

export type GateRule = keyof GateThreshold;

export interface GateCheck {
  metric: string;
  rule: GateRule;
  threshold: number;
  /** The candidate's value (min, max) or the change against the baseline (max_drop: the fall, max_rise: the rise). */
  value?: number;
  passed: boolean;
  reason: string;
}

export interface GateResult {
  passed: boolean;
  checks: GateCheck[];
}

/** Metric names the scorers and the scorecard give, besides `field:<name>`. */
export const METRICS = [
  'schema_valid',
  'exact_match',
  'field_match',
  'token_f1',
  'recall_at_k',
  'mrr',
  'ndcg_at_k',
  'citation_precision',
  'grounded_rate',
  'abstain_accuracy',
  'latency_p95_ms',
  'cost_usd',
  'judge',
  'judge_cost_usd',
] as const;

const KNOWN = new Set<string>(METRICS);
const RULES: readonly GateRule[] = ['min', 'max', 'max_drop', 'max_rise'];

/** Checks a gate as written in a task definition; EVAL_GATE_INVALID names every problem. */
export function parseGate(value: unknown): Gate {
  const problems: string[] = [];
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalid(['the gate must be an object of metric → thresholds']);
  const gate: Gate = {};
  for (const [metric, threshold] of Object.entries(value as Record<string, unknown>)) {
    if (!KNOWN.has(metric) && !/^field:.+/.test(metric)) {
      problems.push(`"${metric}" is not a metric (${METRICS.join(', ')}, or field:<name>)`);
      continue;
    }
    if (typeof threshold !== 'object' || threshold === null || Array.isArray(threshold)) {
      problems.push(`"${metric}" needs thresholds such as { min: 0.9 } or { max_drop: 0.02 }`);
      continue;
    }
    const entry: GateThreshold = {};
    for (const [rule, limit] of Object.entries(threshold as Record<string, unknown>)) {
      if (!RULES.includes(rule as GateRule)) problems.push(`"${metric}": "${rule}" is not a threshold (${RULES.join(', ')})`);
      else if (typeof limit !== 'number' || !Number.isFinite(limit) || limit < 0) problems.push(`"${metric}".${rule} must be a number ≥ 0`);
      else if (rule === 'max_drop' && lowerIsBetter(metric)) problems.push(`"${metric}" is better lower: limit its max_rise, not a drop`);
      else if (rule === 'max_rise' && !lowerIsBetter(metric)) problems.push(`"${metric}" is better higher: limit its max_drop, not a rise`);
      else entry[rule as GateRule] = limit;
    }
    if (Object.keys(entry).length === 0 && !problems.some((p) => p.startsWith(`"${metric}"`))) problems.push(`"${metric}" has no threshold`);
    gate[metric] = entry;
  }
  if (problems.length > 0) throw invalid(problems);
  return gate;
}

/** The version a candidate is held against: its scorecard on the same dataset, and the paired comparison. */
export interface Baseline {
  scorecard: Scorecard;
  comparison: Comparison;
}

/** Judges a candidate's scorecard, and against the baseline (when there is one) for the relative thresholds. */
export function evaluateGate(gate: Gate, candidate: Scorecard, baseline?: Baseline): GateResult {
  const checks: GateCheck[] = [];
  for (const [metric, threshold] of Object.entries(gate)) {
    const summary = candidate.metrics[metric];
    for (const rule of RULES) {
      const limit = threshold[rule];
      if (limit === undefined) continue;
      if (!summary || !Number.isFinite(summary.value)) {
        checks.push({ metric, rule, threshold: limit, passed: false, reason: 'not measured: no case was judged on it' });
        continue;
      }
      if (rule === 'min' || rule === 'max') {
        const ok = rule === 'min' ? summary.value >= limit - 1e-12 : summary.value <= limit + 1e-12;
        checks.push({
          metric,
          rule,
          threshold: limit,
          value: summary.value,
          passed: ok,
          reason: `${format(summary.value)} ${ok ? (rule === 'min' ? '≥' : '≤') : rule === 'min' ? '<' : '>'} ${format(limit)}`,
        });
        continue;
      }
      const change = relativeChange(metric, summary.value, baseline);
      if (change === undefined) {
        checks.push({
          metric,
          rule,
          threshold: limit,
          passed: true,
          reason: baseline ? 'the baseline was not judged on it' : 'no baseline to compare with (a first version)',
        });
        continue;
      }
      // A drop (higher-is-better metrics) or a rise (lower-is-better), as a positive number.
      const moved = rule === 'max_drop' ? -change : change;
      const ok = moved <= limit + 1e-12;
      checks.push({
        metric,
        rule,
        threshold: limit,
        value: moved,
        passed: ok,
        reason: `${rule === 'max_drop' ? 'fell' : 'rose'} by ${format(Math.max(0, moved))} against the baseline (allowed ${format(limit)})`,
      });
    }
  }
  return { passed: checks.every((check) => check.passed), checks };
}

/** Candidate − baseline for the metric: the paired mean difference, or for latency the difference of the p95s. */
function relativeChange(metric: string, candidateValue: number, baseline: Baseline | undefined): number | undefined {
  if (!baseline) return undefined;
  if (metric === 'latency_p95_ms') {
    const before = baseline.scorecard.metrics.latency_p95_ms;
    return before === undefined ? undefined : candidateValue - before.value;
  }
  return baseline.comparison.metrics[metric]?.difference;
}

function format(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(4).replace(/0+$/, '');
}

function invalid(problems: string[]): GroundworkError {
  return new GroundworkError('EVAL_GATE_INVALID', `the eval gate is not valid: ${problems.join('; ')}`, { details: { problems } });
}
