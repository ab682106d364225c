import { describe, expect, it } from 'vitest';
import { normalizeSquadAnswer, parseSquad, quotesContainAnswer, scoreSquad, squadQuestions } from './squad-eval.js';

const json = {
  version: 'v2.0',
  data: [
    {
      title: 'Normans',
      paragraphs: [
        {
          context: 'The Normans gave their name to Normandy, a region in France.',
          qas: [
            { id: 'q1', question: 'In what country is Normandy located?', is_impossible: false, answers: [{ text: 'France', answer_start: 53 }] },
            { id: 'q2', question: 'Who named the Normans?', is_impossible: true, answers: [], plausible_answers: [{ text: 'Normandy' }] },
            { id: 'q3', question: 'What did the Normans name?', is_impossible: false, answers: [{ text: 'Normandy' }] },
            { id: 'q4', question: 'When did France end?', is_impossible: true, answers: [] },
          ],
        },
      ],
    },
  ],
};

describe('SQuAD scoring', () => {
  const dataset = squadQuestions(parseSquad(json));

  it('loads SQuAD v2 JSON into questions with gold answers', () => {
    expect(dataset.map((q) => [q.id, q.isImpossible, q.answers])).toEqual([
      ['q1', false, ['France']],
      ['q2', true, []],
      ['q3', false, ['Normandy']],
      ['q4', true, []],
    ]);
    expect(() => parseSquad({})).toThrow(/data/);
  });

  it('counts a hit only when the system answered with a quote containing a gold answer', () => {
    const score = scoreSquad(
      {
        q1: { abstained: false, quotes: ['Normandy, a region in France.'] },
        q2: { abstained: true, quotes: [] },
        q3: { abstained: true, quotes: ['The Normans gave their name to Normandy'] }, // abstained: no hit
        // q4 missing: counts as not abstained
      },
      dataset,
    );
    expect(score).toEqual({ answerable_hit_rate: 0.5, unanswerable_abstain_rate: 0.5, answerable: 2, unanswerable: 2 });
  });

  it('normalises like the official script and matches whole tokens', () => {
    expect(normalizeSquadAnswer('The  "Edict of Nantes"!')).toBe('edict of nantes');
    expect(quotesContainAnswer(['It ended with the Edict of Nantes.'], ['the Edict of Nantes'])).toBe(true);
    expect(quotesContainAnswer(['In 19890 it rained.'], ['1989'])).toBe(false);
  });
});
