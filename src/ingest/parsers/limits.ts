/** Caps on what one document may cost to parse; every cap fails with a typed error. */
export interface ParseLimits {
  /** Largest input file accepted, in bytes (default 20 MiB). */
  maxBytes: number;
  /** Most pages a PDF may have (default 2,000). */
  maxPages: number;
  /** Most bytes a DOCX may inflate to, summed over its ZIP entries (default 100 MiB). */
  maxDecompressedBytes: number;
  /** Most characters of extracted text (default 5,000,000). */
  maxChars: number;
}

export const DEFAULT_PARSE_LIMITS: Readonly<ParseLimits> = Object.freeze({
  maxBytes: 20 * 1024 * 1024,
  maxPages: 2_000,
  maxDecompressedBytes: 100 * 1024 * 1024,
  maxChars: 5_000_000,
});

/** What a parser gets besides its content: the name to put in errors and the caps. */
export interface ParserContext {
  filename: string;
  limits: ParseLimits;
}
