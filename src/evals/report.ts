import { METRICS, type GateResult } from './gate.js';
import { groupByCase, isPassFail, passed, type CaseTrial, type Comparison, type Scorecard } from './scorecard.js';

/**
 * What an eval hands to people and to CI: JUnit XML (one test case per dataset case and one per
 * gate threshold, so a CI system lists what failed), Markdown fit for a pull-request comment, and
 * the JSON of the scorecard, comparison and gate. Written here: JUnit is a handful of elements
 * whose only subtlety is escaping, and the Markdown is Groundwork's own layout.
 */

export interface EvalReport {
  task: string;
  /** The version evaluated, and the one it was held against. */
  version: string;
  baselineVersion?: string;
  dataset: { name: string; hash: string };
  scorecard: Scorecard;
  trials: readonly CaseTrial[];
  comparison?: Comparison;
  baselineScorecard?: Scorecard;
  gate?: GateResult;
  /** Why not every trial ran. */
  stopped?: 'budget' | 'aborted';
}

/** How many cases a Markdown report lists by name before it says "and N more". */
const LISTED = 20;

export function toJUnit(report: EvalReport): string {
  const cases = groupByCase(report.trials);
  const caseElements = [...cases].map(([id, trials]) => {
    const failing = trials.filter((t) => !passed(t));
    const seconds = (trials.reduce((sum, t) => sum + t.result.latencyMs, 0) / 1000).toFixed(3);
    const open = `    <testcase classname="${xml(`${report.task}.cases`)}" name="${xml(id)}" time="${seconds}"`;
    if (failing.length === 0) return `${open}/>`;
    const detail = failing.map((t) => `trial ${t.trial}: ${describeFailure(t)}`).join('\n');
    return `${open}>\n      <failure message="${xml(describeFailure(failing[0]))}">${xml(detail)}</failure>\n    </testcase>`;
  });
  const gateElements = (report.gate?.checks ?? []).map((check) => {
    const open = `    <testcase classname="${xml(`${report.task}.gate`)}" name="${xml(`${check.metric} ${check.rule} ${check.threshold}`)}"`;
    return check.passed ? `${open}/>` : `${open}>\n      <failure message="${xml(check.reason)}"/>\n    </testcase>`;
  });
  const failures = caseElements.filter((e) => e.includes('<failure')).length + gateElements.filter((e) => e.includes('<failure')).length;
  const total = caseElements.length + gateElements.length;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="groundwork eval" tests="${total}" failures="${failures}">`,
    `  <testsuite name="${xml(`${report.task}@${report.version} on ${report.dataset.name}`)}" tests="${total}" failures="${failures}">`,
    ...caseElements,
    ...gateElements,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}

export function toMarkdown(report: EvalReport): string {
  const lines: string[] = [];
  const verdict = report.gate ? (report.gate.passed ? '✅ gate passed' : '❌ gate failed') : 'no gate';
  lines.push(`### Eval of \`${report.task}\` ${short(report.version)}: ${verdict}`, '');
  lines.push(
    `Dataset \`${report.dataset.name}\` (${short(report.dataset.hash)}), ${report.scorecard.cases} cases × ${report.scorecard.trials} trial(s)` +
      (report.baselineVersion ? `, against ${short(report.baselineVersion)}` : '') +
      `. Pass rate ${percent(report.scorecard.passRate)}` +
      (report.scorecard.trials > 1 ? `, pass^${report.scorecard.trials} ${percent(report.scorecard.passAllTrials)}` : '') +
      `; cost $${report.scorecard.costUsd.total.toFixed(4)}; latency p50 ${Math.round(report.scorecard.latencyMs.p50)} ms, p95 ${Math.round(report.scorecard.latencyMs.p95)} ms.`,
  );
  if (report.stopped) lines.push('', `**Stopped early (${report.stopped === 'budget' ? 'the cost budget was reached' : 'aborted'}): not every case ran.**`);
  if (report.scorecard.errors > 0)
    lines.push('', `**${report.scorecard.errors} trial(s) failed without an answer** (no model reachable, deadline): see the JSON report.`);
  lines.push(
    '',
    '| metric | value (95 % interval) |' + (report.comparison ? ' baseline | change (95 % interval) | better / worse |' : ''),
    '|---|---|' + (report.comparison ? '---|---|---|' : ''),
  );
  for (const [metric, summary] of Object.entries(report.scorecard.metrics).sort(([a], [b]) => byMetric(a, b))) {
    let row = `| ${metric} | ${number(summary.value)} (${number(summary.low)}–${number(summary.high)}) |`;
    if (report.comparison) {
      const base = report.baselineScorecard?.metrics[metric];
      const change = report.comparison.metrics[metric === 'latency_p95_ms' ? 'latency_ms' : metric];
      row += ` ${base ? number(base.value) : '—'} | ${change ? `${signed(change.difference)} (${signed(change.low)}…${signed(change.high)})` : '—'} | ${change && metric !== 'latency_p95_ms' && metric !== 'cost_usd' ? `${change.better.length} / ${change.worse.length}` : '—'} |`;
    }
    lines.push(row);
  }
  if (report.gate) {
    lines.push('', '| gate | threshold | result |', '|---|---|---|');
    for (const check of report.gate.checks)
      lines.push(`| ${check.metric} | ${check.rule} ${check.threshold} | ${check.passed ? '✅' : '❌'} ${check.reason} |`);
  }
  if (report.comparison && report.comparison.worse.length > 0) {
    const worse = report.comparison.worse;
    lines.push(
      '',
      `**Cases that got worse (${worse.length}):** ${worse
        .slice(0, LISTED)
        .map((id) => `\`${id}\``)
        .join(', ')}${worse.length > LISTED ? `, and ${worse.length - LISTED} more` : ''}`,
    );
  }
  const failing = [...groupByCase(report.trials)].filter(([, trials]) => trials.some((t) => !passed(t)));
  if (failing.length > 0) {
    lines.push('', `<details><summary>${failing.length} failing case(s)</summary>`, '');
    for (const [id, trials] of failing.slice(0, LISTED)) lines.push(`- \`${id}\`: ${describeFailure(trials.find((t) => !passed(t))!)}`);
    if (failing.length > LISTED) lines.push(`- and ${failing.length - LISTED} more`);
    lines.push('', '</details>');
  }
  return `${lines.join('\n')}\n`;
}

export function toJson(report: EvalReport): string {
  const { trials, ...rest } = report;
  return JSON.stringify(
    {
      ...rest,
      cases: [...groupByCase(trials)].map(([id, caseTrials]) => ({
        id,
        trials: caseTrials.map((t) => ({ trial: t.trial, status: t.result.status, passed: passed(t), scores: t.scores, error: t.result.error })),
      })),
    },
    (_, value: unknown) => (typeof value === 'number' && !Number.isFinite(value) ? null : value),
    2,
  );
}

/** Why a trial failed, in one line: its error, or the pass/fail metrics it missed. */
function describeFailure(trial: CaseTrial): string {
  if (trial.result.status === 'error') return `${trial.result.error?.code ?? 'error'}: ${trial.result.error?.message ?? 'the run failed'}`;
  // In the metrics' own order (a stored report's keys come back in the database's order).
  const missed = Object.entries(trial.scores)
    .filter(([metric, value]) => isPassFail(metric) && value !== 1)
    .map(([metric]) => metric)
    .sort(byMetric);
  const why = trial.result.status === 'invalid_output' ? 'output never validated' : trial.result.status;
  return `${why}; missed ${missed.join(', ') || 'nothing'}`;
}

/**
 * Metrics in METRICS' order (`field:<name>` beside field_match, unknown names last), then by
 * name: a report read back from the store lists them as one made in-process does.
 */
function byMetric(a: string, b: string): number {
  const order = (metric: string) => {
    const index = (METRICS as readonly string[]).indexOf(metric.startsWith('field:') ? 'field_match' : metric);
    return index === -1 ? METRICS.length : index;
  };
  return order(a) - order(b) || (a < b ? -1 : a > b ? 1 : 0);
}

function xml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

function short(hash: string): string {
  return hash.length > 12 ? hash.slice(0, 12) : hash;
}

function number(value: number): string {
  if (!Number.isFinite(value)) return '—';
  return Math.abs(value) >= 100 ? String(Math.round(value)) : value.toFixed(3);
}

function signed(value: number): string {
  return Number.isFinite(value) ? `${value >= 0 ? '+' : ''}${number(value)}` : '—';
}

function percent(value: number): string {
  return Number.isFinite(value) ? `${(value * 100).toFixed(1)} %` : '—';
}
