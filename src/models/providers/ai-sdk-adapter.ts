import {
  APICallError,
  LoadAPIKeyError,
  type JSONSchema7,
  type LanguageModelV3,
  type LanguageModelV3CallOptions,
  type LanguageModelV3GenerateResult,
  type LanguageModelV3Prompt,
  type SharedV3ProviderOptions,
} from '@ai-sdk/provider';
import { toAbortSignal } from '../../kernel/cancellation.js';
import { estimateRequestTokens, estimateTokens } from '../tokens.js';
import { ModelCallError, type GenerateRequest, type GenerateResult, type JsonSchema, type ModelPort } from '../spec.js';

/**
 * Shared by the HTTP providers: turns our port's request into one AI SDK LanguageModelV3
 * `doGenerate` call (never `generateText`, so retries stay ours), maps the result back and
 * classifies every failure into a ModelCallError whose message carries no secret.
 */

export interface AdapterOptions {
  /** Configured model name (config `models` key). */
  name: string;
  /** Provider name (config `providers` key). */
  providerName: string;
  /** Send the JSON schema to the provider; otherwise instruct JSON in the system prompt. */
  nativeStructuredOutput: boolean;
  /** Only used to scrub the key from error messages. */
  apiKey?: string;
  /** Provider-specific call options, which may depend on the request (e.g. its schema). */
  providerOptions?: (request: GenerateRequest) => SharedV3ProviderOptions | undefined;
}

/** A ModelPort backed by an AI SDK language model. */
export function createAiSdkModelPort(languageModel: LanguageModelV3, options: AdapterOptions): ModelPort {
  return {
    provider: options.providerName,
    model: options.name,
    async generate(request) {
      let result: LanguageModelV3GenerateResult;
      try {
        result = await languageModel.doGenerate(toCallOptions(request, options));
      } catch (error) {
        // The caller's own abort is not a provider failure; the timeout wrapper classifies it.
        if (request.signal?.aborted) throw error;
        throw toModelCallError(error, options);
      }
      return toGenerateResult(result, request, options);
    },
  };
}

/** The system-prompt instruction used where the provider cannot enforce a schema itself. */
export function jsonInstruction(schema: JsonSchema): string {
  return (
    'Reply with only a JSON value that matches the JSON Schema below: no prose, no explanation, ' +
    `no markdown code fences.\nJSON Schema:\n${JSON.stringify(schema)}`
  );
}

function toCallOptions(request: GenerateRequest, options: AdapterOptions): LanguageModelV3CallOptions {
  const format = request.responseFormat;
  const json = format?.type === 'json' ? format : undefined;
  const instructed = json !== undefined && !options.nativeStructuredOutput;
  const system = instructed ? [request.system, jsonInstruction(json.schema)].filter(Boolean).join('\n\n') : request.system;

  const prompt: LanguageModelV3Prompt = [];
  if (system) prompt.push({ role: 'system', content: system });
  for (const message of request.messages) {
    prompt.push({ role: message.role, content: [{ type: 'text', text: message.content }] });
  }
  return {
    prompt,
    maxOutputTokens: request.maxOutputTokens,
    temperature: request.temperature,
    responseFormat: json ? (instructed ? { type: 'json' } : { type: 'json', schema: json.schema as JSONSchema7, name: json.name }) : undefined,
    abortSignal: toAbortSignal(request.signal),
    providerOptions: options.providerOptions?.(request),
  };
}

function toGenerateResult(result: LanguageModelV3GenerateResult, request: GenerateRequest, options: AdapterOptions): GenerateResult {
  const text = result.content.map((part) => (part.type === 'text' ? part.text : '')).join('');
  const reportedInput = result.usage.inputTokens.total;
  const reportedOutput = result.usage.outputTokens.total;
  const estimated = reportedInput === undefined || reportedOutput === undefined;
  return {
    text,
    usage: {
      inputTokens: reportedInput ?? estimateRequestTokens(request),
      outputTokens: reportedOutput ?? estimateTokens(text),
      ...(estimated ? { estimated: true } : {}),
    },
    finishReason: result.finishReason.unified,
    model: options.name,
    provider: options.providerName,
  };
}

/** Classifies an SDK or network failure; see the status rules in the AI SDK's APICallError. */
export function toModelCallError(error: unknown, options: Pick<AdapterOptions, 'name' | 'providerName' | 'apiKey'>): ModelCallError {
  const ids = { model: options.name, provider: options.providerName, cause: error };
  const provider = options.providerName;
  if (APICallError.isInstance(error)) {
    const status = error.statusCode;
    if (status === undefined) {
      return new ModelCallError({
        ...ids,
        outcome: 'provider_error',
        retryable: true,
        message: `could not reach ${provider}: ${networkFailure(error)}`,
        detail: scrub(describeCause(error), options.apiKey, 500),
      });
    }
    if (status === 429) {
      const retryAfterMs = parseRetryAfter(error.responseHeaders);
      const wait = retryAfterMs === undefined ? '' : ` (retry after ${retryAfterMs} ms)`;
      return new ModelCallError({ ...ids, outcome: 'rate_limited', status, retryAfterMs, message: `${provider} rate-limited the request: HTTP 429${wait}` });
    }
    if (status < 400) {
      // A success status with a body the SDK could not read: a proxy or server glitch.
      return new ModelCallError({
        ...ids,
        outcome: 'provider_error',
        status,
        retryable: true,
        message: `${provider} sent an unreadable response (HTTP ${status}): ${scrub(error.message, options.apiKey)}`,
      });
    }
    const retryable = status === 408 || status === 409 || status >= 500;
    return new ModelCallError({
      ...ids,
      outcome: 'provider_error',
      status,
      retryable,
      message: `${provider} returned HTTP ${status}: ${reasonFor(status, error.message, options.apiKey)}`,
    });
  }
  if (LoadAPIKeyError.isInstance(error)) {
    return new ModelCallError({ ...ids, outcome: 'provider_error', retryable: false, message: `no API key configured for provider ${provider}` });
  }
  // Malformed responses and unexpected network failures: worth another try.
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  const network = networkCode(error);
  return new ModelCallError({
    ...ids,
    outcome: 'provider_error',
    retryable: true,
    message: network ? `could not reach ${provider}: ${networkFailure(error)}` : `${provider} call failed: ${scrub(message, options.apiKey)}`,
    detail: scrub(describeCause(error), options.apiKey, 500),
  });
}

/** The first network error code (ECONNREFUSED, UND_ERR_…, CERT_…) in an error's cause chain. */
function networkCode(error: unknown): string | undefined {
  for (
    let current = error, depth = 0;
    current !== null && typeof current === 'object' && depth < 6;
    current = (current as { cause?: unknown }).cause, depth++
  ) {
    const code = (current as { code?: unknown }).code;
    if (
      typeof code === 'string' &&
      /^(E[A-Z]+|UND_ERR_[A-Z_]+|ERR_TLS_[A-Z_]+|CERT_[A-Z_]+|[A-Z_]*CERT[A-Z_]*|DEPTH_ZERO_SELF_SIGNED_CERT|SELF_SIGNED_CERT_IN_CHAIN)$/.test(code)
    )
      return code;
  }
  return undefined;
}

/**
 * A network failure in words, for error bodies and run records: which kind of failure, never
 * the address, port or errno text (those go to the server log as the error's `detail`).
 */
export function networkFailure(error: unknown): string {
  const code = networkCode(error) ?? '';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EAI_NONAME') return 'host name could not be resolved';
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'UND_ERR_SOCKET' || code === 'ECONNABORTED') return 'connection closed unexpectedly';
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT' || code.includes('TIMEOUT')) return 'timed out';
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'ENETDOWN' || code === 'EHOSTDOWN') return 'network unreachable';
  if (code.includes('CERT') || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) return 'TLS failure';
  return 'network failure';
}

/** The messages of an error and its causes, for the log. */
function describeCause(error: unknown): string {
  const parts: string[] = [];
  for (let current = error, depth = 0; current !== undefined && current !== null && depth < 6; current = (current as { cause?: unknown }).cause, depth++) {
    const code = (current as { code?: unknown }).code;
    parts.push(`${typeof code === 'string' ? `${code}: ` : ''}${current instanceof Error ? current.message : String(current)}`);
    if (typeof current !== 'object') break;
  }
  return parts.join(' <- ');
}

function reasonFor(status: number, providerMessage: string, apiKey: string | undefined): string {
  // Auth failures can echo (part of) the key back; never pass their text on.
  if (status === 401) return 'authentication failed (check the provider API key)';
  if (status === 403) return 'permission denied for this key or model';
  if (status === 404) return `not found (check the model id and base_url): ${scrub(providerMessage, apiKey)}`;
  return scrub(providerMessage, apiKey);
}

const SECRET_PATTERNS = [
  // Credentials inside a URL (a base_url with user:password, echoed back by fetch's error).
  /(?<=\/\/)[^/\s:@]+:[^/\s@]+(?=@)/g,
  /\bBearer\s+\S+/gi,
  /\b(?:sk|pk|rk)-[A-Za-z0-9_*.-]{6,}/g,
  /\b(api[_-]?key|authorization|x-api-key)(["'\s:=]+)[^\s"',}]+/gi,
];

// Network detail that must not reach a tenant: IP addresses with their ports, and errno codes.
const NETWORK_DETAIL = [
  /\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b/g,
  /\[[0-9a-f:.]*:[0-9a-f:.]*\](?::\d{1,5})?/gi,
  /(?<![\w:])[0-9a-f:]*::[0-9a-f:.]*(?![\w:])/gi,
  /\b(?:connect|getaddrinfo|read|write)\s+E[A-Z]+\b/g,
  /\bE(?:CONN[A-Z]+|ADDR[A-Z]+|HOST[A-Z]+|NET[A-Z]+|AI_[A-Z]+|TIMEDOUT|PIPE|NOTFOUND)\b/g,
];

/**
 * Removes anything key-like (and, unless for the log, addresses and errno codes) and bounds
 * the length of a provider-supplied message.
 */
export function scrub(text: string, apiKey?: string, maxLength = 200): string {
  let out = text;
  if (apiKey && apiKey.length >= 4) out = out.split(apiKey).join('[redacted]');
  for (const pattern of SECRET_PATTERNS) {
    out = out.replace(pattern, (match, label?: string, sep?: string) =>
      typeof label === 'string' && typeof sep === 'string' ? `${label}${sep}[redacted]` : '[redacted]',
    );
  }
  // Messages shown to tenants (the default length) keep no network detail; log details (longer) do.
  if (maxLength <= 200) for (const pattern of NETWORK_DETAIL) out = out.replace(pattern, '[network detail]');
  out = out.replace(/\s+/g, ' ').trim();
  return out.length > maxLength ? `${out.slice(0, maxLength - 3)}...` : out || 'no details';
}

/** Reads `retry-after-ms` (OpenAI) or `retry-after` (seconds or an HTTP date) into milliseconds. */
export function parseRetryAfter(headers: Record<string, string> | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  const lower: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) lower[key.toLowerCase()] = value;

  const ms = Number.parseFloat(lower['retry-after-ms'] ?? '');
  if (Number.isFinite(ms) && ms >= 0) return Math.ceil(ms);

  const value = lower['retry-after']?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Math.ceil(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
