import type { Block } from '../types.js';
import { describeError, ingestError } from './ingest-error.js';
import type { ParsedContent } from './records.js';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/**
 * JSON: an array of objects gives one record per object; any other value is flattened to
 * `path: value` records, where each object inside an array stays together as one record
 * so related fields are retrieved together.
 */
export function parseJson(text: string, filename: string): ParsedContent {
  let value: Json;
  try {
    value = JSON.parse(text) as Json;
  } catch (error) {
    throw ingestError('INGEST_PARSE_FAILED', filename, `invalid JSON: ${describeError(error)}`, { cause: error });
  }
  const blocks: Block[] = [];
  collectRecords(value, '', (record) => blocks.push({ kind: 'record', text: record }));
  return { blocks };
}

/** JSON Lines: one record per non-blank line; a bad line fails the file naming its number. */
export function parseJsonLines(text: string, filename: string): ParsedContent {
  const blocks: Block[] = [];
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    let value: Json;
    try {
      value = JSON.parse(line) as Json;
    } catch (error) {
      const lineNumber = index + 1;
      throw ingestError('INGEST_PARSE_FAILED', filename, `invalid JSON on line ${lineNumber}: ${describeError(error)}`, {
        details: { line: lineNumber },
        cause: error,
      });
    }
    const record = isObject(value) || Array.isArray(value) ? flatten(value, '').join('; ') : scalar(value);
    if (record !== '') blocks.push({ kind: 'record', text: record });
  });
  return { blocks };
}

function collectRecords(value: Json, path: string, emit: (record: string) => void): void {
  if (Array.isArray(value) && value.length > 0 && value.every(isObject)) {
    value.forEach((item, i) => {
      // Top-level array items need no prefix; nested ones keep their path for context.
      const record = flatten(item, path === '' ? '' : `${path}[${i}]`).join('; ');
      if (record !== '') emit(record);
    });
    return;
  }
  if (isObject(value)) {
    for (const [key, child] of Object.entries(value)) collectRecords(child, join(path, key), emit);
    return;
  }
  if (Array.isArray(value)) {
    if (value.every((item) => !isObject(item) && !Array.isArray(item))) {
      if (value.length > 0) emit(labelled(path, value.map(scalar).join(', ')));
      return;
    }
    value.forEach((item, i) => collectRecords(item, `${path}[${i}]`, emit));
    return;
  }
  emit(labelled(path, scalar(value)));
}

/** `path: value` pairs of every leaf; arrays of scalars are listed on one line. */
function flatten(value: Json, path: string): string[] {
  if (isObject(value)) return Object.entries(value).flatMap(([key, child]) => flatten(child, join(path, key)));
  if (Array.isArray(value)) {
    if (value.every((item) => !isObject(item) && !Array.isArray(item))) {
      return value.length > 0 ? [labelled(path, value.map(scalar).join(', '))] : [];
    }
    return value.flatMap((item, i) => flatten(item, `${path}[${i}]`));
  }
  return [labelled(path, scalar(value))];
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function labelled(path: string, value: string): string {
  return path === '' ? value : `${path}: ${value}`;
}

function scalar(value: Json): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function isObject(value: Json): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
