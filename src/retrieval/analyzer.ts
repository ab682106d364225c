import { stemmer } from 'stemmer';

/**
 * The one text analyzer for lexical search: documents and queries go through the same code,
 * so a query term matches exactly the terms indexed from documents. Modelled on Lucene's
 * EnglishAnalyzer (what Anserini's BM25 baselines use): Unicode word tokens, lowercase,
 * possessive "'s" dropped, Lucene's English stopwords removed, Porter stemming.
 */

/** Changes whenever analysis output changes (indexes built with another version are rebuilt). */
export const ANALYZER_ID = 'en-porter-v1';

/** Lucene's EnglishAnalyzer default stopword set. */
export const STOPWORDS: ReadonlySet<string> = new Set([
  'a',
  'an',
  'and',
  'are',
  'as',
  'at',
  'be',
  'but',
  'by',
  'for',
  'if',
  'in',
  'into',
  'is',
  'it',
  'no',
  'not',
  'of',
  'on',
  'or',
  'such',
  'that',
  'the',
  'their',
  'then',
  'there',
  'these',
  'they',
  'this',
  'to',
  'was',
  'will',
  'with',
]);

// Letters and digits, keeping decimal numbers ("1.5", "2,000") and possessives together so
// the possessive can be dropped rather than leaving a stray "s" term.
const TOKEN = /[\p{L}\p{N}]+(?:[.,'’][\p{L}\p{N}]+)*/gu;
const MAX_TOKEN_LENGTH = 64;

// Stemming is the costliest step and vocabularies are small: memoize, with a bound so an
// adversarial stream of unique tokens cannot grow memory without limit.
const stems = new Map<string, string>();
const MAX_MEMO = 200_000;

function stem(token: string): string {
  let stemmed = stems.get(token);
  if (stemmed === undefined) {
    stemmed = /\p{L}/u.test(token) ? stemmer(token) : token;
    if (stems.size >= MAX_MEMO) stems.clear();
    stems.set(token, stemmed);
  }
  return stemmed;
}

/** The indexed terms of a text, in order (stopwords removed, so positions are not kept). */
export function analyze(text: string): string[] {
  const terms: string[] = [];
  forEachTerm(text, (term) => terms.push(term));
  return terms;
}

/** Calls `emit` with each indexed term of the text, in order. */
export function forEachTerm(text: string, emit: (term: string) => void): void {
  const lower = text.toLowerCase();
  const token = (raw: string, separated: boolean) => {
    if (raw.length > MAX_TOKEN_LENGTH) return;
    let word = raw;
    if (separated && (word.endsWith("'s") || word.endsWith('’s'))) word = word.slice(0, -2);
    // Inner apostrophes and separators other than a decimal point between digits split the token.
    for (const part of separated ? splitInner(word) : [word]) {
      if (part.length === 0 || STOPWORDS.has(part)) continue;
      emit(stem(part));
    }
  };
  if (NON_ASCII.test(lower)) {
    for (const match of lower.matchAll(TOKEN)) token(match[0], /[.,'’]/.test(match[0]));
    return;
  }
  scanAscii(lower, token);
}

const NON_ASCII = /[^\u0000-\u007f]/;

/**
 * The TOKEN pattern hand-run over ASCII text: several times faster than matchAll, which
 * allocates a match per token, and indexing is mostly ASCII. analyzer.test.ts checks both
 * paths agree.
 */
function scanAscii(text: string, token: (raw: string, separated: boolean) => void): void {
  const n = text.length;
  let i = 0;
  while (i < n) {
    if (!isWordChar(text.charCodeAt(i))) {
      i++;
      continue;
    }
    const start = i;
    let separated = false;
    for (;;) {
      while (i < n && isWordChar(text.charCodeAt(i))) i++;
      if (i + 1 < n && isSeparator(text.charCodeAt(i)) && isWordChar(text.charCodeAt(i + 1))) {
        separated = true;
        i++;
        continue;
      }
      break;
    }
    token(text.slice(start, i), separated);
  }
}

function isWordChar(code: number): boolean {
  return (code >= 97 && code <= 122) || (code >= 48 && code <= 57) || (code >= 65 && code <= 90);
}

function isSeparator(code: number): boolean {
  return code === 46 || code === 44 || code === 39;
}

function splitInner(token: string): string[] {
  if (!/[.,'’]/.test(token)) return [token];
  // "1.5" and "2,000" stay one term; "e.g" or "rock'n" split into their words.
  if (/^\p{N}+(?:[.,]\p{N}+)+$/u.test(token)) return [token.replace(/,/g, '')];
  return token.split(/[.,'’]/);
}

/** Term → frequency, plus the document length BM25 normalises by (number of terms). */
export interface TermCounts {
  terms: Map<string, number>;
  length: number;
}

export function countTerms(text: string): TermCounts {
  const terms = new Map<string, number>();
  let length = 0;
  forEachTerm(text, (term) => {
    terms.set(term, (terms.get(term) ?? 0) + 1);
    length++;
  });
  return { terms, length };
}
