/**
 * The OpenAI wire format the mock speaks: chat completions, their SSE chunk stream, errors, and
 * the small node:http helpers that read requests and write replies.
 * Bodies are built whole: the mock has nothing to wait for, and one write per reply keeps its
 * overhead out of the benchmarks that use it.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { MockChatRequest } from './mock-llm-content.js';

/** One finished reply, ready to be framed as JSON or as a stream. */
export interface MockReply {
  id: string;
  created: number;
  model: string;
  content: string;
  finishReason: 'stop' | 'length';
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

/** Characters per content chunk: small enough that clients really reassemble a stream. */
const CHUNK_CHARS = 16;

export function completionBody(reply: MockReply): string {
  return JSON.stringify({
    id: reply.id,
    object: 'chat.completion',
    created: reply.created,
    model: reply.model,
    choices: [{ index: 0, message: { role: 'assistant', content: reply.content }, logprobs: null, finish_reason: reply.finishReason }],
    usage: reply.usage,
  });
}

/** OpenAI's error envelope, so client SDKs surface the message and code as they would for OpenAI. */
export function errorBody(message: string, type: string, code: string | null = null): string {
  return JSON.stringify({ error: { message, type, param: null, code } });
}

export function streamBody(reply: MockReply, includeUsage: boolean): string {
  const head = `{"id":${JSON.stringify(reply.id)},"object":"chat.completion.chunk","created":${reply.created},"model":${JSON.stringify(reply.model)},"choices":`;
  // OpenAI sends usage: null on every chunk when usage was asked for, then one usage-only chunk.
  const tail = includeUsage ? ',"usage":null}' : '}';
  const event = (delta: string, finish: string | null): string =>
    `data: ${head}[{"index":0,"delta":${delta},"logprobs":null,"finish_reason":${finish === null ? 'null' : `"${finish}"`}}]${tail}\n\n`;
  let body = event('{"role":"assistant","content":""}', null);
  const content = reply.content;
  for (let i = 0; i < content.length; i += CHUNK_CHARS) {
    body += event(`{"content":${JSON.stringify(content.slice(i, i + CHUNK_CHARS))}}`, null);
  }
  body += event('{}', reply.finishReason);
  if (includeUsage) body += `data: ${head}[],"usage":${JSON.stringify(reply.usage)}}\n\n`;
  return body + 'data: [DONE]\n\n';
}

/** The request, or a message saying why it is not one. */
export function parseRequest(raw: string): MockChatRequest | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return 'We could not parse the JSON body of your request.';
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as MockChatRequest).messages)) {
    return "'messages' is required and must be an array";
  }
  return parsed as MockChatRequest;
}

export function readBody(req: IncomingMessage, done: (body: string) => void): void {
  let body = '';
  req.setEncoding('utf8');
  req.on('data', (chunk: string) => {
    body += chunk;
  });
  req.on('end', () => done(body));
}

/** Runs `fn` after `ms` unless the client goes away first (no timer outlives its socket). */
export function later(res: ServerResponse, ms: number, fn: () => void): void {
  const timer = setTimeout(fn, ms);
  res.once('close', () => clearTimeout(timer));
}

export function sendJson(res: ServerResponse, status: number, body: string): void {
  // An explicit length avoids chunked framing: one write, and the client needs no extra parsing.
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

export function sendError(res: ServerResponse, status: number, message: string, type: string, code: string | null = null): void {
  sendJson(res, status, errorBody(message, type, code));
}
