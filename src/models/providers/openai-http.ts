import type { Dispatcher } from 'undici';
import { lazyPackage } from '../../kernel/lazy-package.js';
import type { ProviderConfig } from '../../config/config.js';
import { ModelCallError, type CancelSignal } from '../spec.js';
import { networkFailure, parseRetryAfter, scrub } from './ai-sdk-adapter.js';

/** Loaded when the first pass-through client is made (see lazy-package.ts). */
const undici = lazyPackage<typeof import('undici')>('undici');

/**
 * HTTP to OpenAI-compatible providers for the pass-through provider: one undici Agent (a
 * keep-alive connection pool per provider origin), request bodies forwarded as text, and
 * failures classified into ModelCallErrors so retries, breakers and failover read them like
 * any other model failure.
 */

/** Where and how to reach one OpenAI-compatible provider. */
export interface HttpTarget {
  provider: string;
  origin: string;
  /** Path of base_url, e.g. "/v1"; endpoints are appended to it. */
  basePath: string;
  headers: Record<string, string>;
  apiKey: string | undefined;
}

export type HttpResponse = Dispatcher.ResponseData;

export interface HttpClient {
  /** `signal`: an AbortSignal, or a Cancellation (undici takes anything with `aborted` and an 'abort' event). */
  post(target: HttpTarget, endpoint: string, body: string, signal: CancelSignal | undefined): Promise<HttpResponse>;
  close(): Promise<void>;
}

export function httpTarget(provider: Readonly<ProviderConfig>): HttpTarget {
  if (!provider.base_url) throw new Error(`provider ${provider.name} has no base_url`);
  const url = new URL(provider.base_url);
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(provider.headers ?? {}) };
  if (provider.api_key) headers.authorization = `Bearer ${provider.api_key}`;
  return { provider: provider.name, origin: url.origin, basePath: url.pathname.replace(/\/+$/, ''), headers, apiKey: provider.api_key };
}

export function createHttpClient(options: { timeoutMs: number; connectionsPerOrigin?: number }): HttpClient {
  const agent = new (undici().Agent)({
    connections: options.connectionsPerOrigin ?? 256,
    keepAliveTimeout: 30_000,
    // Time to the response head, and the longest silence between body chunks (streams).
    headersTimeout: options.timeoutMs,
    bodyTimeout: options.timeoutMs,
  });
  return {
    post: (target, endpoint, body, signal) =>
      agent.request({
        origin: target.origin,
        path: target.basePath + endpoint,
        method: 'POST',
        headers: target.headers,
        body,
        signal: signal as AbortSignal | undefined,
      }),
    close: () => agent.close(),
  };
}

/**
 * A non-2xx answer as the failure it is. 400, 413 and 422 refuse the request itself (the
 * caller's own body, passed through): another tier would refuse it too, so no failover.
 */
export async function failureFromStatus(response: HttpResponse, target: HttpTarget, model: string): Promise<ModelCallError> {
  const text = await response.body.text().catch(() => '');
  const status = response.statusCode;
  const detail = providerMessage(text, target.apiKey);
  const ids = { model, provider: target.provider, status };
  if (status === 400 || status === 413 || status === 422) {
    return new ModelCallError({
      ...ids,
      outcome: 'provider_error',
      rejectsRequest: true,
      message: `${target.provider} rejected the request (HTTP ${status}): ${detail}`,
    });
  }
  if (status === 429) {
    const retryAfterMs = parseRetryAfter(flatHeaders(response.headers));
    return new ModelCallError({ ...ids, outcome: 'rate_limited', retryAfterMs, message: `${target.provider} rate-limited the request: HTTP 429` });
  }
  // Auth failures can echo (part of) the key back; never pass their text on.
  const reason = status === 401 || status === 403 ? 'authentication or permission failure (check the provider API key)' : detail;
  return new ModelCallError({ ...ids, outcome: 'provider_error', message: `${target.provider} returned HTTP ${status}: ${reason}` });
}

/** A thrown network failure (refused, reset, timed out) as a ModelCallError. */
export function failureFromError(error: unknown, target: HttpTarget, model: string): ModelCallError {
  const ids = { model, provider: target.provider, cause: error };
  const { errors } = undici();
  if (error instanceof errors.HeadersTimeoutError || error instanceof errors.BodyTimeoutError || error instanceof errors.ConnectTimeoutError) {
    return new ModelCallError({ ...ids, outcome: 'timeout', message: `${target.provider} did not answer in time`, detail: (error as Error).message });
  }
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? `${typeof code === 'string' ? `${code}: ` : ''}${error.message}` : String(error);
  // The tenant reads which provider failed and how, in words; the address and errno go to the log.
  return new ModelCallError({
    ...ids,
    outcome: 'provider_error',
    message: `could not reach ${target.provider}: ${networkFailure(error)}`,
    detail: scrub(message, target.apiKey, 500),
  });
}

function providerMessage(text: string, apiKey: string | undefined): string {
  let message = text;
  try {
    const parsed = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    const error = parsed.error;
    if (typeof error === 'string') message = error;
    else if (typeof error?.message === 'string') message = error.message;
    else if (typeof parsed.message === 'string') message = parsed.message;
  } catch {
    // not JSON: the text itself
  }
  return scrub(message, apiKey);
}

function flatHeaders(headers: HttpResponse['headers']): Record<string, string> {
  const flat: Record<string, string> = {};
  for (const [key, value] of Object.entries(headers)) if (value !== undefined) flat[key] = Array.isArray(value) ? value.join(', ') : value;
  return flat;
}
