import { describe, expect, it } from 'vitest';
import { analyze, createBm25, stem } from './analyzer.js';

describe('analyzer', () => {
  it('maps inflections of a word to one term', () => {
    for (const group of [
      ['create', 'created', 'creates', 'creating'],
      ['century', 'centuries'],
      ['run', 'runs', 'running'],
      ['study', 'studies', 'studied'],
    ]) {
      expect(new Set(group.map(stem)).size).toBe(1);
    }
  });

  it('drops stopwords and folds case and accents', () => {
    expect(analyze('Who was Besançon Hugues, the Swiss politician?')).toEqual(['besancon', 'hugu', 'swiss', 'politician']);
  });

  it('ranks the document that matches rare terms first', () => {
    const docs = ['the pump failed in winter', 'the pump was inspected', 'rainfall was recorded in winter'].map(analyze);
    const bm25 = createBm25(docs);
    const query = analyze('pump failure in winter');
    const scores = docs.map((_, i) => bm25.score(query, i));
    expect(scores[0]).toBeGreaterThan(scores[1]);
    expect(scores[0]).toBeGreaterThan(scores[2]);
    expect(bm25.idf('absent')).toBeGreaterThan(bm25.idf('pump'));
  });
});
