/**
 * Feature extraction for the built-in hashing embedder: words, their stems, character n-grams,
 * a weightless rarity estimate, and 32-bit feature hashes. Everything here is a pure function of
 * the text (caches only memoise), so a vector computed today equals one computed next year.
 */
import { stemmer } from 'stemmer';
import { tokenizer } from '../kernel/tokenizer.js';

/** Knobs of one version of the algorithm; a change to any of them is a new embedder identity. */
export interface HashParams {
  dimensions: number;
  /** Weight of the stemmed word (unigram) feature, before rarity. */
  unigram: number;
  /** Weight of the consecutive stemmed-word pair feature (0 turns bigrams off). */
  bigram: number;
  /** Total weight of a word's character n-grams (split over them as 1/sqrt(count)). */
  chargram: number;
  minGram: number;
  maxGram: number;
  /** Rarity = max(minRarity, ln(1 + largest BPE id) - rarityOffset + perExtraToken * (tokens - 1)). */
  rarityOffset: number;
  rarityPerExtraToken: number;
  minRarity: number;
  /** Mixed into every hash; other seeds give equally good, different vectors (the eval's noise check). */
  seed: number;
}

/** One word's precomputed features (cached: word frequencies are Zipfian, so hits dominate). */
export interface WordFeatures {
  /** Hash of the stem: the unigram feature and half of a bigram key. */
  stem: number;
  rarity: number;
  grams: Uint32Array;
  /** Weight of each n-gram occurrence (chargram * rarity / sqrt(grams.length)). */
  gramWeight: number;
}

// A fixed English list: function words carry no topic; negations go too, since retrieval
// ranks topics and "does not increase" should find the same passages as "increases".
const STOPWORDS = new Set(
  (
    'a about above after again against all also am an and any are as at be because been before being below between both but by ' +
    'can could did do does doing down during each either etc few for from further had has have having he her here hers herself ' +
    'him himself his how however i if in into is it its itself just may me might more most must my myself neither no nor not of ' +
    'off on once only or other others our ours ourselves out over own same shall she should so some such than that the their ' +
    'theirs them themselves then there thereby therefore these they this those through thus to too under until up upon us very ' +
    'via was we were what when where whether which while who whom whose why will with within without would yet you your yours ' +
    'yourself yourselves'
  ).split(' '),
);

const WORD = /[\p{L}\p{N}]+/gu;
const NON_ASCII = /[^\u0000-\u007f]/;
/** Longer tokens (hashes, URLs, base64) get no n-grams beyond this many characters. */
const MAX_GRAM_CHARS = 40;
const MAX_CACHED_WORDS = 100_000;

// Per-family seeds keep "cell" the unigram apart from "cel" the n-gram and from bigrams.
const SEED_UNIGRAM = 0x811c9dc5;
const SEED_CHARGRAM = 0x01000193;
const SEED_BIGRAM = 0x5bd1e995;

/** Lower-cased content words of the text, in order, without stopwords. */
export function contentWords(text: string): string[] {
  let lower = text.toLowerCase();
  // NFKC makes composed and decomposed accents (and full-width forms) the same word.
  if (NON_ASCII.test(lower)) lower = lower.normalize('NFKC');
  const words = lower.match(WORD);
  if (words === null) return [];
  return words.filter((word) => !STOPWORDS.has(word));
}

/** Memoised features per word, for one parameter set. */
export class WordFeatureCache {
  private readonly cache = new Map<string, WordFeatures>();
  constructor(private readonly params: HashParams) {}

  get(word: string): WordFeatures {
    let features = this.cache.get(word);
    if (features === undefined) {
      // Clearing (not LRU) is enough: the values are recomputable and identical.
      if (this.cache.size >= MAX_CACHED_WORDS) this.cache.clear();
      features = wordFeatures(word, this.params);
      this.cache.set(word, features);
    }
    return features;
  }
}

function wordFeatures(word: string, params: HashParams): WordFeatures {
  const rarity = rarityOf(word, params);
  const salt = Math.imul(params.seed, 0x9e3779b1);
  const grams = charGrams(word, params.minGram, params.maxGram, SEED_CHARGRAM ^ salt);
  return {
    stem: hashString(stemmer(word), SEED_UNIGRAM ^ salt),
    rarity,
    grams,
    gramWeight: grams.length === 0 ? 0 : (params.chargram * rarity) / Math.sqrt(grams.length),
  };
}

/**
 * A corpus-free stand-in for IDF. BPE vocabularies are built by merging the most frequent pairs
 * first, so a token's id grows roughly with its rarity in web text (" the" is 290, " protein"
 * 16737 in o200k_base), and a word that needs several tokens is rarer still. o200k_base is a
 * fixed, published table shipped in gpt-tokenizer, so this adds no downloaded weights.
 */
function rarityOf(word: string, params: HashParams): number {
  const ids = tokenizer().encode(` ${word}`);
  let largest = 0;
  for (const id of ids) if (id > largest) largest = id;
  const rarity = Math.log1p(largest) - params.rarityOffset + params.rarityPerExtraToken * (ids.length - 1);
  return Math.max(params.minRarity, rarity);
}

/** Hashes of the n-grams of "<word>" (the brackets mark the word's start and end). */
function charGrams(word: string, minGram: number, maxGram: number, seed: number): Uint32Array {
  const length = Math.min(word.length, MAX_GRAM_CHARS) + 2;
  const codes = new Uint16Array(length);
  codes[0] = 0x3c; // '<'
  for (let i = 1; i < length - 1; i++) codes[i] = word.charCodeAt(i - 1);
  codes[length - 1] = 0x3e; // '>'
  let count = 0;
  for (let n = minGram; n <= maxGram; n++) count += Math.max(0, length - n + 1);
  const grams = new Uint32Array(count);
  let at = 0;
  for (let n = minGram; n <= maxGram; n++) {
    for (let start = 0; start + n <= length; start++) {
      let h = seed;
      for (let i = start; i < start + n; i++) h = Math.imul(h ^ codes[i], 16777619);
      grams[at++] = fmix32(h ^ n);
    }
  }
  return grams;
}

/** Key of the (previous stem, stem) pair. */
export function bigramKey(previousStem: number, stem: number): number {
  return fmix32(Math.imul(previousStem ^ SEED_BIGRAM, 0x9e3779b1) ^ stem);
}

/** FNV-1a over UTF-16 code units, finished with murmur3's avalanche so every bit is usable. */
export function hashString(text: string, seed: number): number {
  let h = seed;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return fmix32(h);
}

/** murmur3's 32-bit finaliser. */
function fmix32(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
