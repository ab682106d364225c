/**
 * Ingestion contracts: a parsed document is a list of structural blocks; the chunker turns
 * blocks into chunks within a token budget. Parsers and the chunker are pure (bytes in,
 * values out); the pipeline stores and embeds.
 */

export type Block =
  | { kind: 'heading'; level: number; text: string; page?: number }
  | { kind: 'paragraph'; text: string; page?: number }
  /** One record of tabular/structured data (CSV row, JSON/JSONL record) rendered as text. */
  | { kind: 'record'; text: string; page?: number };

export interface ParsedDocument {
  /** Title from the document (HTML <title>, first heading, PDF metadata), if any. */
  title?: string;
  /** Detected format. */
  format: DocumentFormat;
  blocks: Block[];
  /** Page count for paged formats (PDF). */
  pages?: number;
}

export type DocumentFormat = 'text' | 'markdown' | 'html' | 'pdf' | 'docx' | 'csv' | 'json' | 'jsonl';

export interface ChunkDraft {
  /** 0-based order within the document. */
  position: number;
  text: string;
  /** Enclosing headings, outermost first. */
  headingPath: string[];
  /** 1-based page of the chunk's first block, for paged formats. */
  page?: number;
  tokenCount: number;
}

export interface ChunkingOptions {
  /** Token budget per chunk (default 256). */
  maxTokens: number;
  /** Tokens of the previous chunk repeated at the start of the next (default 32). */
  overlapTokens: number;
}
