import type { Block, ChunkDraft, ChunkingOptions, ParsedDocument } from './types.js';
import { tokenizer } from '../kernel/tokenizer.js';

/** Document text may contain strings like "<|endoftext|>"; count them as text, never throw. */
const COUNT_OPTIONS = { disallowedSpecial: new Set<string>() };
const count = (text: string): number => (text.length === 0 ? 0 : tokenizer().countTokens(text, COUNT_OPTIONS));

const DEFAULT_OPTIONS: ChunkingOptions = { maxTokens: 256, overlapTokens: 32 };
/** Below this a budget cannot hold a sentence fragment plus overlap meaningfully. */
const MIN_MAX_TOKENS = 8;
const BLOCK_SEPARATOR = '\n\n';
let separatorCount: number | undefined;
/** Tokens of the separator between blocks (counted at first use: the tokenizer loads lazily). */
const separatorTokens = (): number => (separatorCount ??= count(BLOCK_SEPARATOR));
/** A sentence this many characters per budget token cannot fit; skip counting it whole. */
const HOPELESS_CHARS_PER_TOKEN = 16;
const WORDS = /\s*\S+/g;
const PIECE_SLACK = 2;
// A fixed locale keeps output identical whatever the host's default locale is.
const sentences = new Intl.Segmenter('en', { granularity: 'sentence' });

/** A unit the packer places whole: a sentence, a record, a heading, or a slice of an over-long one. */
interface Piece {
  /** Carries the whitespace that preceded it inside its block, so pieces concatenate losslessly. */
  text: string;
  /** Tokens of `text` exactly as stored, counted once. */
  tokens: number;
  startsBlock: boolean;
  kind: Block['kind'];
  page?: number;
}

/**
 * Blocks → chunks of at most `maxTokens` tokens (o200k, as gpt-tokenizer counts them). A
 * heading always starts a new chunk, and consecutive headings travel with the content
 * under them, so one chunk never mixes two sections; the chunk's text starts with those
 * heading lines and its headingPath is the heading stack over its content. Paragraphs and
 * records are packed whole when they fit, split at sentence boundaries when not, and an
 * over-long sentence at word boundaries (a run without spaces at character boundaries), so
 * the budget always holds. Within a section each chunk repeats the last ~overlapTokens
 * tokens of prose (whole sentences where they fit) of the one before; records are never
 * repeated, since each stands alone. Every piece of text is tokenized once, which keeps
 * chunking linear in the document's length.
 */
export function chunkDocument(doc: ParsedDocument, options: Partial<ChunkingOptions> = {}): ChunkDraft[] {
  const maxTokens = options.maxTokens ?? DEFAULT_OPTIONS.maxTokens;
  if (!Number.isInteger(maxTokens) || maxTokens < MIN_MAX_TOKENS) {
    throw new RangeError(`maxTokens must be an integer of at least ${MIN_MAX_TOKENS}, got ${maxTokens}`);
  }
  const overlapOption = options.overlapTokens ?? DEFAULT_OPTIONS.overlapTokens;
  if (!Number.isInteger(overlapOption) || overlapOption < 0) {
    throw new RangeError(`overlapTokens must be a non-negative integer, got ${overlapOption}`);
  }
  // More than half the budget in overlap would make chunks mostly repetition.
  const overlapTokens = Math.min(overlapOption, Math.floor(maxTokens / 2));

  const chunks: ChunkDraft[] = [];
  const headings: Array<{ level: number; text: string }> = [];
  let current: Piece[] = [];
  let currentTokens = 0;
  let hasBody = false;
  let headingPath: string[] = [];

  const emit = (): void => {
    if (current.length === 0) return;
    let text = current[0].text;
    for (let i = 1; i < current.length; i++) text += (current[i].startsBlock ? BLOCK_SEPARATOR : '') + current[i].text;
    const chunk: ChunkDraft = { position: chunks.length, text, headingPath: [...headingPath], tokenCount: currentTokens };
    if (current[0].page !== undefined) chunk.page = current[0].page;
    chunks.push(chunk);
    current = [];
    currentTokens = 0;
    hasBody = false;
  };
  const push = (piece: Piece): void => {
    if (current.length === 0) {
      const first = atChunkStart(piece);
      current.push(first);
      currentTokens = first.tokens;
    } else {
      current.push(piece);
      currentTokens += joinCost(piece);
    }
    if (piece.kind !== 'heading') hasBody = true;
  };
  /** Closes the chunk and opens the next with overlap, leaving `room` tokens for what comes next. */
  const breakBefore = (room: number): void => {
    const budget = Math.min(overlapTokens, maxTokens - room - separatorTokens());
    const overlap = hasBody ? tailOf(current, budget) : [];
    emit();
    for (const piece of overlap) push(piece);
    // Recounting the overlap's first piece without its leading space can shift it a token.
    while (current.length > 0 && currentTokens + room > maxTokens) {
      const [, ...rest] = current;
      current = [];
      currentTokens = 0;
      for (const piece of rest) push(piece);
    }
  };
  const add = (piece: Piece): void => {
    if (current.length > 0 && currentTokens + joinCost(piece) > maxTokens) breakBefore(joinCost(piece));
    push(piece);
  };

  for (const block of doc.blocks) {
    // Single pieces keep a little slack: one that opens a chunk is recounted without its leading space.
    const pieces = splitBlock(block, maxTokens - PIECE_SLACK);
    if (pieces.length === 0) continue;
    if (block.kind === 'heading') {
      if (hasBody) emit();
      while (headings.length > 0 && headings[headings.length - 1].level >= block.level) headings.pop();
      headings.push({ level: block.level, text: block.text.trim() });
      headingPath = headings.map((heading) => heading.text);
      for (const piece of pieces) add(piece);
      continue;
    }
    // Keep a block whole in the next chunk rather than split it, if this chunk is already well used.
    const blockTokens = pieces.reduce((sum, piece) => sum + piece.tokens, separatorTokens());
    if (hasBody && currentTokens + blockTokens > maxTokens && blockTokens <= maxTokens && currentTokens >= maxTokens / 2) {
      breakBefore(blockTokens);
    }
    for (const piece of pieces) add(piece);
  }
  emit();
  return chunks;
}

function joinCost(piece: Piece): number {
  return piece.tokens + (piece.startsBlock ? separatorTokens() : 0);
}

/** A piece opening a chunk loses its leading whitespace, and is recounted for it. */
function atChunkStart(piece: Piece): Piece {
  const trimmed = piece.text.trimStart();
  return trimmed.length === piece.text.length ? piece : { ...piece, text: trimmed, tokens: count(trimmed) };
}

/** The last pieces of prose worth at most `budget` tokens; words of the last sentence if it alone is too long. */
function tailOf(pieces: Piece[], budget: number): Piece[] {
  if (budget <= 0) return [];
  const tail: Piece[] = [];
  let tokens = 0;
  for (let i = pieces.length - 1; i >= 0; i--) {
    const piece = pieces[i];
    if (piece.kind !== 'paragraph') break;
    const cost = joinCost(piece);
    if (tokens + cost > budget) {
      if (tail.length === 0) return wordsTail(piece, budget);
      break;
    }
    tail.unshift(piece);
    tokens += cost;
    if (piece.startsBlock) break;
  }
  return tail;
}

function wordsTail(piece: Piece, budget: number): Piece[] {
  const words = piece.text.match(WORDS) ?? [];
  let text = '';
  let tokens = 0;
  for (let i = words.length - 1; i >= 0; i--) {
    const wordTokens = count(words[i]);
    if (tokens + wordTokens > budget) break;
    text = words[i] + text;
    tokens += wordTokens;
  }
  return text ? [{ ...piece, text, tokens, startsBlock: false }] : [];
}

/** A block → pieces that each fit the budget and concatenate back to the block's text. */
function splitBlock(block: Block, maxTokens: number): Piece[] {
  const text = block.text.trim();
  if (text === '') return [];
  const make = (pieceText: string, tokens: number, index: number): Piece => {
    const piece: Piece = { text: pieceText, tokens, startsBlock: index === 0, kind: block.kind };
    if (block.page !== undefined) piece.page = block.page;
    return piece;
  };
  // Records and headings are one unit; only prose is cut into sentences up front.
  if (block.kind !== 'paragraph' && text.length <= maxTokens * HOPELESS_CHARS_PER_TOKEN) {
    const tokens = count(text);
    if (tokens <= maxTokens) return [make(text, tokens, 0)];
  }
  const out: Piece[] = [];
  for (const sentence of sentencesOf(text)) {
    const tokens = sentence.length <= maxTokens * HOPELESS_CHARS_PER_TOKEN ? count(sentence) : Infinity;
    if (tokens <= maxTokens) out.push(make(sentence, tokens, out.length));
    else for (const slice of splitLong(sentence, maxTokens)) out.push(make(slice.text, slice.tokens, out.length));
  }
  return out;
}

/** Sentences with the whitespace before each kept at its front (the segmenter keeps it at the back). */
function sentencesOf(text: string): string[] {
  const out: string[] = [];
  let pending = '';
  for (const { segment } of sentences.segment(text)) {
    const body = segment.trimEnd();
    if (body.trim() === '') {
      pending += segment;
      continue;
    }
    out.push(pending + body);
    pending = segment.slice(body.length);
  }
  return out;
}

/** An over-long sentence → words (with their leading whitespace); an over-long word → character windows. */
function splitLong(sentence: string, maxTokens: number): Array<{ text: string; tokens: number }> {
  const out: Array<{ text: string; tokens: number }> = [];
  for (const word of sentence.match(WORDS) ?? []) {
    const tokens = word.length <= maxTokens * HOPELESS_CHARS_PER_TOKEN ? count(word) : Infinity;
    if (tokens <= maxTokens) out.push({ text: word, tokens });
    else out.push(...characterWindows(word, maxTokens));
  }
  return out;
}

/** Slices of a run with no spaces (base64, URLs, CJK without punctuation), sized from its token density. */
function characterWindows(run: string, maxTokens: number): Array<{ text: string; tokens: number }> {
  const out: Array<{ text: string; tokens: number }> = [];
  let width = maxTokens * 2;
  let start = 0;
  while (start < run.length) {
    let end = Math.min(run.length, start + width);
    let tokens: number;
    for (;;) {
      // Never cut a surrogate pair in half.
      if (end < run.length && end - start > 1 && isLowSurrogate(run.charCodeAt(end))) end--;
      tokens = count(run.slice(start, end));
      if (tokens <= maxTokens || end - start <= 2) break;
      end = start + Math.max(1, Math.floor(((end - start) * maxTokens * 0.9) / tokens));
    }
    out.push({ text: run.slice(start, end), tokens });
    // Aim the next window just under the budget at the density seen so far.
    width = Math.max(1, Math.floor(((end - start) * maxTokens * 0.95) / Math.max(tokens, 1)));
    start = end;
  }
  return out;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
