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
  'a', 'an', 'and', 'are', 'as', 'at', 'be', 'but', 'by', 'for', 'if', 'in', 'into', 'is', 'it', 'no', 'not',
  'of', 'on', 'or', 'such', 'that', 'the', 'their', 'then', 'there', 'these', 'they', 'this', 'to', 'was',
  'will', 'with',
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
  for (const match of text.toLowerCase().matchAll(TOKEN)) {
    let token = match[0];
    if (token.length > MAX_TOKEN_LENGTH) continue;
    if (token.endsWith("'s") || token.endsWith('’s')) token = token.slice(0, -2);
    // Inner apostrophes and separators other than a decimal point between digits split the token.
    for (const part of splitInner(token)) {
      if (part.length === 0 || STOPWORDS.has(part)) continue;
      terms.push(stem(part));
    }
  }
  return terms;
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
  const list = analyze(text);
  const terms = new Map<string, number>();
  for (const term of list) terms.set(term, (terms.get(term) ?? 0) + 1);
  return { terms, length: list.length };
}
