import type { GenerateRequest } from './spec.js';
import { tokenizer } from '../kernel/tokenizer.js';

/**
 * Token estimates for when a provider reports no usage (some OpenAI-compatible servers,
 * local models). o200k_base is exact for current OpenAI models and close enough for
 * others to keep cost and budget figures honest; results carry `usage.estimated`.
 */

// Model text may legitimately contain strings like "<|endoftext|>"; count them as text
// instead of letting the tokenizer throw.
const COUNT_OPTIONS = { disallowedSpecial: new Set<string>() };

/** Chat formats wrap each message in a few control tokens. */
const PER_MESSAGE_OVERHEAD = 4;

/** Estimated token count of a piece of text. */
export function estimateTokens(text: string): number {
  if (text.length === 0) return 0;
  return tokenizer().countTokens(text, COUNT_OPTIONS);
}

/** Estimated input tokens of a request: system prompt, messages and any JSON schema sent. */
export function estimateRequestTokens(request: GenerateRequest): number {
  let total = 0;
  if (request.system) total += estimateTokens(request.system) + PER_MESSAGE_OVERHEAD;
  for (const message of request.messages) total += estimateTokens(message.content) + PER_MESSAGE_OVERHEAD;
  if (request.responseFormat?.type === 'json') total += estimateTokens(JSON.stringify(request.responseFormat.schema));
  return total;
}
