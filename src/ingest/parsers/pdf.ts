import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { getDocument, VerbosityLevel } from 'pdfjs-dist/legacy/build/pdf.mjs';
import type { TextItem, TextMarkedContent } from 'pdfjs-dist/types/src/display/api.js';
import { isGroundworkError } from '../../kernel/errors.js';
import type { Block } from '../types.js';
import { describeError, ingestError } from './ingest-error.js';
import type { ParserContext } from './limits.js';
import { tidy, type ParsedContent } from './records.js';

// Predefined CMaps (CJK encodings) and the standard 14 fonts ship inside pdfjs-dist; point
// pdf.js at them on disk so extraction never needs the network.
const PDFJS_ROOT = dirname(createRequire(import.meta.url).resolve('pdfjs-dist/package.json'));
const CMAP_URL = join(PDFJS_ROOT, 'cmaps') + '/';
const STANDARD_FONT_URL = join(PDFJS_ROOT, 'standard_fonts') + '/';

/** A vertical gap this many line heights or more between two lines starts a new paragraph. */
const PARAGRAPH_GAP = 1.6;

interface Line {
  text: string;
  y: number;
  height: number;
}

/** PDF text per page (pdf.js legacy build, which supports Node 20); every block carries its page. */
export async function parsePdf(bytes: Uint8Array, context: ParserContext): Promise<ParsedContent> {
  const { filename, limits } = context;
  const task = getDocument({
    // pdf.js may transfer the buffer it is given; a copy leaves the caller's bytes intact.
    data: new Uint8Array(bytes),
    verbosity: VerbosityLevel.ERRORS,
    isEvalSupported: false,
    disableFontFace: true,
    useSystemFonts: false,
    stopAtErrors: false,
    cMapUrl: CMAP_URL,
    cMapPacked: true,
    standardFontDataUrl: STANDARD_FONT_URL,
  });
  try {
    const pdf = await task.promise;
    if (pdf.numPages > limits.maxPages) {
      throw ingestError('INGEST_LIMIT_EXCEEDED', filename, `PDF has ${pdf.numPages} pages, more than the limit of ${limits.maxPages}`, {
        details: { pages: pdf.numPages, maxPages: limits.maxPages },
      });
    }
    const metadata = await pdf.getMetadata().catch(() => undefined);
    const info = metadata?.info as { Title?: unknown } | undefined;
    const title = typeof info?.Title === 'string' ? tidy(info.Title) : '';
    const blocks: Block[] = [];
    let chars = 0;
    for (let pageNumber = 1; pageNumber <= pdf.numPages; pageNumber++) {
      const page = await pdf.getPage(pageNumber);
      const content = await page.getTextContent();
      page.cleanup();
      for (const text of paragraphs(content.items)) {
        chars += text.length;
        blocks.push({ kind: 'paragraph', text, page: pageNumber });
      }
      // Stop early rather than extract a huge document only to refuse it afterwards.
      if (chars > limits.maxChars) {
        throw ingestError('INGEST_LIMIT_EXCEEDED', filename, `extracted text exceeds the limit of ${limits.maxChars} characters`, {
          details: { maxChars: limits.maxChars, page: pageNumber },
        });
      }
    }
    return { title: title || undefined, blocks, pages: pdf.numPages };
  } catch (error) {
    throw toIngestError(error, filename);
  } finally {
    await task.destroy().catch(() => undefined);
  }
}

function toIngestError(error: unknown, filename: string): unknown {
  if (isGroundworkError(error)) return error;
  const name = error instanceof Error ? error.name : '';
  if (name === 'PasswordException') {
    return ingestError('INGEST_ENCRYPTED', filename, 'PDF is password-protected', { cause: error });
  }
  const problem = name === 'InvalidPDFException' ? 'not a valid PDF (damaged or truncated)' : `PDF could not be read: ${describeError(error)}`;
  return ingestError('INGEST_PARSE_FAILED', filename, problem, { cause: error });
}

/** Text items → lines (pdf.js marks line ends) → paragraphs (split where the spacing grows). */
function paragraphs(items: Array<TextItem | TextMarkedContent>): string[] {
  const lines: Line[] = [];
  let current: Line | undefined;
  for (const item of items) {
    if (!('str' in item)) continue;
    const y = Number(item.transform[5]);
    const height = Math.abs(item.height || Number(item.transform[3]) || 0);
    if (!current) current = { text: '', y, height };
    current.text += item.str;
    if (item.str.trim()) current.height = Math.max(current.height, height);
    if (item.hasEOL) {
      lines.push(current);
      current = undefined;
    }
  }
  if (current) lines.push(current);

  const result: string[] = [];
  let paragraph = '';
  let previous: Line | undefined;
  for (const line of lines) {
    const text = line.text.trim();
    if (!text) continue;
    const gap = previous ? previous.y - line.y : 0;
    const height = Math.max(previous?.height ?? 0, line.height, 1);
    // A jump upwards means a new column or text box; a wide gap means a new paragraph.
    if (previous && (gap < 0 || gap >= PARAGRAPH_GAP * height)) {
      result.push(paragraph);
      paragraph = '';
    }
    // A line ending in a hyphen continues the word on the next line.
    paragraph = paragraph === '' ? text : paragraph.endsWith('-') ? paragraph + text : `${paragraph} ${text}`;
    previous = line;
  }
  if (paragraph) result.push(paragraph);
  return result.map(tidy).filter(Boolean);
}
