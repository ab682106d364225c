import { describe, expect, it } from 'vitest';
import { analyze, countTerms } from './analyzer.js';

describe('analyzer', () => {
  it('lowercases, drops stopwords and stems the same way for documents and queries', () => {
    expect(analyze('The Running of the Bulls in Pamplona')).toEqual(['run', 'bull', 'pamplona']);
    expect(analyze('runs')).toEqual(analyze('running'));
    expect(analyze('Mitochondrial calcium uniporter')).toEqual(['mitochondri', 'calcium', 'uniport']);
  });

  it("keeps decimals and thousands together, splits hyphens, drops the possessive 's", () => {
    expect(analyze('IL-6 rose 1.5-fold in 2,000 patients')).toEqual(['il', '6', 'rose', '1.5', 'fold', '2000', 'patient']);
    expect(analyze("the patient's cells, e.g. T-cells")).toEqual(['patient', 'cell', 'e', 'g', 't', 'cell']);
    expect(analyze('rock’n’roll and the doctor’s notes')).toEqual(['rock', 'n', 'roll', 'doctor', 'note']);
  });

  it('handles letters beyond ASCII', () => {
    expect(analyze('Ärzte prüfen Café-Öffnungszeiten; 東京 2024')).toEqual(['ärzte', 'prüfen', 'café', 'öffnungszeiten', '東京', '2024']);
  });

  it('counts term frequencies and the analysed length', () => {
    const counts = countTerms('cells and more cells: the cell');
    expect(counts.length).toBe(4);
    expect(Object.fromEntries(counts.terms)).toEqual({ cell: 3, more: 1 });
  });

  it('tokenises ASCII text exactly as the Unicode pattern does', () => {
    // The ASCII fast path must agree with the regular expression used for other text; a
    // trailing non-ASCII word forces the regular-expression path for the same input.
    let state = 7;
    const random = () => (state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const alphabet = "abcXYZ019 .,'-;s";
    for (let n = 0; n < 2_000; n++) {
      let text = '';
      const length = Math.floor(random() * 40);
      for (let i = 0; i < length; i++) text += alphabet[Math.floor(random() * alphabet.length)];
      const viaRegex = analyze(`${text} é`);
      expect(viaRegex.pop()).toBe('é');
      expect(analyze(text), JSON.stringify(text)).toEqual(viaRegex);
    }
  });
});
