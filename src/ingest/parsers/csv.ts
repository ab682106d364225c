import { CsvError, parse } from 'csv-parse/sync';
import { describeError, ingestError } from './ingest-error.js';
import { renderRecord, type ParsedContent } from './records.js';

const DELIMITERS = [',', ';', '\t', '|'] as const;

/** CSV/TSV: the first row names the columns; every later row becomes one record block. */
export function parseCsv(text: string, filename: string): ParsedContent {
  let rows: string[][];
  try {
    rows = parse(text, {
      delimiter: guessDelimiter(text, filename),
      bom: true,
      // Spreadsheets export ragged rows and stray quotes; keep the data rather than refuse it.
      relax_column_count: true,
      relax_quotes: true,
      skip_empty_lines: true,
    });
  } catch (error) {
    const line = error instanceof CsvError && typeof error.lines === 'number' ? error.lines : undefined;
    throw ingestError('INGEST_PARSE_FAILED', filename, `invalid CSV${line ? ` near line ${line}` : ''}: ${describeError(error)}`, {
      details: line ? { line } : {},
      cause: error,
    });
  }
  const [header = [], ...body] = rows;
  const blocks = body
    .map((row) => renderRecord(header, row))
    .filter((record) => record !== '')
    .map((record) => ({ kind: 'record' as const, text: record }));
  return { blocks };
}

/**
 * The delimiter that occurs most often, outside quotes, in the header line. European
 * spreadsheets export semicolons; .tsv files use tabs.
 */
function guessDelimiter(text: string, filename: string): string {
  if (/\.tsv$/i.test(filename)) return '\t';
  const counts = new Map<string, number>(DELIMITERS.map((d) => [d, 0]));
  let quoted = false;
  for (let i = 0; i < text.length && i < 64 * 1024; i++) {
    const char = text[i];
    if (char === '"') quoted = !quoted;
    else if (!quoted && (char === '\n' || char === '\r')) break;
    else if (!quoted && counts.has(char)) counts.set(char, (counts.get(char) ?? 0) + 1);
  }
  let best = ',';
  for (const [delimiter, count] of counts) if (count > (counts.get(best) ?? 0)) best = delimiter;
  return best;
}
