import type { GroundingSource } from './sources.js';

/**
 * Citation checks (DESIGN.md run path step 7): a cited quote counts as evidence only if it
 * occurs, word-aligned, in the text of the chunk it cites. Matching forgives what copying
 * text through a model changes without changing meaning — Unicode compatibility forms,
 * case, whitespace, curly vs straight quotes, dash variants, "…" vs "..." and punctuation
 * at the quote's ends — and nothing else: a paraphrase is not a quote.
 *
 * Everything here is linear scans and `indexOf`; no regular expression runs over chunk or
 * quote text, so hostile inputs cannot trigger backtracking.
 */

/** A citation as a model proposes it: a source number (or chunk id) and a verbatim quote. */
export interface ProposedCitation {
  source: number | string;
  quote: string;
}

/** A citation that checked out; `quote` is the exact span of the chunk text it matched. */
export interface VerifiedCitation {
  chunk_id: string;
  /** The cited document's source (path, URL or name). */
  document: string;
  quote: string;
}

export type DropReason = 'unknown_source' | 'empty_quote' | 'too_short' | 'not_found' | 'duplicate';

export interface DroppedCitation {
  citation: unknown;
  reason: DropReason;
}

export interface CitationCheck {
  verified: VerifiedCitation[];
  dropped: DroppedCitation[];
}

/** Quotes shorter than this (after normalisation) are not evidence: "the", "in 1998". */
export const MIN_QUOTE_WORDS = 3;
export const MIN_QUOTE_CHARS = 12;
/** A quote can't be longer than the chunk; the cap bounds work on hostile input. */
const MAX_QUOTE_CHARS = 20_000;
/** Word-aligned match: give up after this many unaligned occurrences (pathological text). */
const MAX_OCCURRENCES = 1_000;

export function verifyCitations(citations: readonly unknown[], sources: readonly GroundingSource[]): CitationCheck {
  const verified: VerifiedCitation[] = [];
  const dropped: DroppedCitation[] = [];
  const normalized = new Map<GroundingSource, NormalizedText>();
  const seen = new Set<string>();

  for (const citation of citations) {
    const { source: ref, quote } = readCitation(citation);
    const source = resolveSource(ref, sources);
    if (!source) {
      dropped.push({ citation, reason: 'unknown_source' });
      continue;
    }
    const { lead, needle, tail } = trimPunctuation(normalizeForMatch(quote.slice(0, MAX_QUOTE_CHARS)));
    if (needle.length === 0) {
      dropped.push({ citation, reason: 'empty_quote' });
      continue;
    }
    if (needle.length < MIN_QUOTE_CHARS || countWords(needle) < MIN_QUOTE_WORDS) {
      dropped.push({ citation, reason: 'too_short' });
      continue;
    }
    let haystack = normalized.get(source);
    if (!haystack) normalized.set(source, (haystack = normalizeWithMap(source.text)));
    const at = findWordAligned(haystack.text, needle);
    if (at < 0) {
      dropped.push({ citation, reason: 'not_found' });
      continue;
    }
    const key = `${source.chunkId}\u0000${at}\u0000${needle.length}`;
    if (seen.has(key)) {
      dropped.push({ citation, reason: 'duplicate' });
      continue;
    }
    seen.add(key);
    // The ends' punctuation was not needed to match, but where the chunk has it too
    // (a closing period, quotation marks) the returned span includes it.
    const from = lead.length > 0 && haystack.text.startsWith(lead, at - lead.length) ? at - lead.length : at;
    const last = at + needle.length + (tail.length > 0 && haystack.text.startsWith(tail, at + needle.length) ? tail.length : 0);
    const start = haystack.starts[from];
    const end = haystack.ends[last - 1];
    verified.push({ chunk_id: source.chunkId, document: source.document, quote: source.text.slice(start, end) });
  }
  return { verified, dropped };
}

function readCitation(citation: unknown): { source: unknown; quote: string } {
  if (typeof citation !== 'object' || citation === null) return { source: undefined, quote: '' };
  const record = citation as Record<string, unknown>;
  return { source: record.source, quote: typeof record.quote === 'string' ? record.quote : '' };
}

/** `3`, `"3"`, `"[3]"` → source 3; any other string is tried as a chunk id. */
function resolveSource(ref: unknown, sources: readonly GroundingSource[]): GroundingSource | undefined {
  if (typeof ref === 'number') return Number.isInteger(ref) ? sources.find((s) => s.n === ref) : undefined;
  if (typeof ref !== 'string') return undefined;
  const trimmed = ref.trim();
  const bare = trimmed.startsWith('[') && trimmed.endsWith(']') ? trimmed.slice(1, -1) : trimmed;
  if (bare.length > 0 && bare.length <= 6 && [...bare].every((c) => c >= '0' && c <= '9')) {
    return sources.find((s) => s.n === Number(bare));
  }
  return sources.find((s) => s.chunkId === trimmed);
}

/**
 * The matching form of a text: NFKC, case-folded, quotes → `'`, dashes → `-`, invisible
 * format characters removed, whitespace runs → one space, trimmed. ("…" becomes "..." under NFKC.)
 */
export function normalizeForMatch(text: string): string {
  return normalizeWithMap(text).text;
}

interface NormalizedText {
  text: string;
  /** For each normalized char: start offset of the original cluster it came from. */
  starts: number[];
  /** For each normalized char: end offset (exclusive) of that cluster. */
  ends: number[];
}

const COMBINING = /\p{M}/u;
const FORMAT = /\p{Cf}/u;
const WHITESPACE = /\s/u;
const QUOTES = new Set([...'\'"`´‘’‚‛′‵“”„‟″‶«»‹›＂＇']);
const DASHES = new Set([...'‐‑‒–—―−⁃﹘﹣－']);

function normalizeWithMap(input: string): NormalizedText {
  const out: string[] = [];
  const starts: number[] = [];
  const ends: number[] = [];
  const emit = (ch: string, from: number, to: number) => {
    if (ch === ' ' && (out.length === 0 || out[out.length - 1] === ' ')) return;
    out.push(ch);
    starts.push(from);
    ends.push(to);
  };
  let i = 0;
  while (i < input.length) {
    const start = i;
    const code = input.charCodeAt(i);
    const nextCode = input.charCodeAt(i + 1); // NaN past the end
    // ASCII not followed by a combining mark: the hot path, no regex and no allocation.
    if (code < 0x80 && !(nextCode >= 0x300 && COMBINING.test(input[i + 1]))) {
      i += 1;
      if (code === 32 || (code >= 9 && code <= 13)) emit(' ', start, i);
      else if (code === 34 || code === 39 || code === 96) emit("'", start, i);
      else emit(code >= 65 && code <= 90 ? String.fromCharCode(code + 32) : input[start], start, i);
      continue;
    }
    // A cluster is one code point plus its combining marks, so NFKC can compose it (e + ´ → é)
    // while every output char still maps back to a span of the original.
    i += codePointLength(input, i);
    while (i < input.length && input.charCodeAt(i) >= 0x300 && COMBINING.test(input[i])) i += 1;
    const folded = input.slice(start, i).normalize('NFKC').toUpperCase().toLowerCase().normalize('NFKC');
    for (const ch of folded) {
      if (WHITESPACE.test(ch)) emit(' ', start, i);
      else if (QUOTES.has(ch)) emit("'", start, i);
      else if (DASHES.has(ch)) emit('-', start, i);
      else if (!FORMAT.test(ch)) emit(ch, start, i);
    }
  }
  if (out[out.length - 1] === ' ') {
    out.pop();
    starts.pop();
    ends.pop();
  }
  return { text: out.join(''), starts, ends };
}

function codePointLength(text: string, at: number): number {
  const code = text.charCodeAt(at);
  return code >= 0xd800 && code <= 0xdbff && at + 1 < text.length ? 2 : 1;
}

const LETTER_OR_DIGIT = /[\p{L}\p{N}]/u;

function isWordChar(ch: string | undefined): boolean {
  return ch !== undefined && LETTER_OR_DIGIT.test(ch);
}

/** Splits a normalized quote into its core and the punctuation, symbols and spaces around it. */
function trimPunctuation(text: string): { lead: string; needle: string; tail: string } {
  let a = 0;
  let b = text.length;
  while (a < b && !isWordChar(charAt(text, a))) a += charAt(text, a).length;
  while (b > a && !isWordChar(charBefore(text, b))) b -= charBefore(text, b).length;
  return { lead: text.slice(0, a), needle: text.slice(a, b), tail: text.slice(b) };
}

function charAt(text: string, at: number): string {
  return String.fromCodePoint(text.codePointAt(at) ?? 0);
}

function charBefore(text: string, end: number): string {
  const code = text.charCodeAt(end - 1);
  return code >= 0xdc00 && code <= 0xdfff && end >= 2 ? text.slice(end - 2, end) : text[end - 1];
}

function countWords(text: string): number {
  let count = 0;
  let inWord = false;
  for (const ch of text) {
    const word = ch !== ' ';
    if (word && !inWord) count++;
    inWord = word;
  }
  return count;
}

/**
 * First occurrence of `needle` that starts and ends on word boundaries, so "safe to drink
 * the water" does not verify against "unsafe to drink the water".
 */
function findWordAligned(haystack: string, needle: string): number {
  let from = 0;
  for (let tries = 0; tries < MAX_OCCURRENCES; tries++) {
    const at = haystack.indexOf(needle, from);
    if (at < 0) return -1;
    const before = haystack[at - 1];
    const after = haystack[at + needle.length];
    const alignedStart = !isWordChar(needle[0]) || !isWordChar(before);
    const alignedEnd = !isWordChar(needle[needle.length - 1]) || !isWordChar(after);
    if (alignedStart && alignedEnd) return at;
    from = at + 1;
  }
  return -1;
}
