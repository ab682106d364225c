/**
 * A tiny English analyzer and BM25 scorer for the extractive engine and the SQuAD quick eval.
 * It only ever ranks a handful of retrieved chunks, so it favours being small and predictable
 * over recall tricks: accent folding + NFKC + lowercase, letter/digit runs, a short stopword list, and a light
 * suffix stripper that maps the common inflections of a word to one key ("created",
 * "creates", "create" → "creat") without a dictionary.
 */

// Question words are stopwords for matching; the engine reads them separately as answer-type cues.
const STOPWORDS = new Set(
  (
    'a an and are as at be been being but by can could did do does doing done for from had has have having he her ' +
    'hers him his how i if in into is it its itself me my no nor not of off on once only or other our ours out ' +
    'over own s same she should so some such t than that the their theirs them then there these they this those ' +
    'through to too under until up very was we were what when where which while who whom whose why will with ' +
    'would you your yours also about after again against all any because before below between both during each ' +
    'few further here just more most many much may might must now upon us within without yet one ones'
  ).split(' '),
);

// Letter/digit runs; single character class with one quantifier, so it cannot backtrack badly.
const WORD = /[\p{L}\p{N}]+/gu;

const MARKS = /\p{M}+/gu;

/** Lowercased word tokens of `text`, accents folded ("Besançon" = "besancon"); no stemming. */
export function words(text: string): string[] {
  return text.normalize('NFKD').replace(MARKS, '').normalize('NFKC').toLowerCase().match(WORD) ?? [];
}

/** Content terms of `text`: stopwords removed, light-stemmed; order and repeats kept. */
export function analyze(text: string): string[] {
  const terms: string[] = [];
  for (const word of words(text)) {
    if (STOPWORDS.has(word)) continue;
    terms.push(stem(word));
  }
  return terms;
}

export function isStopword(word: string): boolean {
  return STOPWORDS.has(word);
}

/** Light suffix stripping: plurals, -ing, -ed, trailing -e, and doubled final consonants. */
export function stem(word: string): string {
  if (word.length <= 3 || /\d/.test(word)) return word;
  let w = word;
  if (w.endsWith('ies') && w.length > 4) w = `${w.slice(0, -3)}y`;
  else if (w.endsWith('sses')) w = w.slice(0, -2);
  else if (w.endsWith('s') && !w.endsWith('ss') && !w.endsWith('us') && !w.endsWith('is')) w = w.slice(0, -1);

  if (w.endsWith('ing') && w.length >= 6) w = undouble(w.slice(0, -3));
  else if (w.endsWith('ed') && w.length >= 5) w = undouble(w.slice(0, -2));

  if (w.endsWith('e') && w.length >= 5) w = w.slice(0, -1);
  if (w.endsWith('y') && w.length >= 5) w = `${w.slice(0, -1)}i`;
  return w;
}

function undouble(w: string): string {
  const last = w[w.length - 1];
  if (w.length >= 4 && last === w[w.length - 2] && !'lsz'.includes(last)) return w.slice(0, -1);
  return w;
}

/** BM25 statistics over a small in-memory set of documents (each an analyzed term list). */
export interface Bm25Index {
  readonly size: number;
  /** Inverse document frequency; terms absent from every document get the maximum. */
  idf(term: string): number;
  /** BM25 score of document `doc` for the (deduplicated) query terms. */
  score(queryTerms: readonly string[], doc: number): number;
  /** Term frequencies of document `doc`. */
  termFrequencies(doc: number): ReadonlyMap<string, number>;
}

const K1 = 1.2;
const B = 0.75;

export function createBm25(docs: readonly (readonly string[])[]): Bm25Index {
  const df = new Map<string, number>();
  const tfs = docs.map((terms) => {
    const tf = new Map<string, number>();
    for (const term of terms) tf.set(term, (tf.get(term) ?? 0) + 1);
    for (const term of tf.keys()) df.set(term, (df.get(term) ?? 0) + 1);
    return tf;
  });
  const total = docs.reduce((sum, terms) => sum + terms.length, 0);
  const avgLength = docs.length === 0 ? 1 : Math.max(1, total / docs.length);
  const n = docs.length;
  const idf = (term: string) => {
    const f = df.get(term) ?? 0;
    return Math.log(1 + (n - f + 0.5) / (f + 0.5));
  };

  return {
    size: n,
    idf,
    termFrequencies: (doc) => tfs[doc],
    score(queryTerms, doc) {
      const tf = tfs[doc];
      const norm = K1 * (1 - B + (B * docs[doc].length) / avgLength);
      let sum = 0;
      for (const term of queryTerms) {
        const f = tf.get(term);
        if (f) sum += (idf(term) * f * (K1 + 1)) / (f + norm);
      }
      return sum;
    },
  };
}
