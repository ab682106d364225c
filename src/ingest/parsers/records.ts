import type { Block } from '../types.js';

/** What every parser hands back; parse.ts adds the format and enforces the limits. */
export interface ParsedContent {
  title?: string;
  blocks: Block[];
  pages?: number;
}

/**
 * One row of a table as `column: value; column: value`, so a row retrieved on its own still
 * says what each value means. Empty cells are left out; cells past the header get a
 * positional name.
 */
export function renderRecord(columns: readonly string[], values: readonly string[]): string {
  const parts: string[] = [];
  values.forEach((raw, i) => {
    const value = raw.trim();
    if (value === '') return;
    const column = columns[i]?.trim() || `column ${i + 1}`;
    parts.push(`${column}: ${value}`);
  });
  return parts.join('; ');
}

/** Collapses runs of spaces and tabs (not line breaks) and trims, as layout whitespace carries no meaning. */
export function tidy(text: string): string {
  return text
    .replace(/[ \t\f\v\u00a0]+/g, ' ')
    .replace(/ ?\n ?/g, '\n')
    .trim();
}
