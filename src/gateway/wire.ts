import { GroundworkError, type Issue } from '../kernel/errors.js';
import { isObject, type WireMessage, type WireUsage } from '../models/providers/openai-wire.js';

export { contentText, DONE_EVENT, embeddingInputTokens, isObject, type WireMessage, type WireUsage } from '../models/providers/openai-wire.js';

/**
 * OpenAI's wire format as far as the gateway needs to read it. Bodies are checked by hand,
 * field by field, instead of through a schema library: this runs on every request of the
 * hot path, and everything the gateway does not look at passes through untouched.
 */

/** The fields of `POST /v1/chat/completions` the gateway reads; the rest is passed on. */
export interface ChatCompletionBody {
  model: string;
  messages: WireMessage[];
  stream?: boolean;
  stream_options?: { include_usage?: boolean } & Record<string, unknown>;
  max_tokens?: number | null;
  max_completion_tokens?: number | null;
  temperature?: number | null;
  n?: number | null;
  response_format?: { type: string; json_schema?: { name?: string; schema?: Record<string, unknown> } } & Record<string, unknown>;
  tools?: unknown[];
  [field: string]: unknown;
}

/** `POST /v1/embeddings`. */
export interface EmbeddingsBody {
  model: string;
  /** Text, texts, or token arrays (passed through to HTTP providers only). */
  input: string | string[] | number[] | number[][];
  encoding_format?: 'float' | 'base64';
  dimensions?: number;
  [field: string]: unknown;
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool', 'function']);

export function parseChatBody(body: unknown): ChatCompletionBody {
  const issues: Issue[] = [];
  if (!isObject(body)) throw invalid([{ path: 'body', message: 'must be a JSON object' }]);
  checkModel(body.model, issues);
  const messages = body.messages;
  if (!Array.isArray(messages) || messages.length === 0) {
    issues.push({ path: 'messages', message: 'must be a non-empty array of messages' });
  } else {
    for (let i = 0; i < messages.length; i++) {
      const message: unknown = messages[i];
      if (!isObject(message)) {
        issues.push({ path: `messages/${i}`, message: 'must be an object' });
        continue;
      }
      if (typeof message.role !== 'string' || !ROLES.has(message.role)) {
        issues.push({ path: `messages/${i}/role`, message: `must be one of ${[...ROLES].join(', ')}` });
      }
      const content = message.content;
      if (content !== undefined && content !== null && typeof content !== 'string' && !Array.isArray(content)) {
        issues.push({ path: `messages/${i}/content`, message: 'must be a string or an array of content parts' });
      }
    }
  }
  optional(body, 'stream', 'boolean', issues);
  if (body.stream_options !== undefined && body.stream_options !== null && !isObject(body.stream_options)) {
    issues.push({ path: 'stream_options', message: 'must be an object' });
  }
  positiveInt(body, 'max_tokens', issues);
  positiveInt(body, 'max_completion_tokens', issues);
  positiveInt(body, 'n', issues);
  optional(body, 'temperature', 'number', issues);
  if (
    body.response_format !== undefined &&
    body.response_format !== null &&
    (!isObject(body.response_format) || typeof body.response_format.type !== 'string')
  ) {
    issues.push({ path: 'response_format', message: 'must be an object with a type' });
  }
  if (issues.length > 0) throw invalid(issues);
  return body as ChatCompletionBody;
}

/**
 * OpenAI's limits for one `/v1/embeddings` request, enforced before any work: one vector per
 * input, so without them a small body could ask for a huge answer.
 */
export const EMBEDDINGS_LIMITS = { inputs: 2_048, tokensPerInput: 8_192, tokensPerRequest: 300_000 } as const;

/**
 * Tokens an input is counted as, without running a tokenizer on the hot path: a token array
 * by its length; text as ⌈UTF-8 bytes / 3⌉. English, code and most scripts take more than 3
 * bytes a token, so the count is at or above the real tokenizer's and the limits bind early;
 * denser text an upstream counts higher may still be refused by it (its 400 is passed on).
 * Either way the gateway never takes more than 3 bytes of text per counted token.
 */
export function inputTokenBound(input: string | number[]): number {
  return typeof input === 'string' ? Math.ceil(Buffer.byteLength(input, 'utf8') / 3) : input.length;
}

export function parseEmbeddingsBody(body: unknown): EmbeddingsBody {
  const issues: Issue[] = [];
  if (!isObject(body)) throw invalid([{ path: 'body', message: 'must be a JSON object' }]);
  checkModel(body.model, issues);
  const input = body.input;
  const validInput =
    (typeof input === 'string' && input.length > 0) ||
    (Array.isArray(input) &&
      input.length > 0 &&
      (input.every((item) => typeof item === 'string') ||
        input.every((item) => Number.isInteger(item)) ||
        input.every((item) => Array.isArray(item) && item.length > 0 && item.every((token) => Number.isInteger(token)))));
  if (!validInput) issues.push({ path: 'input', message: 'must be a non-empty string, an array of strings, or token arrays' });
  else checkInputLimits(input as EmbeddingsBody['input'], issues);
  if (body.encoding_format !== undefined && body.encoding_format !== 'float' && body.encoding_format !== 'base64') {
    issues.push({ path: 'encoding_format', message: 'must be "float" or "base64"' });
  }
  positiveInt(body, 'dimensions', issues);
  // No embedder returns more (config caps embedders at 16,000 too); an absurd value is not passed on.
  if (typeof body.dimensions === 'number' && body.dimensions > 16_000) issues.push({ path: 'dimensions', message: 'must be at most 16000' });
  if (issues.length > 0) throw invalid(issues);
  return body as EmbeddingsBody;
}

/** Inputs per request, tokens per input and in total (see EMBEDDINGS_LIMITS and inputTokenBound). */
function checkInputLimits(input: EmbeddingsBody['input'], issues: Issue[]): void {
  // A string or one flat token array is a single input.
  const single = typeof input === 'string' || typeof input[0] === 'number';
  const inputs = single ? [input as string | number[]] : (input as string[] | number[][]);
  if (inputs.length > EMBEDDINGS_LIMITS.inputs) {
    issues.push({ path: 'input', message: `must hold at most ${EMBEDDINGS_LIMITS.inputs} inputs; got ${inputs.length}` });
    return;
  }
  let total = 0;
  let oversized = 0;
  for (let i = 0; i < inputs.length; i++) {
    const tokens = inputTokenBound(inputs[i]);
    total += tokens;
    // The first few are named; a thousand issues would only make the answer large.
    if (tokens > EMBEDDINGS_LIMITS.tokensPerInput && oversized++ < 10) {
      issues.push({ path: single ? 'input' : `input/${i}`, message: `must be at most ${EMBEDDINGS_LIMITS.tokensPerInput} tokens; counted ${tokens}` });
    }
  }
  if (total > EMBEDDINGS_LIMITS.tokensPerRequest) {
    issues.push({ path: 'input', message: `must total at most ${EMBEDDINGS_LIMITS.tokensPerRequest} tokens; counted ${total}` });
  }
}

/** A `chat.completion` body for a model that answered through the model port. */
export function completionBody(params: { id: string; created: number; model: string; text: string; finishReason: string; usage: WireUsage }): string {
  return JSON.stringify({
    id: params.id,
    object: 'chat.completion',
    created: params.created,
    model: params.model,
    choices: [{ index: 0, message: { role: 'assistant', content: params.text, refusal: null }, logprobs: null, finish_reason: params.finishReason }],
    usage: params.usage,
  });
}

/** One `chat.completion.chunk` SSE event. */
export function chunkEvent(params: {
  id: string;
  created: number;
  model: string;
  delta: Record<string, unknown>;
  finishReason: string | null;
  usage?: WireUsage | null;
}): string {
  const chunk: Record<string, unknown> = {
    id: params.id,
    object: 'chat.completion.chunk',
    created: params.created,
    model: params.model,
    choices: [{ index: 0, delta: params.delta, logprobs: null, finish_reason: params.finishReason }],
  };
  if (params.usage !== undefined) chunk.usage = params.usage;
  return `data: ${JSON.stringify(chunk)}\n\n`;
}

/** The final usage-only chunk OpenAI sends when `stream_options.include_usage` is set. */
export function usageEvent(params: { id: string; created: number; model: string; usage: WireUsage }): string {
  return `data: ${JSON.stringify({ id: params.id, object: 'chat.completion.chunk', created: params.created, model: params.model, choices: [], usage: params.usage })}\n\n`;
}

/**
 * The event that ends a stream that broke after it started: OpenAI's clients raise an error
 * for a data event carrying `error`, and no `[DONE]` follows, so nobody mistakes the partial
 * answer for a complete one.
 */
export function errorEvent(error: GroundworkError): string {
  return `data: ${JSON.stringify({ error: { code: error.code, message: error.message, details: error.details, type: 'upstream_error' } })}\n\n`;
}

export function finishReasonOf(reason: string): string {
  switch (reason) {
    case 'length':
      return 'length';
    case 'content-filter':
      return 'content_filter';
    case 'tool-calls':
      return 'tool_calls';
    default:
      return 'stop';
  }
}

function invalid(issues: Issue[]): GroundworkError {
  return new GroundworkError('GATEWAY_REQUEST_INVALID', `request body is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
    details: { issues },
  });
}

function checkModel(model: unknown, issues: Issue[]): void {
  if (typeof model !== 'string' || model.length === 0 || model.length > 200) {
    issues.push({ path: 'model', message: 'must name a configured route or model' });
  }
}

function optional(body: Record<string, unknown>, field: string, type: 'boolean' | 'number', issues: Issue[]): void {
  const value = body[field];
  if (value !== undefined && value !== null && typeof value !== type) issues.push({ path: field, message: `must be a ${type}` });
}

function positiveInt(body: Record<string, unknown>, field: string, issues: Issue[]): void {
  const value = body[field];
  if (value !== undefined && value !== null && !(Number.isInteger(value) && (value as number) >= 1)) {
    issues.push({ path: field, message: 'must be a positive integer' });
  }
}
