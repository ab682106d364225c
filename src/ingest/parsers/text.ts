import type { ParsedContent } from './records.js';

/** Plain text: paragraphs are separated by blank lines; line breaks inside one are kept. */
export function parseText(text: string): ParsedContent {
  const blocks = text
    .replace(/\r\n?/g, '\n')
    .split(/\n[ \t]*\n/)
    .map((paragraph) => paragraph.trim())
    .filter((paragraph) => paragraph !== '')
    .map((paragraph) => ({ kind: 'paragraph' as const, text: paragraph }));
  return { blocks };
}
