import { analyze, createBm25, words } from './analyzer.js';
import type { ParsedSource } from './grounded-prompt.js';

/**
 * Sentence selection for the extractive engine: split the sources into sentences and score
 * each against the question.
 *
 * support(sentence) = the IDF-weighted share of the question's content terms that the
 * sentence contains, with terms found only in its context (the previous sentence of the same
 * source, or the source's header) counting `contextWeight` — answer sentences often name their
 * subject one sentence earlier ("He …"). IDF is computed over the retrieved sentences, so a
 * question term absent from every source weighs the most: that is the shape of a question
 * the sources cannot answer.
 *
 * rank(sentence) = support, + `answerTypeBonus` when the question asks who / when / how many /
 * where and the sentence holds new information of that type (a name, a date, a number) that
 * the question does not already contain, + a small BM25 tie-breaker.
 *
 * Each sentence also reports the question's anchors (proper names, numbers) it lacks even in
 * its context or its source's first sentence, and whether it has an answer of the asked type; the engine turns those into
 * abstentions.
 */

/** Knobs of the scorer (defaults tuned on SQuAD 2.0 dev; see squad-quick.ts). */
export interface ScorerWeights {
  contextWeight: number;
  answerTypeBonus: number;
  bm25TieBreak: number;
}

export const DEFAULT_WEIGHTS: ScorerWeights = {
  contextWeight: 0.5,
  answerTypeBonus: 0.1,
  bm25TieBreak: 0.05,
};

/** Sentences a citation check would reject as too short are never candidates. */
const MIN_WORDS = 3;
const MIN_CHARS = 12;

export type AnswerType = 'person' | 'time' | 'number' | 'place' | 'other';

export interface ScoredSentence {
  /** Source number. */
  n: number;
  /** The sentence, verbatim from the source text (trimmed). */
  text: string;
  support: number;
  score: number;
  /** Position of the sentence in its source (0-based). */
  index: number;
  /** Question anchors (names, numbers) found neither in the sentence, its context, nor its source's first sentence. */
  missingAnchors: number;
  /** The sentence holds new information of the asked type (always false for 'other'). */
  hasAnswerType: boolean;
}

export interface SentenceRanking {
  answerType: AnswerType;
  /** Candidates, best first. */
  ranked: ScoredSentence[];
}

const segmenter = new Intl.Segmenter('en', { granularity: 'sentence' });

interface Sentence {
  n: number;
  index: number;
  text: string;
  terms: string[];
  context: Set<string>;
  anchorContext: Set<string>;
}

export function rankSentences(question: string, sources: readonly ParsedSource[], weights: ScorerWeights = DEFAULT_WEIGHTS): SentenceRanking {
  const questionWords = words(question);
  const answerType = detectAnswerType(questionWords);
  // "how long/many/much…" asks for a quantity; "long" is not a word the answer must contain.
  const queryTerms = [...new Set(analyze(question.replace(HOW_FORM, 'how')))];
  const sentences = splitSentences(sources);
  if (queryTerms.length === 0 || sentences.length === 0) return { answerType, ranked: [] };

  const bm25 = createBm25(sentences.map((s) => s.terms));
  const idf = queryTerms.map((t) => bm25.idf(t));
  const totalWeight = idf.reduce((a, b) => a + b, 0);
  const questionWordSet = new Set(questionWords);
  const queryTermSet = new Set(queryTerms);
  const anchors = questionAnchors(question);

  const ranked: ScoredSentence[] = [];
  sentences.forEach((sentence, i) => {
    if (!sentence.terms.some((t) => !queryTermSet.has(t))) return; // nothing beyond the question: no answer in it
    const own = bm25.termFrequencies(i);
    let covered = 0;
    queryTerms.forEach((term, k) => {
      if (own.has(term)) covered += idf[k];
      else if (sentence.context.has(term)) covered += weights.contextWeight * idf[k];
    });
    const support = covered / totalWeight;
    const missingAnchors = anchors.filter((a) => !own.has(a) && !sentence.anchorContext.has(a)).length;
    const bm = bm25.score(queryTerms, i);
    const typed = hasAnswerOfType(sentence.text, answerType, questionWordSet);
    const score = support + (typed ? weights.answerTypeBonus : 0) + weights.bm25TieBreak * (bm / (1 + bm));
    ranked.push({ n: sentence.n, text: sentence.text, support, score, index: sentence.index, missingAnchors, hasAnswerType: typed });
  });
  // Ties keep source order (rank order from retrieval), so the result is deterministic.
  ranked.sort((a, b) => b.score - a.score || a.n - b.n || a.index - b.index);
  return { answerType, ranked };
}

function splitSentences(sources: readonly ParsedSource[]): Sentence[] {
  const sentences: Sentence[] = [];
  for (const source of sources) {
    const header = analyze(source.header);
    let lead: string[] = [];
    let previous: string[] = [];
    let index = 0;
    for (const { segment } of segmenter.segment(source.text)) {
      const text = segment.trim();
      const terms = analyze(text);
      if (text.length >= MIN_CHARS && words(text).length >= MIN_WORDS) {
        const context = new Set([...header, ...previous]);
        // A passage usually names its topic in its first sentence ("The Eiffel Tower is …");
        // later sentences say "the tower", so names are looked up there too.
        const anchorContext = new Set([...context, ...lead]);
        sentences.push({ n: source.n, index: index++, text, terms, context, anchorContext });
      }
      if (terms.length > 0) {
        if (lead.length === 0) lead = terms;
        previous = terms;
      }
    }
  }
  return sentences;
}

/** Terms of the question's proper names and numbers (capitalised after the first word, or with a digit). */
export function questionAnchors(question: string): string[] {
  const anchors = new Set<string>();
  let first = true;
  for (const match of question.matchAll(TOKEN)) {
    const raw = match[0];
    const atStart = first;
    first = false;
    if (!(/\d/.test(raw) || (!atStart && isCapitalized(raw)))) continue;
    for (const term of analyze(raw)) anchors.add(term);
  }
  return [...anchors];
}

export function detectAnswerType(questionWords: readonly string[]): AnswerType {
  for (let i = 0; i < questionWords.length; i++) {
    const word = questionWords[i];
    const next = questionWords[i + 1] ?? '';
    if (word === 'who' || word === 'whom' || word === 'whose') return 'person';
    if (word === 'when') return 'time';
    if (word === 'where') return 'place';
    if (word === 'how' && HOW_NUMBER.has(next)) return 'number';
    if ((word === 'what' || word === 'which') && TIME_NOUNS.has(next)) return 'time';
    if ((word === 'what' || word === 'which') && NUMBER_NOUNS.has(next)) return 'number';
  }
  return 'other';
}

const HOW_NUMBER = new Set(['many', 'much', 'long', 'old', 'far', 'large', 'big', 'often', 'high', 'tall']);
// Only the quantity words an answer rarely repeats ("5 to 10 days", not "long"); "how tall" keeps "tall".
const HOW_FORM = /\bhow\s+(?:many|much|long|often)\b/gi;
const TIME_NOUNS = new Set(['year', 'years', 'century', 'centuries', 'decade', 'date', 'month', 'day', 'time', 'era', 'period']);
const NUMBER_NOUNS = new Set(['percentage', 'percent', 'number', 'amount', 'proportion', 'fraction']);
const NUMBER_WORDS = new Set(
  'one two three four five six seven eight nine ten eleven twelve twenty thirty forty fifty hundred thousand million billion trillion dozen half'.split(' '),
);
const TIME_WORDS = new Set(
  'january february march april may june july august september october november december century centuries decade bc ad bce ce'.split(' '),
);
const TOKEN = /[\p{L}\p{N}]+/gu;

/** True when the sentence holds a token of the asked type that the question does not contain. */
function hasAnswerOfType(sentence: string, type: AnswerType, questionWords: ReadonlySet<string>): boolean {
  if (type === 'other') return false;
  let first = true;
  for (const match of sentence.matchAll(TOKEN)) {
    const raw = match[0];
    const lower = words(raw)[0] ?? raw.toLowerCase();
    const atStart = first;
    first = false;
    if (questionWords.has(lower)) continue;
    const hasDigit = /\d/.test(raw);
    if (type === 'number' && (hasDigit || NUMBER_WORDS.has(lower))) return true;
    if (type === 'time' && ((hasDigit && /^\d{3,4}s?$|^\d+(st|nd|rd|th)$/.test(lower)) || TIME_WORDS.has(lower))) return true;
    if ((type === 'person' || type === 'place') && !atStart && isCapitalized(raw)) return true;
  }
  return false;
}

function isCapitalized(word: string): boolean {
  const first = word[0];
  return first !== first.toLowerCase() && first === first.toUpperCase();
}
