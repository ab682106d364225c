import { createHash } from 'node:crypto';
import { GroundworkError } from '../kernel/errors.js';
import { canonicalJson, isRecord, jsonTextTooDeep, MAX_JSON_DEPTH } from '../kernel/json.js';

/**
 * Golden datasets: JSONL, one case per line. A case has an `input` and any of `expected` (the
 * whole output, or some of its fields), `expected_sources` (ids of documents or chunks that
 * should be retrieved and cited), `expect_abstain`, `tags`, `weight` and an `id`. A dataset is
 * versioned by its content hash, so a scorecard names exactly the cases it measured.
 */

export interface EvalCase {
  /** Given in the line, or the hash of the input: stable when lines move, so runs pair up case by case. */
  id: string;
  /** 1-based line in the file. */
  line: number;
  input: Record<string, unknown>;
  expected?: unknown;
  expectedSources?: string[];
  expectAbstain?: boolean;
  tags: string[];
  weight: number;
}

export interface Dataset {
  cases: EvalCase[];
  /** sha256 of the cases as parsed (canonical JSON, in order): the dataset's version. */
  hash: string;
  /** Lenient mode only: the lines that were left out, and why. */
  skipped: LineProblem[];
}

export interface LineProblem {
  line: number;
  message: string;
}

export interface ParseDatasetOptions {
  /** Skip bad lines (each reported in `skipped`) instead of refusing the dataset. */
  lenient?: boolean;
  /** Default 10,000. */
  maxCases?: number;
  /** Default 256 KiB: one case is one request's input. */
  maxLineBytes?: number;
}

const KNOWN_FIELDS = new Set(['id', 'input', 'expected', 'expected_sources', 'expect_abstain', 'tags', 'weight']);
const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
/** How many bad lines an error lists (the count is always whole). */
const LISTED = 20;

/** Parses a JSONL dataset; throws EVAL_DATASET_INVALID listing every bad line (by number) unless lenient. */
export function parseDataset(text: string, options: ParseDatasetOptions = {}): Dataset {
  const maxCases = options.maxCases ?? 10_000;
  const maxLineBytes = options.maxLineBytes ?? 256 * 1024;
  const cases: EvalCase[] = [];
  const problems: LineProblem[] = [];
  const seen = new Map<string, number>();
  const lines = text.split('\n');
  for (let index = 0; index < lines.length; index++) {
    const raw = lines[index].replace(/\r$/, '');
    const line = index + 1;
    if (raw.trim() === '') continue;
    const problem = (message: string) => problems.push({ line, message });
    if (Buffer.byteLength(raw) > maxLineBytes) {
      problem(`is longer than ${maxLineBytes} bytes`);
      continue;
    }
    if (jsonTextTooDeep(raw)) {
      problem(`nests deeper than ${MAX_JSON_DEPTH} levels`);
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (error) {
      problem(`is not JSON (${error instanceof Error ? error.message : String(error)})`);
      continue;
    }
    const parsed = parseCase(value, line);
    if (typeof parsed === 'string') {
      problem(parsed);
      continue;
    }
    const earlier = seen.get(parsed.id);
    if (earlier !== undefined) {
      problem(`repeats the case of line ${earlier} (id ${parsed.id}); give one of them another "id"`);
      continue;
    }
    seen.set(parsed.id, line);
    cases.push(parsed);
  }
  if (cases.length > maxCases) problems.push({ line: cases[maxCases].line, message: `is past the limit of ${maxCases} cases` });
  if (problems.length > 0 && !options.lenient) {
    throw badLinesError(`the dataset has ${problems.length} bad line${problems.length === 1 ? '' : 's'}`, problems, (p) => `line ${p.line} ${p.message}`);
  }
  const kept = cases.slice(0, maxCases);
  if (kept.length === 0) {
    throw badLinesError('the dataset has no cases: one JSON object per line, each with an "input" object', problems);
  }
  return { cases: kept, hash: datasetHash(kept), skipped: problems };
}

/**
 * EVAL_DATASET_INVALID for a dataset some of whose lines cannot be used: the summary, the first
 * three lines as `render` shows them (none when it is not given), and the first 20 in details.
 */
export function badLinesError(
  summary: string,
  lines: readonly LineProblem[],
  render?: (line: LineProblem) => string,
  details: Record<string, unknown> = {},
): GroundworkError {
  const shown = render ? `: ${lines.slice(0, 3).map(render).join('; ')}${lines.length > 3 ? '; …' : ''}` : '';
  return new GroundworkError('EVAL_DATASET_INVALID', `${summary}${shown}`, { details: { ...details, bad_lines: lines.length, lines: lines.slice(0, LISTED) } });
}

function parseCase(value: unknown, line: number): EvalCase | string {
  if (!isRecord(value)) return 'is not a JSON object';
  const unknown = Object.keys(value).filter((key) => !KNOWN_FIELDS.has(key));
  if (unknown.length > 0) return `has unknown field${unknown.length === 1 ? '' : 's'} ${unknown.map((k) => `"${k}"`).join(', ')}`;
  if (!isRecord(value.input)) return 'needs an "input" object';
  if (value.id !== undefined && (typeof value.id !== 'string' || !ID.test(value.id))) return '"id" must be 1–128 letters, digits, ".", "_", ":" or "-"';
  const sources = value.expected_sources;
  if (sources !== undefined && (!Array.isArray(sources) || sources.some((s) => typeof s !== 'string' || s.length === 0)))
    return '"expected_sources" must be a list of document or chunk ids';
  if (value.expect_abstain !== undefined && typeof value.expect_abstain !== 'boolean') return '"expect_abstain" must be true or false';
  const tags = value.tags;
  if (tags !== undefined && (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string'))) return '"tags" must be a list of strings';
  const weight = value.weight;
  if (weight !== undefined && (typeof weight !== 'number' || !Number.isFinite(weight) || weight <= 0)) return '"weight" must be a number above 0';
  return {
    id: typeof value.id === 'string' ? value.id : `case-${hashOf(canonicalJson(value.input)).slice(0, 12)}`,
    line,
    input: value.input,
    expected: value.expected,
    expectedSources: sources as string[] | undefined,
    expectAbstain: value.expect_abstain as boolean | undefined,
    tags: (tags as string[] | undefined) ?? [],
    weight: (weight as number | undefined) ?? 1,
  };
}

/** A case as its JSONL line (canonical: key order fixed), the inverse of parsing it. */
export function caseLine(c: EvalCase): string {
  return canonicalJson({
    id: c.id,
    input: c.input,
    expected: c.expected,
    expected_sources: c.expectedSources,
    expect_abstain: c.expectAbstain,
    tags: c.tags,
    weight: c.weight,
  });
}

/** The dataset's version: the same cases in the same order, the same hash (whitespace and key order aside). */
export function datasetHash(cases: readonly EvalCase[]): string {
  return hashOf(cases.map(caseLine).join('\n'));
}

function hashOf(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}
