import { isGroundworkError } from '../kernel/errors.js';
import { parseCsv } from './parsers/csv.js';
import { decodeText } from './parsers/decode-text.js';
import { detectFormat, TEXT_FORMATS } from './parsers/detect-format.js';
import { parseHtml } from './parsers/html.js';
import { describeError, ingestError } from './parsers/ingest-error.js';
import { parseJson, parseJsonLines } from './parsers/json.js';
import { DEFAULT_PARSE_LIMITS, type ParseLimits, type ParserContext } from './parsers/limits.js';
import { parseMarkdown } from './parsers/markdown.js';
import type { ParsedContent } from './parsers/records.js';
import { parseText } from './parsers/text.js';
import type { DocumentFormat, ParsedDocument } from './types.js';

export { DEFAULT_PARSE_LIMITS, type ParseLimits } from './parsers/limits.js';

/** One uploaded file: its name (for format detection and error messages), bytes, optional MIME type. */
export interface ParseInput {
  filename: string;
  bytes: Uint8Array;
  mime?: string;
  limits?: Partial<ParseLimits>;
}

/**
 * Bytes of one file → structural blocks. Every failure is a GroundworkError with an
 * INGEST_* code whose message starts with the file name; nothing a library throws leaks
 * out raw, so one bad file in a batch is one typed entry in the report.
 */
export async function parseDocument(input: ParseInput): Promise<ParsedDocument> {
  const { filename, bytes } = input;
  const limits = resolveLimits(input.limits);
  if (bytes.byteLength > limits.maxBytes) {
    throw ingestError('INGEST_FILE_TOO_LARGE', filename, `file is ${bytes.byteLength} bytes, more than the limit of ${limits.maxBytes}`, {
      details: { bytes: bytes.byteLength, maxBytes: limits.maxBytes },
    });
  }
  if (bytes.byteLength === 0) throw ingestError('INGEST_EMPTY_DOCUMENT', filename, 'file is empty (0 bytes)');
  const guess = detectFormat(input);
  if ('unsupported' in guess) {
    throw ingestError('INGEST_UNSUPPORTED_FORMAT', filename, `unsupported format (${guess.unsupported}); supported: ${SUPPORTED}`, {
      details: { detected: guess.unsupported },
    });
  }
  const { format } = guess;
  const context: ParserContext = { filename, limits };
  let content: ParsedContent;
  try {
    content = await parseAs(format, bytes, context);
  } catch (error) {
    if (isGroundworkError(error)) throw error;
    // A library bug or a pathological input (deep nesting → stack overflow) is still this file's problem.
    throw ingestError('INGEST_PARSE_FAILED', filename, `could not parse as ${format}: ${describeError(error)}`, { cause: error });
  }
  const chars = content.blocks.reduce((sum, block) => sum + block.text.length, 0);
  if (chars > limits.maxChars) {
    throw ingestError('INGEST_LIMIT_EXCEEDED', filename, `extracted text is ${chars} characters, more than the limit of ${limits.maxChars}`, {
      details: { chars, maxChars: limits.maxChars },
    });
  }
  const blocks = content.blocks.filter((block) => /\S/.test(block.text));
  if (blocks.length === 0) throw ingestError('INGEST_EMPTY_DOCUMENT', filename, `no text found in this ${format} file`);
  const title = content.title ?? blocks.find((block) => block.kind === 'heading')?.text;
  const document: ParsedDocument = { format, blocks };
  if (title) document.title = title;
  if (content.pages !== undefined) document.pages = content.pages;
  return document;
}

const SUPPORTED = '.txt, .md, .html, .pdf, .docx, .csv, .tsv, .json, .jsonl';

async function parseAs(format: DocumentFormat, bytes: Uint8Array, context: ParserContext): Promise<ParsedContent> {
  // pdf.js and mammoth are large: loaded on the first PDF / DOCX, not at start-up.
  if (format === 'pdf') return (await import('./parsers/pdf.js')).parsePdf(bytes, context);
  if (format === 'docx') return (await import('./parsers/docx.js')).parseDocx(bytes, context);
  if (!TEXT_FORMATS.has(format)) throw new Error(`no parser for ${format}`);
  const text = decodeText(bytes, context.filename);
  switch (format) {
    case 'markdown':
      return parseMarkdown(text);
    case 'html':
      return parseHtml(text);
    case 'csv':
      return parseCsv(text, context.filename);
    case 'json':
      return parseJson(text, context.filename);
    case 'jsonl':
      return parseJsonLines(text, context.filename);
    default:
      return parseText(text);
  }
}

/** Explicit `undefined` in a partial limits object means "use the default", not "no limit". */
function resolveLimits(partial: Partial<ParseLimits> | undefined): ParseLimits {
  const limits: ParseLimits = { ...DEFAULT_PARSE_LIMITS };
  for (const key of Object.keys(limits) as Array<keyof ParseLimits>) {
    const value = partial?.[key];
    if (typeof value === 'number' && Number.isFinite(value) && value >= 0) limits[key] = value;
  }
  return limits;
}
