import { describe, expect, it } from 'vitest';
import { parseDataset, type EvalCase } from './dataset.js';
import { evaluateGate, parseGate } from './gate.js';
import { normalise } from './normalise.js';
import { buildScorecard, compare, type CaseTrial } from './scorecard.js';
import { defaultScorers, judged, scoreCase, tokens, type CaseResult } from './scorers.js';
import { bootstrapMeanInterval, percentile, weightedMean } from './stats.js';

const testCase = (fields: Partial<EvalCase> = {}): EvalCase => ({ id: 'c1', line: 1, input: { q: 'x' }, tags: [], weight: 1, ...fields });
const ok = (output: unknown, extra: Partial<CaseResult> = {}): CaseResult => ({ status: 'ok', output, latencyMs: 10, costUsd: 0.001, ...extra });
const score = (c: EvalCase, r: CaseResult) => scoreCase(defaultScorers({ normalisers: ['case', 'whitespace'], k: 3 }), c, r);

describe('parseDataset', () => {
  it('reads cases, names them by id or by their input, and versions the whole by content', () => {
    const text = [
      '{"id":"refund-1","input":{"subject":"Refund","body":"twice"},"expected":{"category":"billing"},"tags":["billing"],"weight":2}',
      '',
      '{"input":{"b":1,"a":2},"expect_abstain":true,"expected_sources":["doc_1"]}',
    ].join('\n');
    const dataset = parseDataset(text);
    expect(dataset.cases.map((c) => [c.id, c.line, c.weight])).toEqual([
      ['refund-1', 1, 2],
      [expect.stringMatching(/^case-[0-9a-f]{12}$/), 3, 1],
    ]);
    expect(dataset.cases[1]).toMatchObject({ expectAbstain: true, expectedSources: ['doc_1'], tags: [] });
    // Key order and blank lines are not content; a changed expectation is.
    const reordered = parseDataset(text.replace('{"b":1,"a":2}', '{"a":2,"b":1}').replace('\n\n', '\n'));
    expect(reordered.hash).toBe(dataset.hash);
    expect(reordered.cases[1].id).toBe(dataset.cases[1].id);
    expect(parseDataset(text.replace('billing"}', 'shipping"}')).hash).not.toBe(dataset.hash);
  });

  it('refuses a dataset with bad lines, listing each by number, unless asked to be lenient', () => {
    const text = [
      '{"input":{"a":1}}',
      'not json',
      '{"input":"text"}',
      '{"input":{"a":2},"weight":0}',
      '{"input":{"a":1}}',
      '{"input":{"a":3},"surprise":true}',
      `{"input":${'['.repeat(70)}${']'.repeat(70)}}`,
    ].join('\n');
    let thrown: unknown;
    try {
      parseDataset(text);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject({ code: 'EVAL_DATASET_INVALID', details: { bad_lines: 6 } });
    const lines = (thrown as { details: { lines: Array<{ line: number; message: string }> } }).details.lines;
    expect(lines.map((l) => l.line)).toEqual([2, 3, 4, 5, 6, 7]);
    expect(lines[3].message).toMatch(/repeats the case of line 1/);
    expect(lines[4].message).toMatch(/unknown field "surprise"/);
    expect(lines[5].message).toMatch(/deeper than 64/);

    const lenient = parseDataset(text, { lenient: true });
    expect(lenient.cases).toHaveLength(1);
    expect(lenient.skipped.map((s) => s.line)).toEqual([2, 3, 4, 5, 6, 7]);
  });

  it('refuses an empty dataset and one past the case limit', () => {
    expect(() => parseDataset('\n\n')).toThrow(expect.objectContaining({ code: 'EVAL_DATASET_INVALID', message: expect.stringMatching(/no cases/) }));
    const three = ['{"input":{"a":1}}', '{"input":{"a":2}}', '{"input":{"a":3}}'].join('\n');
    expect(() => parseDataset(three, { maxCases: 2 })).toThrow(
      expect.objectContaining({ message: expect.stringMatching(/line 3 is past the limit of 2 cases/) }),
    );
  });
});

describe('normalisers', () => {
  it('make case, spacing, number formats and date formats not matter, one at a time', () => {
    expect(normalise('  Hello   World ', ['whitespace'])).toBe('Hello World');
    expect(normalise('Hello', ['case'])).toBe('hello');
    expect(normalise('1,234.50', ['numbers'])).toBe(1234.5);
    expect(normalise(' 42 ', ['numbers'])).toBe(42);
    expect(normalise('42 apples', ['numbers'])).toBe('42 apples');
    for (const date of ['2026-12-07', '2026-12-07T10:00:00Z', '7 Dec 2026', 'December 7, 2026', '7th December 2026'])
      expect(normalise(date, ['dates'])).toBe('2026-12-07');
    expect(normalise('31 February 2026', ['dates'])).toBe('31 February 2026');
    expect(normalise({ a: [' X '] }, ['whitespace', 'case'])).toEqual({ a: ['x'] });
    expect(normalise('Hello', [])).toBe('Hello');
  });
});

describe('scorers, against values worked out by hand', () => {
  it('schema validity, exact and per-field match on the fields expected names', () => {
    const c = testCase({ expected: { category: 'Billing', priority: 'high' } });
    expect(score(c, ok({ category: ' billing', priority: 'high', summary: 'extra fields do not count' }))).toMatchObject({
      schema_valid: 1,
      exact_match: 1,
      'field:category': 1,
      'field:priority': 1,
      field_match: 1,
    });
    expect(score(c, ok({ category: 'billing', priority: 'low' }))).toMatchObject({ exact_match: 0, 'field:priority': 0, field_match: 0.5 });
  });

  it('an output that never validated scores 0 on schema_valid and on everything that depends on the output', () => {
    const c = testCase({ expected: { category: 'billing', summary: 'charged twice' } });
    const scores = score(c, { status: 'invalid_output', latencyMs: 5, costUsd: 0.002 });
    expect(scores).toEqual({
      schema_valid: 0,
      exact_match: 0,
      'field:category': 0,
      'field:summary': 0,
      field_match: 0,
      token_f1: 0,
      latency_ms: 5,
      cost_usd: 0.002,
    });
    // Even where the expected text is empty (SQuAD's F1 of two empty answers is 1).
    expect(score(testCase({ expected: { order_id: '' } }), { status: 'invalid_output', latencyMs: 1, costUsd: 0 }).token_f1).toBe(0);
    expect(score(testCase({ expected: { order_id: '' } }), ok({ order_id: '' })).token_f1).toBe(1);
  });

  it("the judge's verdict: its score for a valid output, 0 for one that never validated, its cost either way", () => {
    const judge = judged();
    const c = testCase({});
    expect(judge.score(c, { ...ok({}), judge: { score: 0.8, reason: 'fine', costUsd: 0.001 } })).toEqual({ judge: 0.8, judge_cost_usd: 0.001 });
    expect(judge.score(c, { status: 'invalid_output', latencyMs: 1, costUsd: 0 })).toEqual({ judge: 0 });
    expect(judge.score(c, { ...ok({}), judge: { error: { code: 'MODEL_UNAVAILABLE', message: 'down' }, costUsd: 0 } })).toEqual({ judge_cost_usd: 0 });
    expect(judge.score(c, { status: 'abstained', latencyMs: 1, costUsd: 0 })).toEqual({});
  });

  it('token F1 as SQuAD computes it', () => {
    expect(tokens('The cat, sat!')).toEqual(['cat', 'sat']);
    // actual {cat, sat}, expected {cat, sat, on, mat}: P = 1, R = 0.5, F1 = 2/3.
    expect(score(testCase({ expected: 'a cat sat on the mat' }), ok('The cat sat')).token_f1).toBeCloseTo(2 / 3, 10);
    // Mean over the string fields expected names: 1 and 0.
    expect(score(testCase({ expected: { a: 'red fox', b: 'blue' } }), ok({ a: 'Red fox', b: 'green' })).token_f1).toBeCloseTo(0.5, 10);
  });

  it('recall@k, MRR and nDCG@k against expected sources', () => {
    const c = testCase({ expectedSources: ['a', 'c'] });
    const scores = score(c, ok({}, { retrieved: ['b', 'a', 'd', 'c'] }));
    // k = 3: top [b, a, d] holds a. recall 1/2; first hit at rank 2: MRR 1/2;
    // DCG = 1/log2(3), IDCG = 1 + 1/log2(3).
    expect(scores.recall_at_k).toBe(0.5);
    expect(scores.mrr).toBe(0.5);
    expect(scores.ndcg_at_k).toBeCloseTo(1 / Math.log2(3) / (1 + 1 / Math.log2(3)), 12);
    expect(score(c, ok({}, { retrieved: ['c', 'a'] }))).toMatchObject({ recall_at_k: 1, mrr: 1, ndcg_at_k: 1 });
    expect(score(c, ok({}, { retrieved: [] }))).toMatchObject({ recall_at_k: 0, mrr: 0, ndcg_at_k: 0 });
    expect(score(testCase(), ok({}, { retrieved: ['a'] }))).not.toHaveProperty('recall_at_k');
  });

  it('citation precision, grounded rate and abstention accuracy', () => {
    expect(score(testCase(), ok({}, { citations: { proposed: 4, verified: 3 } }))).toMatchObject({ citation_precision: 0.75, grounded_rate: 1 });
    expect(score(testCase(), ok({}, { citations: { proposed: 2, verified: 0 } }))).toMatchObject({ citation_precision: 0, grounded_rate: 0 });
    const abstain = testCase({ expectAbstain: true });
    expect(score(abstain, { status: 'abstained', latencyMs: 1, costUsd: 0 }).abstain_accuracy).toBe(1);
    expect(score(abstain, ok({})).abstain_accuracy).toBe(0);
    expect(score(testCase({ expectAbstain: false }), ok({})).abstain_accuracy).toBe(1);
    // An abstention is judged on abstaining, not on an output it never gave.
    expect(score(testCase({ expected: { a: 1 } }), { status: 'abstained', latencyMs: 1, costUsd: 0 })).toEqual({ latency_ms: 1, cost_usd: 0 });
  });
});

describe('statistics', () => {
  it('percentiles interpolate between ranks, means weigh cases', () => {
    expect(percentile([4, 1, 3, 2], 50)).toBe(2.5);
    expect(percentile([1, 2, 3, 4], 95)).toBeCloseTo(3.85, 12);
    expect(weightedMean([1, 0], [3, 1])).toBe(0.75);
  });

  it('the bootstrap interval of a mean matches the known one for 50 passes in 100 cases, and is reproducible', () => {
    const values = Array.from({ length: 100 }, (_, i) => (i % 2 === 0 ? 1 : 0));
    const interval = bootstrapMeanInterval(values, undefined, { seed: 7, resamples: 4_000 });
    // Normal approximation: 0.5 ± 1.96 × √(0.25 / 100) = 0.5 ± 0.098.
    expect(interval.low).toBeGreaterThan(0.39);
    expect(interval.low).toBeLessThan(0.41);
    expect(interval.high).toBeGreaterThan(0.59);
    expect(interval.high).toBeLessThan(0.61);
    expect(bootstrapMeanInterval(values, undefined, { seed: 7, resamples: 4_000 })).toEqual(interval);
    const constant = bootstrapMeanInterval([0.8, 0.8, 0.8]);
    expect(constant.low).toBeCloseTo(0.8, 12);
    expect(constant.high).toBeCloseTo(0.8, 12);
  });
});

const trial = (caseId: string, scores: Record<string, number>, extra: Partial<CaseTrial> = {}): CaseTrial => ({
  caseId,
  weight: 1,
  trial: 0,
  result: { status: 'ok', latencyMs: scores.latency_ms ?? 10, costUsd: scores.cost_usd ?? 0.01 },
  scores: { latency_ms: 10, cost_usd: 0.01, ...scores },
  ...extra,
});

describe('scorecards, comparisons and the gate', () => {
  it('a scorecard gives each metric its mean over the judged cases, pass rate and pass^k over trials', () => {
    const trials = [
      trial('a', { schema_valid: 1, exact_match: 1 }),
      trial('a', { schema_valid: 1, exact_match: 0 }, { trial: 1 }),
      trial('b', { schema_valid: 1, exact_match: 1 }),
      trial('b', { schema_valid: 1, exact_match: 1 }, { trial: 1 }),
      trial('c', { schema_valid: 0 }),
      trial('c', { schema_valid: 0 }, { trial: 1 }),
    ];
    const card = buildScorecard(trials);
    expect(card).toMatchObject({ cases: 3, trials: 2, passRate: 3 / 6, passAllTrials: 1 / 3, errors: 0 });
    // Per case over its trials first: a 0.5, b 1 (c was never judged on exact_match).
    expect(card.metrics.exact_match).toMatchObject({ value: 0.75, cases: 2 });
    expect(card.metrics.schema_valid.value).toBeCloseTo(2 / 3, 12);
    expect(card.metrics.cost_usd.value).toBeCloseTo(0.01, 12);
    expect(card.metrics).toHaveProperty('latency_p95_ms');
    expect(card.metrics).not.toHaveProperty('latency_ms');
  });

  it('a comparison pairs cases by id and says which got better, worse or stayed', () => {
    const baseline = [trial('a', { exact_match: 1 }), trial('b', { exact_match: 0 }), trial('c', { exact_match: 1 }), trial('gone', { exact_match: 1 })];
    const candidate = [trial('a', { exact_match: 1 }), trial('b', { exact_match: 1 }), trial('c', { exact_match: 0 }), trial('new', { exact_match: 1 })];
    const comparison = compare(candidate, baseline);
    expect(comparison).toMatchObject({ paired: 3, onlyCandidate: ['new'], onlyBaseline: ['gone'], better: ['b'], worse: ['c'], same: 1 });
    expect(comparison.metrics.exact_match).toMatchObject({ difference: 0, better: ['b'], worse: ['c'], same: 1, cases: 3 });
  });

  it('the gate refuses a candidate under a minimum or dropping past its allowance, and names what was not measured', () => {
    const gate = parseGate({ schema_valid: { min: 1 }, 'field:category': { max_drop: 0.02 }, token_f1: { min: 0.5 }, latency_p95_ms: { max_rise: 1000 } });
    const baselineTrials = [trial('a', { schema_valid: 1, 'field:category': 1 }), trial('b', { schema_valid: 1, 'field:category': 1 })];
    const candidateTrials = [trial('a', { schema_valid: 1, 'field:category': 1 }), trial('b', { schema_valid: 0, 'field:category': 0 })];
    const candidate = buildScorecard(candidateTrials);
    const result = evaluateGate(gate, candidate, { scorecard: buildScorecard(baselineTrials), comparison: compare(candidateTrials, baselineTrials) });
    expect(result.passed).toBe(false);
    expect(result.checks.map((c) => [c.metric, c.rule, c.passed])).toEqual([
      ['schema_valid', 'min', false],
      ['field:category', 'max_drop', false],
      ['token_f1', 'min', false],
      ['latency_p95_ms', 'max_rise', true],
    ]);
    expect(result.checks[1]).toMatchObject({ value: 0.5, reason: expect.stringMatching(/fell by 0.5 against the baseline/) });
    expect(result.checks[2].reason).toMatch(/not measured/);

    // The same version against itself passes; with no baseline, relative thresholds pass and say why.
    const same = evaluateGate(
      parseGate({ schema_valid: { min: 1 }, exact_match: { max_drop: 0 } }),
      buildScorecard(baselineTrials.map((t) => ({ ...t, scores: { ...t.scores, exact_match: 1 } }))),
    );
    expect(same.passed).toBe(true);
    expect(same.checks[1].reason).toMatch(/no baseline/);
  });

  it('refuses a gate that names no metric or no usable threshold', () => {
    expect(() => parseGate({ accuracy: { min: 1 }, schema_valid: { min: 'high' }, cost_usd: { max_drop: 0.1 }, mrr: {} })).toThrow(
      expect.objectContaining({
        code: 'EVAL_GATE_INVALID',
        details: {
          problems: expect.arrayContaining([
            expect.stringMatching(/"accuracy" is not a metric/),
            expect.stringMatching(/must be a number/),
            expect.stringMatching(/better lower/),
            expect.stringMatching(/"mrr" has no threshold/),
          ]),
        },
      }),
    );
    expect(() => parseGate([])).toThrow(expect.objectContaining({ code: 'EVAL_GATE_INVALID' }));
  });
});
