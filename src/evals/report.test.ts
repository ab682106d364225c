import { describe, expect, it } from 'vitest';
import { evaluateGate, parseGate } from './gate.js';
import { toJson, toJUnit, toMarkdown, type EvalReport } from './report.js';
import { buildScorecard, compare, type CaseTrial } from './scorecard.js';

const trial = (caseId: string, scores: Record<string, number>, status: CaseTrial['result']['status'] = 'ok'): CaseTrial => ({
  caseId,
  weight: 1,
  trial: 0,
  result: {
    status,
    latencyMs: 20,
    costUsd: 0.001,
    ...(status === 'error' ? { error: { code: 'MODEL_UNAVAILABLE', message: 'no model <answered> & "none" came' } } : {}),
  },
  scores: { latency_ms: 20, cost_usd: 0.001, ...scores },
});

function report(): EvalReport {
  const baseline = [
    trial('a&b', { schema_valid: 1, exact_match: 1 }),
    trial('c', { schema_valid: 1, exact_match: 1 }),
    trial('d', { schema_valid: 1, exact_match: 1 }),
  ];
  const candidate = [
    trial('a&b', { schema_valid: 1, exact_match: 1 }),
    trial('c', { schema_valid: 0, exact_match: 0 }, 'invalid_output'),
    trial('d', {}, 'error'),
  ];
  const scorecard = buildScorecard(candidate);
  const baselineScorecard = buildScorecard(baseline);
  const comparison = compare(candidate, baseline);
  return {
    task: 'triage',
    version: 'cafe0123456789ab',
    baselineVersion: 'beef0123456789ab',
    dataset: { name: 'tickets', hash: 'f'.repeat(64) },
    scorecard,
    baselineScorecard,
    comparison,
    trials: candidate,
    gate: evaluateGate(parseGate({ schema_valid: { min: 1 } }), scorecard, { scorecard: baselineScorecard, comparison }),
  };
}

describe('eval reports', () => {
  it('JUnit: one test case per dataset case and per gate threshold, failures with their reasons, text escaped', () => {
    const xml = toJUnit(report());
    expect(xml).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="groundwork eval" tests="4" failures="3">/);
    expect(xml).toContain('<testcase classname="triage.cases" name="a&amp;b" time="0.020"/>');
    expect(xml).toContain('<failure message="output never validated; missed schema_valid, exact_match">');
    expect(xml).toContain('MODEL_UNAVAILABLE: no model &lt;answered&gt; &amp; &quot;none&quot; came');
    expect(xml).toMatch(/<testcase classname="triage.gate" name="schema_valid min 1">\n\s+<failure message="0.5 &lt; 1"\/>/);
    // Well formed: every testcase that opens closes.
    expect(xml.match(/<testcase /g)).toHaveLength(4);
    expect((xml.match(/<testcase [^>]*\/>/g) ?? []).length + (xml.match(/<\/testcase>/g) ?? []).length).toBe(4);
  });

  it('Markdown: the verdict, every metric against the baseline, the gate, and the cases that got worse', () => {
    const markdown = toMarkdown(report());
    expect(markdown).toMatch(/^### Eval of `triage` cafe01234567: ❌ gate failed\n/);
    expect(markdown).toContain('3 cases × 1 trial(s), against beef01234567. Pass rate 33.3 %');
    expect(markdown).toContain('**1 trial(s) failed without an answer**');
    expect(markdown).toMatch(/\| schema_valid \| 0\.500 \(0\.000–1\.000\) \| 1\.000 \| -0\.500 \(.*\) \| 0 \/ 1 \|/);
    expect(markdown).toContain('| schema_valid | min 1 | ❌ 0.5 < 1 |');
    expect(markdown).toContain('**Cases that got worse (1):** `c`');
    expect(markdown).toContain('2 failing case(s)');
  });

  it('JSON: the scorecard, comparison, gate and each case’s trials, with no NaN', () => {
    const parsed = JSON.parse(toJson(report())) as {
      gate: { passed: boolean };
      cases: Array<{ id: string; trials: Array<{ passed: boolean; status: string }> }>;
    };
    expect(parsed.gate.passed).toBe(false);
    expect(parsed.cases.map((c) => [c.id, c.trials[0].status, c.trials[0].passed])).toEqual([
      ['a&b', 'ok', true],
      ['c', 'invalid_output', false],
      ['d', 'error', false],
    ]);
    expect(toJson({ ...report(), scorecard: buildScorecard([]) })).not.toContain('NaN');
  });
});
