import { mulberry32 } from '../kernel/random.js';

/**
 * The few statistics a scorecard needs, written here rather than taken from a library because
 * each is a few lines and must be exactly reproducible: a seeded percentile bootstrap (the
 * same scores and seed give the same interval on every machine), weighted means, percentiles.
 */

export interface Interval {
  low: number;
  high: number;
}

export interface BootstrapOptions {
  /** Default 2,000. */
  resamples?: number;
  /** Default 0.95. */
  confidence?: number;
  /** Default 1: the scorecard's intervals are reproducible unless a caller asks otherwise. */
  seed?: number;
}

/** Mean of `values`, each counted `weights[i]` times (default 1). NaN for no values. */
export function weightedMean(values: readonly number[], weights?: readonly number[]): number {
  let sum = 0;
  let total = 0;
  for (let i = 0; i < values.length; i++) {
    const weight = weights?.[i] ?? 1;
    sum += values[i] * weight;
    total += weight;
  }
  return total === 0 ? Number.NaN : sum / total;
}

/** The p-th percentile (0–100) with linear interpolation between closest ranks (NumPy's default). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (p / 100) * (sorted.length - 1);
  const below = Math.floor(rank);
  const above = Math.ceil(rank);
  return sorted[below] + (sorted[above] - sorted[below]) * (rank - below);
}

/**
 * Percentile bootstrap interval of any statistic of the values (a p95, say): the statistic
 * of each resample, tails cut as for the mean.
 */
export function bootstrapInterval(values: readonly number[], statistic: (sample: number[]) => number, options: BootstrapOptions = {}): Interval {
  const n = values.length;
  if (n === 0) return { low: Number.NaN, high: Number.NaN };
  const resamples = options.resamples ?? 2_000;
  const random = mulberry32(options.seed ?? 1);
  const stats: number[] = [];
  const sample = new Array<number>(n);
  for (let r = 0; r < resamples; r++) {
    for (let i = 0; i < n; i++) sample[i] = values[Math.floor(random() * n)];
    stats.push(statistic(sample));
  }
  return tails(stats, options.confidence ?? 0.95);
}

/**
 * Percentile bootstrap interval of the (weighted) mean: resample the cases with replacement,
 * take each resample's mean, and cut the tails. For one case, or all-equal values, the
 * interval is that value.
 */
export function bootstrapMeanInterval(values: readonly number[], weights?: readonly number[], options: BootstrapOptions = {}): Interval {
  const n = values.length;
  if (n === 0) return { low: Number.NaN, high: Number.NaN };
  const resamples = options.resamples ?? 2_000;
  const confidence = options.confidence ?? 0.95;
  const random = mulberry32(options.seed ?? 1);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    let total = 0;
    for (let i = 0; i < n; i++) {
      const pick = Math.floor(random() * n);
      const weight = weights?.[pick] ?? 1;
      sum += values[pick] * weight;
      total += weight;
    }
    means[r] = sum / total;
  }
  return tails(Array.from(means), confidence);
}

function tails(statistics: number[], confidence: number): Interval {
  const tail = ((1 - confidence) / 2) * 100;
  return { low: percentile(statistics, tail), high: percentile(statistics, 100 - tail) };
}
