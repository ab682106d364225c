import { describe, expect, it } from 'vitest';
import { normalizeForMatch, verifyCitations } from './citations.js';
import { sourcesFrom } from './test-fixtures.js';

const sources = sourcesFrom(
  'The warranty covers manufacturing defects for 24 months from the date of purchase. Accidental damage is not covered.',
  'It is unsafe to drink the water from the cooling loop. Refill it with distilled water only.',
  '“Smart mode” lowers power use — typically by 30%… according to the lab’s tests.',
);

describe('verifyCitations', () => {
  it('accepts a verbatim quote and returns the exact span of the chunk it matched', () => {
    const { verified, dropped } = verifyCitations([{ source: 1, quote: 'covers manufacturing defects for 24 months' }], sources);
    expect(dropped).toEqual([]);
    expect(verified).toEqual([{ chunk_id: 'c1', document: 'doc1.md', quote: 'covers manufacturing defects for 24 months' }]);
  });

  it('forgives case, whitespace, quote style, dashes, ellipsis and end punctuation, quoting the original', () => {
    const { verified, dropped } = verifyCitations(
      [
        { source: 1, quote: '  THE WARRANTY   covers\nmanufacturing defects.' },
        { source: 3, quote: '"Smart mode" lowers power use - typically by 30%... according to the lab\'s tests' },
      ],
      sources,
    );
    expect(dropped).toEqual([]);
    expect(verified.map((c) => c.quote)).toEqual([
      'The warranty covers manufacturing defects',
      '“Smart mode” lowers power use — typically by 30%… according to the lab’s tests',
    ]);
  });

  it('ignores punctuation at the ends of a quote, keeping it in the span only where the chunk has it', () => {
    const quoted = (quote: string) => verifyCitations([{ source: 1, quote }], sources).verified.map((c) => c.quote);
    expect(quoted('(Accidental damage is not covered!)')).toEqual(['Accidental damage is not covered']);
    expect(quoted('Accidental damage is not covered.')).toEqual(['Accidental damage is not covered.']);
  });

  it('rejects a paraphrase', () => {
    const { verified, dropped } = verifyCitations([{ source: 1, quote: 'the warranty lasts two years for defects' }], sources);
    expect(verified).toEqual([]);
    expect(dropped).toEqual([{ citation: { source: 1, quote: 'the warranty lasts two years for defects' }, reason: 'not_found' }]);
  });

  it('drops unknown source numbers and quotes cited to the wrong source', () => {
    const quote = 'Accidental damage is not covered';
    const { verified, dropped } = verifyCitations(
      [
        { source: 7, quote },
        { source: 2, quote },
        { source: 0, quote },
      ],
      sources,
    );
    expect(verified).toEqual([]);
    expect(dropped.map((d) => d.reason)).toEqual(['unknown_source', 'not_found', 'unknown_source']);
  });

  it('drops empty and too-short quotes as not evidence', () => {
    const { verified, dropped } = verifyCitations(
      [
        { source: 1, quote: '   ' },
        { source: 1, quote: '24 months' }, // 2 words
        { source: 1, quote: 'is not it' }, // 3 words but < 12 chars
        { source: 1, quote: '...' },
      ],
      sources,
    );
    expect(verified).toEqual([]);
    expect(dropped.map((d) => d.reason)).toEqual(['empty_quote', 'too_short', 'too_short', 'empty_quote']);
  });

  it('matches whole words only, so a negation cannot be cut off', () => {
    const { verified, dropped } = verifyCitations([{ source: 2, quote: 'safe to drink the water' }], sources);
    expect(verified).toEqual([]);
    expect(dropped[0].reason).toBe('not_found');
    expect(verifyCitations([{ source: 2, quote: 'unsafe to drink the water' }], sources).verified).toHaveLength(1);
  });

  it('resolves "[n]", "n" and chunk ids, and drops duplicates', () => {
    const quote = 'Refill it with distilled water only.';
    const { verified, dropped } = verifyCitations(
      [
        { source: '[2]', quote },
        { source: 'c2', quote: 'refill it with distilled water only' },
        { source: '3', quote: 'lowers power use' },
      ],
      sources,
    );
    expect(verified).toHaveLength(2);
    expect(dropped.map((d) => d.reason)).toEqual(['duplicate']);
  });

  it('drops malformed citations instead of throwing', () => {
    const { dropped } = verifyCitations([null, 'x', { source: 1 }], sources);
    expect(dropped.map((d) => d.reason)).toEqual(['unknown_source', 'unknown_source', 'empty_quote']);
  });

  it('stays fast on huge, repetitive inputs', () => {
    const [big] = sourcesFrom('aaaa '.repeat(100_000));
    const started = performance.now();
    const { verified } = verifyCitations(
      [
        { source: 1, quote: `${'aaaa '.repeat(2_000)}aaaaa` },
        { source: 1, quote: `aaa ${'aaaa '.repeat(2_000)}` },
      ],
      [big],
    );
    expect(verified).toEqual([]);
    expect(performance.now() - started).toBeLessThan(2_000);
  });
});

describe('normalizeForMatch', () => {
  it('folds compatibility forms, case, quotes, dashes and whitespace', () => {
    expect(normalizeForMatch('  Ｆｕｌｌ-width\u00a0ﬁle “Quoted” – STRASSE Straße…  ')).toBe("full-width file 'quoted' - strasse strasse...");
  });

  it('composes combining marks like a precomposed letter and drops invisible characters', () => {
    expect(normalizeForMatch('Cafe\u0301 soft\u00adhyphen zero\u200bwidth')).toBe(normalizeForMatch('café softhyphen zerowidth'));
  });
});
