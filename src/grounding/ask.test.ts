import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { ASK_INPUT_SCHEMA, ASK_MODEL_OUTPUT_SCHEMA, ASK_OUTPUT_SCHEMA, buildAskUserPrompt, finalizeGroundedAnswer, UNGROUNDED_CONFIDENCE_CAP } from './ask.js';
import { parseGroundedPrompt } from './grounded-prompt.js';
import { sourcesFrom } from './test-fixtures.js';

const ajv = new Ajv({ strict: false, useDefaults: true });
const sources = sourcesFrom(
  'Refunds are issued within 14 days of receiving the returned item.',
  'Returns must be started from the orders page of your account.',
);
const REFUND = 'Refunds are issued within 14 days of receiving the returned item.';

describe('ask schemas', () => {
  it('accepts a minimal input and fills k with its default', () => {
    const validate = ajv.compile(ASK_INPUT_SCHEMA);
    const input: Record<string, unknown> = { question: 'How long do refunds take?', collection: 'support' };
    expect(validate(input)).toBe(true);
    expect(input.k).toBe(6);
    expect(validate({ question: '', collection: 'support' })).toBe(false);
    expect(validate({ question: 'q', collection: 'support', k: 21 })).toBe(false);
    expect(validate({ question: 'q', collection: 'support', filters: { lang: ['en', 'de'], year: 2024 } })).toBe(true);
    expect(validate({ question: 'x'.repeat(2001), collection: 'support' })).toBe(false);
  });

  it('describes what finalize returns', () => {
    const { output } = finalizeGroundedAnswer(
      { answer: 'Within 14 days.', citations: [{ source: 1, quote: REFUND }], answerable: true, confidence: 0.9 },
      sources,
    );
    expect(ajv.validate(ASK_OUTPUT_SCHEMA, output)).toBe(true);
    expect(ajv.validate(ASK_MODEL_OUTPUT_SCHEMA, { answer: '', citations: [{ source: '1', quote: 'x' }], answerable: false, confidence: 1 })).toBe(false);
  });
});

describe('buildAskUserPrompt', () => {
  it('carries the question and the numbered sources in the grounded-prompt protocol', () => {
    const prompt = buildAskUserPrompt({ question: 'How long do refunds take?', sources });
    expect(prompt).toContain('[1] Doc 1\nRefunds are issued');
    expect(parseGroundedPrompt(prompt)?.question).toBe('How long do refunds take?');
    expect(parseGroundedPrompt(prompt)?.sources).toHaveLength(2);
  });
});

describe('finalizeGroundedAnswer', () => {
  it('keeps supported citations, drops and counts the rest, and scales confidence by the share supported', () => {
    const { output, metrics } = finalizeGroundedAnswer(
      {
        answer: 'Refunds take up to 14 days.',
        citations: [
          { source: 1, quote: REFUND },
          { source: 2, quote: 'refunds are issued within 14 days' }, // wrong source
        ],
        answerable: true,
        confidence: 0.8,
      },
      sources,
    );
    expect(output).toEqual({
      answer: 'Refunds take up to 14 days.',
      citations: [{ chunk_id: 'c1', document: 'doc1.md', quote: REFUND }],
      answerable: true,
      confidence: 0.4,
    });
    expect(metrics).toEqual({
      chunks_used: 2,
      chunks_cited: 1,
      citations_proposed: 2,
      citations_verified: 1,
      citations_dropped: 1,
      abstained: false,
      ungrounded: false,
      retrieval_scores: [1, 0.9],
    });
  });

  it('marks an answer with no supported citation as ungrounded: no answer text, not answerable, low confidence', () => {
    const { output, metrics } = finalizeGroundedAnswer(
      { answer: 'Refunds take a month.', citations: [{ source: 1, quote: 'refunds take about a month' }], answerable: true, confidence: 0.95 },
      sources,
    );
    expect(output).toEqual({ answer: '', citations: [], answerable: false, confidence: UNGROUNDED_CONFIDENCE_CAP });
    expect(metrics).toMatchObject({ ungrounded: true, abstained: false, citations_verified: 0, citations_dropped: 1 });
  });

  it('treats an answer without citations as ungrounded', () => {
    const { output, metrics } = finalizeGroundedAnswer({ answer: 'Two weeks.', citations: [], answerable: true, confidence: 0.1 }, sources);
    expect(output.answerable).toBe(false);
    expect(output.confidence).toBe(0.1);
    expect(metrics.ungrounded).toBe(true);
  });

  it('keeps an abstention empty even if the model attached citations', () => {
    const { output, metrics } = finalizeGroundedAnswer(
      { answer: 'Not in the sources.', citations: [{ source: 1, quote: REFUND }], answerable: false, confidence: 0.7 },
      sources,
    );
    expect(output).toEqual({ answer: '', citations: [], answerable: false, confidence: 0.7 });
    expect(metrics).toMatchObject({ abstained: true, ungrounded: false, citations_proposed: 1, citations_verified: 0, citations_dropped: 1 });
  });

  it('treats an empty answer as an abstention', () => {
    expect(finalizeGroundedAnswer({ answer: '  ', citations: [], answerable: true, confidence: 0.5 }, sources).metrics.abstained).toBe(true);
  });

  it('does not count duplicate citations against confidence', () => {
    const { output, metrics } = finalizeGroundedAnswer(
      {
        answer: '14 days.',
        citations: [
          { source: 1, quote: REFUND },
          { source: '1', quote: REFUND },
        ],
        answerable: true,
        confidence: 0.9,
      },
      sources,
    );
    expect(output.citations).toHaveLength(1);
    expect(output.confidence).toBe(0.9);
    expect(metrics.citations_dropped).toBe(1);
  });
});
