/**
 * The pieces of OpenAI's wire format that both the pass-through provider and the gateway
 * read: message content, usage, the stream terminator. The gateway's request parsing and
 * response building live in src/gateway/wire.ts and import these.
 */

/** A message of a chat completions request; content is text or OpenAI's array of parts. */
export interface WireMessage {
  role: string;
  content?: string | Array<{ type?: string; text?: string } & Record<string, unknown>> | null;
  [field: string]: unknown;
}

/** OpenAI's usage object. */
export interface WireUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

export const DONE_EVENT = 'data: [DONE]\n\n';

/** The text of a message's content (text parts joined; other parts contribute nothing). */
export function contentText(content: WireMessage['content']): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let text = '';
  for (const part of content) if (isObject(part) && typeof part.text === 'string') text += part.text;
  return text;
}

/** An embeddings input's tokens: its texts counted with `count`, token arrays by length. */
export function embeddingInputTokens(input: unknown, count: (text: string) => number): number {
  if (typeof input === 'string') return count(input);
  if (!Array.isArray(input)) return 0;
  let total = 0;
  for (const item of input) total += typeof item === 'string' ? count(item) : Array.isArray(item) ? item.length : 1;
  return total;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
