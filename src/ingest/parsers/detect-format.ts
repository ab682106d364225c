import type { DocumentFormat } from '../types.js';
import { looksBinary } from './decode-text.js';

const EXTENSIONS: Record<string, DocumentFormat> = {
  txt: 'text',
  text: 'text',
  log: 'text',
  md: 'markdown',
  markdown: 'markdown',
  mdown: 'markdown',
  mkd: 'markdown',
  html: 'html',
  htm: 'html',
  xhtml: 'html',
  pdf: 'pdf',
  docx: 'docx',
  csv: 'csv',
  tsv: 'csv',
  json: 'json',
  jsonl: 'jsonl',
  ndjson: 'jsonl',
};

const MIME_TYPES: Record<string, DocumentFormat> = {
  'text/plain': 'text',
  'text/markdown': 'markdown',
  'text/x-markdown': 'markdown',
  'text/html': 'html',
  'application/xhtml+xml': 'html',
  'application/pdf': 'pdf',
  'application/vnd.openxmlformats-officedocument.wordprocessingml.document': 'docx',
  'text/csv': 'csv',
  'application/csv': 'csv',
  'text/tab-separated-values': 'csv',
  'application/json': 'json',
  'application/x-ndjson': 'jsonl',
  'application/jsonl': 'jsonl',
  'application/json-lines': 'jsonl',
};

/** Formats that are text on disk: they go through encoding detection before parsing. */
export const TEXT_FORMATS: ReadonlySet<DocumentFormat> = new Set(['text', 'markdown', 'html', 'csv', 'json', 'jsonl']);

export type FormatGuess = { format: DocumentFormat } | { unsupported: string };

/**
 * Extension first (users name files on purpose), then the declared MIME type, then the
 * bytes. Content that sniffing cannot place (an .xlsx, an image, a legacy .doc) is refused
 * under its extension, so the error says which kind of file was sent.
 */
export function detectFormat(input: { filename: string; bytes: Uint8Array; mime?: string }): FormatGuess {
  const extension = extensionOf(input.filename);
  if (extension) {
    const format = EXTENSIONS[extension];
    if (format) return { format };
  }
  const mime = input.mime?.split(';')[0]?.trim().toLowerCase();
  if (mime && MIME_TYPES[mime]) return { format: MIME_TYPES[mime] };
  const sniffed = sniffFormat(input.bytes);
  if (sniffed) return { format: sniffed };
  return { unsupported: extension ? `.${extension}` : mime && mime !== 'application/octet-stream' ? mime : 'unrecognised content' };
}

function extensionOf(filename: string): string | undefined {
  const base = filename.split(/[\\/]/).pop() ?? filename;
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : undefined;
}

const PDF_MAGIC = '%PDF-';
const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];

/** Content sniffing for files with no useful name or type. */
export function sniffFormat(bytes: Uint8Array): DocumentFormat | undefined {
  // Readers accept junk before the PDF header, so look a little way in.
  const head = latin1(bytes.subarray(0, 1024));
  if (head.includes(PDF_MAGIC)) return 'pdf';
  if (ZIP_MAGIC.every((byte, i) => bytes[i] === byte)) {
    // Entry names are stored uncompressed in the local headers, so the name is visible.
    return latin1(bytes.subarray(0, 64 * 1024)).includes('word/document.xml') ? 'docx' : undefined;
  }
  if (looksBinary(bytes)) return undefined;
  const start = head.replace(/^\uFEFF|^\xEF\xBB\xBF/, '').trimStart();
  const lower = start.slice(0, 512).toLowerCase();
  if (lower.startsWith('<!doctype html') || lower.startsWith('<html') || lower.includes('<html')) return 'html';
  if (start.startsWith('{') || start.startsWith('[')) return looksLikeJsonLines(bytes) ? 'jsonl' : 'json';
  return 'text';
}

/** JSON Lines when the first line is a complete JSON value and another line follows. */
function looksLikeJsonLines(bytes: Uint8Array): boolean {
  const text = new TextDecoder().decode(bytes.subarray(0, 64 * 1024));
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  if (lines.length < 2) return false;
  try {
    JSON.parse(lines[0]);
    return true;
  } catch {
    return false;
  }
}

function latin1(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}
