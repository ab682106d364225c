import type { IngestFile } from './pipeline.js';

/** A document given as text in JSON (the ingest route's and ingestion jobs' body), not as a file upload. */
export interface TextDocument {
  source: string;
  text: string;
  format?: 'text' | 'markdown' | 'html' | 'csv' | 'json' | 'jsonl';
  metadata?: Record<string, unknown>;
}

const FORMAT_MIME: Record<NonNullable<TextDocument['format']>, string> = {
  text: 'text/plain',
  markdown: 'text/markdown',
  html: 'text/html',
  csv: 'text/csv',
  json: 'application/json',
  jsonl: 'application/x-ndjson',
};

/** The file the pipeline ingests for a text document (its format, when given, picks the parser). */
export function textDocumentFile(document: TextDocument): IngestFile {
  return {
    source: document.source,
    bytes: new TextEncoder().encode(document.text),
    mime: document.format ? FORMAT_MIME[document.format] : undefined,
    metadata: document.metadata,
  };
}
