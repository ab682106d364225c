import { describe, expect, it } from 'vitest';
import { countTextTokens, numberSources, renderSources } from './sources.js';
import { hit } from './test-fixtures.js';

const sentence = 'Groundwork serves typed AI tasks as HTTP endpoints with validation and retries. ';
const hits = [
  hit({ chunkId: 'a', text: sentence.repeat(10), title: 'Guide', headingPath: ['Setup', 'Install'], page: 3, score: 0.9 }),
  hit({ chunkId: 'b', text: sentence.repeat(10), score: 0.8 }),
  hit({ chunkId: 'c', text: 'Short note about quotas.', score: 0.7 }),
];

describe('numberSources', () => {
  it('numbers hits 1..n in rank order and keeps what citations resolve against', () => {
    const sources = numberSources(hits);
    expect(sources.map((s) => [s.n, s.chunkId, s.document, s.score])).toEqual([
      [1, 'a', 'handbook.md', 0.9],
      [2, 'b', 'handbook.md', 0.8],
      [3, 'c', 'handbook.md', 0.7],
    ]);
    expect(sources[0].page).toBe(3);
  });

  it('keeps the longest prefix of the ranking that fits the token budget', () => {
    const all = numberSources(hits);
    const budget = countTextTokens(renderSources(all.slice(0, 2))) + 5;
    const trimmed = numberSources(hits, { maxTokens: budget });
    // The third hit is small and would fit on its own, but it never displaces rank order.
    expect(trimmed.map((s) => s.chunkId)).toEqual(['a', 'b']);
    expect(countTextTokens(renderSources(trimmed))).toBeLessThanOrEqual(budget);
  });

  it('cuts the top hit at a word boundary when not even it fits', () => {
    const [only, ...rest] = numberSources(hits, { maxTokens: 40 });
    expect(rest).toEqual([]);
    expect(only.truncated).toBe(true);
    expect(hits[0].text.startsWith(only.text)).toBe(true);
    expect(only.text.length).toBeGreaterThan(20);
    expect(countTextTokens(renderSources([only]))).toBeLessThanOrEqual(40);
  });

  it('returns nothing for no hits', () => {
    expect(numberSources([], { maxTokens: 100 })).toEqual([]);
  });
});

describe('renderSources', () => {
  it('renders a numbered header with title, heading path and page, then the verbatim text', () => {
    const sources = numberSources([
      hit({ text: 'Line one.\n\nLine two.', title: 'Guide', headingPath: ['Setup', 'Install\nsteps'], page: 3 }),
      hit({ text: 'Other.', title: '', headingPath: [] }),
    ]);
    expect(renderSources(sources)).toBe('<sources>\n[1] Guide › Setup › Install steps (p. 3)\nLine one.\n\nLine two.\n\n[2] untitled\nOther.\n</sources>');
  });
});

describe('countTextTokens', () => {
  it('counts long unbroken runs in linear time, close to the exact count', () => {
    const blob = 'QUJD'.repeat(50_000);
    const started = performance.now();
    const count = countTextTokens(`prefix ${blob} suffix`);
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(count).toBeGreaterThan(blob.length / 8);
    expect(countTextTokens('hello world')).toBe(2);
  });
});
