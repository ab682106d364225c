import { renderSources, SOURCES_CLOSE, SOURCES_OPEN, type GroundingSource } from './sources.js';

/**
 * The grounded-prompt protocol: the machine-readable part of a grounded user prompt, written
 * by `renderGroundedContext` and read back by `parseGroundedPrompt` (the extractive engine
 * answers from it, so it works as the last tier of any grounded route without seeing the run's
 * objects — only the prompt, like any other model).
 *
 *     …free text (instructions) that contains neither marker line…
 *     <sources>
 *     [1] <title> › <heading path> (p. N)
 *     <chunk text, verbatim, any number of lines>
 *
 *     [2] <header>
 *     <text>
 *     </sources>
 *
 *     QUESTION: <the question, whitespace collapsed to one line>
 *     …free text…
 *
 * Rules the parser relies on:
 * - The block opens at the first line that is exactly `<sources>` and closes at the last line
 *   that is exactly `</sources>`; the QUESTION line is the first line after the close that
 *   starts with `QUESTION: `.
 * - Sources are numbered 1, 2, 3… in order; source k+1 starts at the first `\n\n[k+1] ` after
 *   source k's header. A chunk whose own text contains a blank line followed by exactly the
 *   next number in brackets is split there; the engine then quotes a sentence under the
 *   wrong number and citation checks drop it, so the failure is a weaker answer, not a wrong one.
 */

export const QUESTION_PREFIX = 'QUESTION: ';

/** The sources block plus the QUESTION line, for any grounded task's user prompt. */
export function renderGroundedContext(params: { sources: readonly GroundingSource[]; question: string }): string {
  return `${renderSources(params.sources)}\n\n${QUESTION_PREFIX}${params.question.replace(/\s+/g, ' ').trim()}`;
}

/** A source as the engine sees it: its number, header line and verbatim text. */
export interface ParsedSource {
  n: number;
  header: string;
  text: string;
}

export interface ParsedGroundedPrompt {
  sources: ParsedSource[];
  question: string;
}

/** Reads the protocol back; undefined when the text holds no sources block or no QUESTION line. */
export function parseGroundedPrompt(prompt: string): ParsedGroundedPrompt | undefined {
  const text = prompt.replace(/\r\n/g, '\n');
  const open = findLine(text, SOURCES_OPEN, 'first');
  const close = findLine(text, SOURCES_CLOSE, 'last');
  if (open < 0 || close < 0 || close < open + SOURCES_OPEN.length) return undefined;

  const question = findQuestion(text, close + SOURCES_CLOSE.length);
  if (question === undefined) return undefined;

  const bodyStart = open + SOURCES_OPEN.length + 1;
  const body = bodyStart <= close ? text.slice(bodyStart, Math.max(bodyStart, close - 1)) : '';
  return { sources: parseSources(body), question };
}

function parseSources(body: string): ParsedSource[] {
  const sources: ParsedSource[] = [];
  if (!body.startsWith('[1] ')) return sources;
  let start = 0;
  for (let n = 1; start >= 0; n++) {
    const next = body.indexOf(`\n\n[${n + 1}] `, start);
    const end = next < 0 ? body.length : next;
    const entry = body.slice(start, end);
    const newline = entry.indexOf('\n');
    const header = newline < 0 ? entry : entry.slice(0, newline);
    sources.push({ n, header: header.slice(`[${n}] `.length), text: newline < 0 ? '' : entry.slice(newline + 1) });
    start = next < 0 ? -1 : next + 2;
  }
  return sources;
}

/** Index of a line that is exactly `marker` (first or last occurrence), or -1. */
function findLine(text: string, marker: string, which: 'first' | 'last'): number {
  let from = which === 'first' ? 0 : text.length;
  for (;;) {
    const at = which === 'first' ? text.indexOf(marker, from) : text.lastIndexOf(marker, from);
    if (at < 0) return -1;
    const startsLine = at === 0 || text[at - 1] === '\n';
    const endsLine = at + marker.length === text.length || text[at + marker.length] === '\n';
    if (startsLine && endsLine) return at;
    if (which === 'first') from = at + 1;
    else if (at === 0) return -1;
    else from = at - 1;
  }
}

function findQuestion(text: string, from: number): string | undefined {
  let at = text.indexOf(QUESTION_PREFIX, from);
  while (at >= 0 && at > 0 && text[at - 1] !== '\n') at = text.indexOf(QUESTION_PREFIX, at + 1);
  if (at < 0) return undefined;
  const end = text.indexOf('\n', at);
  const question = text.slice(at + QUESTION_PREFIX.length, end < 0 ? text.length : end).trim();
  return question.length > 0 ? question : undefined;
}
