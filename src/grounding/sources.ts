import type { SearchHit } from '../retrieval/ports.js';
import { tokenizer } from '../kernel/tokenizer.js';

/**
 * Numbered sources: the retrieved chunks a grounded prompt shows the model as [1]…[n], and
 * the same list citation checks resolve "source n" against. Numbering happens after the
 * token-budget trim, so every number the model sees is one it can cite.
 */

/** One retrieved chunk as shown to the model under its number. */
export interface GroundingSource {
  /** 1-based number the model cites. */
  n: number;
  chunkId: string;
  documentId: string;
  /** The document's source (path, URL or caller-given name): what a citation names. */
  document: string;
  title: string;
  headingPath: string[];
  page?: number;
  text: string;
  /** Retrieval score (fused, higher is better). */
  score: number;
  /** Tokens this source takes in the rendered block. */
  tokens: number;
  /** True when the text was cut to fit the budget (only ever the top hit; see numberSources). */
  truncated?: boolean;
}

export interface NumberSourcesOptions {
  /** Token budget for the rendered sources block; omit for no limit. */
  maxTokens?: number;
}

// Chunk text may contain strings like "<|endoftext|>"; count them as text instead of throwing.
const COUNT_OPTIONS = { disallowedSpecial: new Set<string>() };
/** Delimiters of the sources block (a protocol: see grounded-prompt.ts). */
export const SOURCES_OPEN = '<sources>';
export const SOURCES_CLOSE = '</sources>';
const BLOCK_OVERHEAD_TEXT = `${SOURCES_OPEN}\n\n${SOURCES_CLOSE}`;

/** BPE cost grows quadratically with the length of one unbroken run (a base64 blob, a long URL). */
const MAX_RUN = 1_000;

/**
 * Token count of a text. Runs of more than MAX_RUN non-space characters are counted in
 * MAX_RUN slices, which keeps the cost linear and the count within a few tokens of exact.
 */
export function countTextTokens(text: string): number {
  if (text.length === 0) return 0;
  let total = 0;
  let from = 0;
  let runStart = 0;
  for (let i = 0; i <= text.length; i++) {
    const isSpace = i === text.length || text.charCodeAt(i) <= 32;
    if (!isSpace) continue;
    if (i - runStart > MAX_RUN) {
      total += tokenizer().countTokens(text.slice(from, runStart), COUNT_OPTIONS);
      for (let at = runStart; at < i; at += MAX_RUN) total += tokenizer().countTokens(text.slice(at, Math.min(i, at + MAX_RUN)), COUNT_OPTIONS);
      from = i;
    }
    runStart = i + 1;
  }
  return total + (from < text.length ? tokenizer().countTokens(text.slice(from), COUNT_OPTIONS) : 0);
}

/**
 * Numbers hits in rank order, keeping the longest prefix of the ranking that fits
 * `maxTokens` — a lower-ranked chunk never displaces a higher-ranked one. If not even the
 * top hit fits, its text is cut at a word boundary to fit, so a small budget degrades the
 * context instead of emptying it (quotes from the cut text still verify: it is a prefix).
 */
export function numberSources(hits: readonly SearchHit[], options: NumberSourcesOptions = {}): GroundingSource[] {
  const budget = options.maxTokens ?? Number.POSITIVE_INFINITY;
  let used = countTextTokens(BLOCK_OVERHEAD_TEXT);
  const sources: GroundingSource[] = [];
  for (const hit of hits) {
    const source = toSource(hit, sources.length + 1);
    if (used + source.tokens > budget) {
      if (sources.length === 0) {
        const cut = truncateToFit(source, budget - used);
        if (cut) sources.push(cut);
      }
      break;
    }
    used += source.tokens;
    sources.push(source);
  }
  return sources;
}

function toSource(hit: SearchHit, n: number): GroundingSource {
  const source: GroundingSource = {
    n,
    chunkId: hit.chunkId,
    documentId: hit.documentId,
    document: hit.source,
    title: hit.title,
    headingPath: hit.headingPath,
    text: hit.text,
    score: hit.score,
    tokens: 0,
  };
  if (hit.page !== undefined) source.page = hit.page;
  source.tokens = countTextTokens(renderSource(source)) + 1; // + the blank-line separator
  return source;
}

/** Longest word-boundary prefix of the text whose rendered source fits `budget` (binary search). */
function truncateToFit(source: GroundingSource, budget: number): GroundingSource | undefined {
  const cuts: number[] = [];
  for (let i = 0; i < source.text.length; i++) if (source.text[i] === ' ' || source.text[i] === '\n') cuts.push(i);
  let lo = 0;
  let hi = cuts.length - 1;
  let best: GroundingSource | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const candidate = { ...source, text: source.text.slice(0, cuts[mid]), truncated: true };
    const tokens = countTextTokens(renderSource(candidate)) + 1;
    if (tokens <= budget) {
      best = { ...candidate, tokens };
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return best;
}

/** Header line of a source: `[n] <title> › <heading path> (p. N)`, always one line. */
export function sourceHeader(source: Pick<GroundingSource, 'n' | 'title' | 'headingPath' | 'page'>): string {
  const parts = [source.title, ...source.headingPath].map(oneLine).filter((part) => part.length > 0);
  const label = parts.length > 0 ? parts.join(' › ') : 'untitled';
  const page = source.page === undefined ? '' : ` (p. ${source.page})`;
  return `[${source.n}] ${label}${page}`;
}

function renderSource(source: GroundingSource): string {
  return `${sourceHeader(source)}\n${source.text}`;
}

/**
 * The sources block of a grounded prompt. Its exact shape is a protocol (the extractive
 * engine parses it back; see grounded-prompt.ts):
 *
 *     <sources>
 *     [1] Title › Heading › Subheading (p. 3)
 *     chunk text, verbatim, possibly several lines
 *
 *     [2] …
 *     </sources>
 */
export function renderSources(sources: readonly GroundingSource[]): string {
  return `${SOURCES_OPEN}\n${sources.map(renderSource).join('\n\n')}\n${SOURCES_CLOSE}`;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
