import { estimateTokens } from '../tokens.js';
import {
  ModelCallError,
  type FinishReason,
  type GenerateRequest,
  type GenerateResult,
  type GenerateStream,
  type ModelPort,
  type StreamChunk,
  type TokenUsage,
} from '../spec.js';
import { failureFromError, failureFromStatus, type HttpClient, type HttpResponse, type HttpTarget } from './openai-http.js';
import { SseRelay } from './openai-sse.js';
import { contentText, DONE_EVENT, embeddingInputTokens, isObject, type WireMessage, type WireUsage } from './openai-wire.js';

/**
 * An OpenAI-compatible model that also speaks OpenAI's wire format: a request that carries the
 * caller's own body (`request.wire`, the gateway's) is sent as it is, with this model's id, and
 * answered with the provider's own bytes (`raw`, or the stream's server-sent events as they
 * come). A request without one (task runs, `ask`) goes to `fallback`, the AI SDK model. Either
 * way it sits behind the same wrappers as every provider (timeout, instrumentation, breaker,
 * retries) and under the same router, so a pass-through call fails over and is recorded like
 * any other model call.
 *
 * Written by hand, not through the AI SDK: a pass-through must forward fields the SDK does not
 * model (tools, logprobs, vendor extensions) and relay the stream byte for byte, and the SDK's
 * parse-and-rebuild cost more than the rest of the gateway (bench:gateway).
 */

export interface PassThroughOptions {
  /** Configured model name (config `models` key, or an embedder's name). */
  name: string;
  provider: string;
  /** The provider's model id, sent in place of the caller's `model`. */
  modelId: string;
  target: HttpTarget;
  /** The shared connection pool (made on first use). */
  http: () => HttpClient;
  /** Answers requests that carry no wire body. */
  fallback?: ModelPort;
}

/** Per prompt message, as OpenAI counts chat formatting. */
const PER_MESSAGE_OVERHEAD = 4;

export function createOpenAIPassThrough(options: PassThroughOptions): ModelPort {
  const { name, provider, modelId, target } = options;
  const ids = { model: name, provider };

  const failure = (message: string) => new ModelCallError({ ...ids, outcome: 'provider_error', message });

  async function send(request: GenerateRequest, endpoint: string, body: string): Promise<HttpResponse> {
    let response;
    try {
      response = await options.http().post(target, endpoint, body, request.signal);
    } catch (error) {
      // The caller's own abort is not a provider failure; the timeout wrapper classifies it.
      throw request.signal?.aborted ? error : failureFromError(error, target, name);
    }
    if (response.statusCode >= 300) throw await failureFromStatus(response, target, name);
    return response;
  }

  async function answerText(request: GenerateRequest, response: HttpResponse): Promise<string> {
    try {
      return await response.body.text();
    } catch (error) {
      throw request.signal?.aborted ? error : failureFromError(error, target, name);
    }
  }

  /** The body sent with this tier's model id; the answer read, parsed and checked to be `what`, or a provider_error. */
  async function answerJson(
    request: GenerateRequest,
    endpoint: string,
    body: Record<string, unknown>,
    what: string,
    valid: (json: Record<string, unknown>) => boolean,
  ): Promise<{ text: string; json: Record<string, unknown> }> {
    const text = await answerText(request, await send(request, endpoint, JSON.stringify({ ...body, model: modelId })));
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    if (!isObject(json) || !valid(json)) throw failure(`${provider} sent a response that is not ${what}`);
    return { text, json };
  }

  async function chat(request: GenerateRequest, body: Record<string, unknown>): Promise<GenerateResult> {
    const { text, json } = await answerJson(request, '/chat/completions', body, 'a chat completion', (answer) => Array.isArray(answer.choices));
    const choice: unknown = (json.choices as unknown[])[0];
    const message = isObject(choice) && isObject(choice.message) ? (choice.message as WireMessage) : undefined;
    const answer = contentText(message?.content);
    return {
      text: answer,
      usage: usageFrom(json.usage) ?? estimatedUsage(body.messages, answer),
      finishReason: finishReasonFrom(isObject(choice) ? choice.finish_reason : undefined),
      ...ids,
      raw: { body: text, json },
    };
  }

  async function embed(request: GenerateRequest, body: Record<string, unknown>): Promise<GenerateResult> {
    const { text, json } = await answerJson(
      request,
      '/embeddings',
      body,
      'an embeddings list',
      (answer) => Array.isArray(answer.data) && answer.data.every(isObject),
    );
    const reported = isObject(json.usage) && typeof json.usage.prompt_tokens === 'number' ? json.usage.prompt_tokens : undefined;
    const usage: TokenUsage =
      reported === undefined
        ? { inputTokens: embeddingInputTokens(body.input, estimateTokens), outputTokens: 0, estimated: true }
        : { inputTokens: reported, outputTokens: 0 };
    return { text: '', usage, finishReason: 'stop', ...ids, raw: { body: text, json } };
  }

  async function streamChat(request: GenerateRequest, body: Record<string, unknown>): Promise<GenerateStream> {
    const asked = isObject(body.stream_options) ? body.stream_options : undefined;
    // Always learn usage from the stream; the usage-only chunk is dropped again if the caller did not ask.
    const sent = JSON.stringify({ ...body, model: modelId, stream: true, stream_options: { ...asked, include_usage: true } });
    const response = await send(request, '/chat/completions', sent);
    response.body.setEncoding('utf8');
    const upstream = response.body[Symbol.asyncIterator]() as AsyncIterator<string>;
    const relay = new SseRelay(asked?.include_usage === true);

    // Read up to the first whole event: a stream that dies (or only reports an error) before
    // it can still fail over, because nothing has reached the caller yet.
    let first = '';
    try {
      while (first === '') {
        const next = await upstream.next();
        if (next.done) throw failure(`${provider} ended the stream before sending anything`);
        first = relay.push(next.value);
        if (relay.upstreamError !== undefined && relay.text === '') throw failure(`${provider} sent an error event before any answer`);
      }
    } catch (error) {
      response.body.destroy();
      throw request.signal?.aborted || error instanceof ModelCallError ? error : failureFromError(error, target, name);
    }

    async function* chunks(): AsyncGenerator<StreamChunk> {
      let finished = false;
      try {
        yield { text: relay.text, raw: first };
        for (let next = await upstream.next(); !next.done; next = await upstream.next()) {
          const before = relay.text.length;
          const erred = relay.upstreamError !== undefined;
          const raw = relay.push(next.value);
          if (raw !== '') yield { text: relay.text.slice(before), raw, ...(!erred && relay.upstreamError !== undefined ? { error: true } : {}) };
        }
        finished = true;
      } catch (error) {
        // Stopped by the caller (it went away): the stream simply ends.
        if (request.signal?.aborted) return;
        throw failure(`the stream broke after it started: ${failureFromError(error, target, name).message}`);
      } finally {
        if (!finished) response.body.destroy();
      }
      if (relay.upstreamError !== undefined) throw failure(`${provider} sent an error event`);
      if (!relay.done && !relay.finished) throw failure(`${provider} ended the stream before it finished`);
      // A finished stream whose server forgot the terminator still gets one.
      if (!relay.done) yield { text: '', raw: DONE_EVENT };
    }

    return {
      ...ids,
      chunks: chunks(),
      result: () => ({
        text: relay.text,
        usage: usageFrom(relay.usage) ?? estimatedUsage(body.messages, relay.text),
        finishReason: finishReasonFrom(relay.finishReason),
        ...ids,
      }),
    };
  }

  const fallback = (): ModelPort => {
    if (!options.fallback) throw failure(`model "${name}" answers OpenAI wire requests only`);
    return options.fallback;
  };

  const generate = (request: GenerateRequest): Promise<GenerateResult> => {
    const wire = request.wire;
    if (wire === undefined) return fallback().generate(request);
    return wire.format === 'openai-chat' ? chat(request, wire.body) : embed(request, wire.body);
  };

  return {
    ...ids,
    generate,
    stream: (request) =>
      request.wire?.format === 'openai-chat'
        ? streamChat(request, request.wire.body)
        : generate(request).then((result) => ({ ...ids, chunks: one({ text: result.text }), result: () => result })),
  };
}

async function* one(chunk: StreamChunk): AsyncGenerator<StreamChunk> {
  yield chunk;
}

function usageFrom(usage: unknown): TokenUsage | undefined {
  if (!isObject(usage) || typeof usage.prompt_tokens !== 'number') return undefined;
  const wire = usage as unknown as WireUsage;
  return { inputTokens: wire.prompt_tokens, outputTokens: typeof wire.completion_tokens === 'number' ? wire.completion_tokens : 0 };
}

/** Usage when the provider reported none: the prompt and the answer tokenized (o200k_base). */
function estimatedUsage(messages: unknown, answer: string): TokenUsage {
  let inputTokens = 3; // every reply is primed with a few tokens
  if (Array.isArray(messages)) {
    for (const message of messages)
      inputTokens += PER_MESSAGE_OVERHEAD + (isObject(message) ? estimateTokens(contentText((message as WireMessage).content)) : 0);
  }
  return { inputTokens, outputTokens: estimateTokens(answer), estimated: true };
}

function finishReasonFrom(reason: unknown): FinishReason {
  switch (reason) {
    case 'stop':
    case undefined:
    case null:
      return 'stop';
    case 'length':
      return 'length';
    case 'content_filter':
      return 'content-filter';
    case 'tool_calls':
    case 'function_call':
      return 'tool-calls';
    default:
      return 'other';
  }
}
