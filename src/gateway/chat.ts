import type { Principal } from '../auth/principal.js';
import { GroundworkError, isGroundworkError } from '../kernel/errors.js';
import { costUsd } from '../models/pricing.js';
import { AttemptRefusedError, ModelCallError, type GenerateRequest, type GenerateResult, type TokenUsage } from '../models/spec.js';
import { estimateTokens } from '../models/tokens.js';
import { allTiersFailed, asModelCallError, circuitOpen, cover, GatewayRun, reserve, settle, type GatewayContext, type GatewayLogger, type Hold } from './context.js';
import type { Disconnect } from './disconnect.js';
import { SseRelay } from './sse.js';
import type { Plan, Tier } from './targets.js';
import { failureFromError, failureFromStatus, UpstreamClientError } from './upstream.js';
import {
  chunkEvent,
  completionBody,
  contentText,
  DONE_EVENT,
  errorEvent,
  finishReasonOf,
  isObject,
  parseChatBody,
  usageEvent,
  type ChatCompletionBody,
  type WireMessage,
  type WireUsage,
} from './wire.js';

/**
 * `POST /v1/chat/completions`: the request's route tried tier by tier until one answers.
 * Failover happens only before the first byte goes to the client; a stream that breaks after
 * that ends with an error event and no `[DONE]`.
 */

/** Where a streamed answer is written (the HTTP response, in production). */
export interface StreamOut {
  /** Sends the status and SSE headers: from here on, the call is committed to this tier. */
  open(): void;
  /** Writes SSE text; a returned promise resolves when the client can take more. */
  write(text: string): void | Promise<void>;
  end(): void;
}

/** What the HTTP layer sends: a JSON body, or a stream it opens and hands to `pipe`. */
export type GatewayReply = (
  | { type: 'json'; runId: string; body: string }
  | { type: 'stream'; runId: string; pipe(out: StreamOut): Promise<void> }
) & {
  /** The tenant is over a soft quota: allowed, and flagged to the client. */
  overSoftQuota?: boolean;
};

export interface GatewayCall {
  principal: Principal;
  body: unknown;
  /** Aborted when the client disconnects: stops the upstream call. */
  disconnect: Disconnect;
  /** The request's logger (its lines carry the request id); defaults to the gateway's. */
  logger?: GatewayLogger;
}

const PER_MESSAGE_OVERHEAD = 4;
/**
 * Reservations count input tokens from characters (as the task meter does): generous, so a
 * reservation is not below the real count for ordinary text, and free, where tokenizing
 * costs ~10 µs for a short message and ~40 ns a character (0.5 ms for 13 kB) on the hot path.
 */
const CHARS_PER_TOKEN = 3;

export async function chatCompletions(ctx: GatewayContext, call: GatewayCall): Promise<GatewayReply> {
  const body = parseChatBody(call.body);
  const run = new GatewayRun(ctx, call.principal, 'chat.completions', body, call.logger);
  let plan: Plan;
  try {
    plan = ctx.plans.chat(body.model);
  } catch (error) {
    if (isGroundworkError(error)) run.fail(error);
    throw error;
  }
  const inputTokens = estimatePromptTokens(body.messages);
  const maxOutputTokens = body.max_completion_tokens ?? body.max_tokens ?? ctx.defaultMaxTokens;
  const hold = await reserve(ctx, { principal: call.principal, run, plan, inputTokens, maxOutputTokens });

  const failures: ModelCallError[] = [];
  for (let index = 0; index < plan.tiers.length && !call.disconnect.aborted; index++) {
    const tier = plan.tiers[index];
    if (index > 0) run.escalate(index - 1, plan.tiers[index - 1], failures[failures.length - 1]);
    try {
      if (tier.unusable) throw new ModelCallError({ model: tier.name, provider: tier.provider, outcome: 'provider_error', retryable: false, message: tier.unusable });
      // A later tier is a further call: the hold grows to cover it, or the call ends here (quota).
      if (index > 0 && tier.http) await cover(hold, run, tier);
      const reply = tier.http
        ? await httpTier(ctx, { call, body, run, tier, index })
        : await portTier(ctx, { call, body, run, tier, index, hold });
      if (reply.type === 'json') settle(ctx, hold, run);
      else reply.pipe = settleAfter(reply.pipe, () => settle(ctx, hold, run));
      if (hold?.reservation.overSoftQuota) reply.overSoftQuota = true;
      return reply;
    } catch (error) {
      const refusal = clientRefusal(error, tier);
      if (refusal) {
        run.fail(refusal);
        settle(ctx, hold, run);
        throw refusal;
      }
      const failure = circuitOpen(error, tier) ?? asModelCallError(error, tier);
      // Port tiers report their own attempts (circuit_open included); pass-through and skipped tiers are recorded here.
      if (tier.http || tier.unusable) {
        run.attempt({ tier: index, model: tier.name, provider: tier.provider, outcome: failure.outcome, latencyMs: latencyOf(error), error: failure.message, detail: failure.detail });
      }
      failures.push(failure);
    }
  }
  const error = allTiersFailed(run, plan, failures, call.disconnect.aborted);
  run.fail(call.disconnect.aborted ? { code: 'CLIENT_DISCONNECTED', message: 'the client disconnected before a model answered' } : error);
  settle(ctx, hold, run);
  throw error;
}

interface TierParams {
  call: GatewayCall;
  body: ChatCompletionBody;
  run: GatewayRun;
  tier: Tier;
  index: number;
  hold?: Hold;
}

/** Pass-through to an OpenAI-compatible provider: the body as sent, with the provider's model id. */
async function httpTier(ctx: GatewayContext, params: TierParams): Promise<GatewayReply> {
  const { call, body, run, tier, index } = params;
  const target = tier.http!;
  const stream = body.stream === true;
  const started = performance.now();
  // Always learn usage from streams; the usage-only chunk is dropped again if the client did not ask.
  const upstreamBody = stream
    ? JSON.stringify({ ...body, model: tier.modelId, stream_options: { ...body.stream_options, include_usage: true } })
    : JSON.stringify({ ...body, model: tier.modelId });

  const opened = await ctx.breaker(tier.provider).execute(async () => {
    let response;
    try {
      response = await ctx.upstream.post(target, '/chat/completions', upstreamBody, call.disconnect);
    } catch (error) {
      throw call.disconnect.aborted ? error : withLatency(failureFromError(error, target, tier.name), started);
    }
    if (response.statusCode >= 300) throw withLatency(await failureFromStatus(response, target, tier.name), started);
    try {
      if (!stream) return { text: await response.body.text(), rest: undefined };
      // Wait for the first chunk: a stream that dies before it can still fail over.
      response.body.setEncoding('utf8');
      const rest = response.body[Symbol.asyncIterator]() as AsyncIterator<string>;
      const first = await rest.next();
      if (first.done) throw new ModelCallError({ model: tier.name, provider: tier.provider, outcome: 'provider_error', message: `${tier.provider} ended the stream before sending anything` });
      return { text: first.value, rest };
    } catch (error) {
      response.body.destroy();
      if (call.disconnect.aborted) throw error;
      throw withLatency(error instanceof ModelCallError ? error : failureFromError(error, target, tier.name), started);
    }
  });

  if (!opened.rest) {
    let parsed: { choices?: Array<{ message?: unknown; finish_reason?: unknown }>; usage?: unknown };
    try {
      parsed = JSON.parse(opened.text);
      if (!isObject(parsed) || !Array.isArray(parsed.choices)) throw new Error('no choices');
    } catch {
      throw withLatency(new ModelCallError({ model: tier.name, provider: tier.provider, outcome: 'provider_error', message: `${tier.provider} sent a response that is not a chat completion` }), started);
    }
    const choice = parsed.choices?.[0];
    const usage = usageFrom(parsed.usage) ?? estimatedUsage(body.messages, contentText((choice?.message as WireMessage | undefined)?.content));
    run.attempt({ tier: index, model: tier.name, provider: tier.provider, outcome: 'ok', latencyMs: performance.now() - started, usage, costUsd: costUsd(tier.price, usage) });
    run.succeed({ tier: index, model: tier.name, output: { message: choice?.message, finish_reason: choice?.finish_reason } });
    return { type: 'json', runId: run.id, body: opened.text };
  }

  const rest = opened.rest;
  const relay = new SseRelay(body.stream_options?.include_usage === true);
  return {
    type: 'stream',
    runId: run.id,
    async pipe(out) {
      out.open();
      let broke: unknown;
      try {
        let events = relay.push(opened.text);
        if (events) await out.write(events);
        for (let next = await rest.next(); !next.done; next = await rest.next()) {
          events = relay.push(next.value);
          if (events) await out.write(events);
        }
      } catch (error) {
        broke = error;
      }
      const usage = usageFrom(relay.usage) ?? estimatedUsage(body.messages, relay.text);
      const latencyMs = performance.now() - started;
      const output = { message: { role: 'assistant', content: relay.text } };
      if (call.disconnect.aborted) {
        run.attempt({ tier: index, model: tier.name, provider: tier.provider, outcome: 'ok', latencyMs, usage, costUsd: costUsd(tier.price, usage), error: 'client disconnected' });
        run.fail({ code: 'CLIENT_DISCONNECTED', message: 'the client disconnected during the stream' }, output);
        return;
      }
      const complete = broke === undefined && relay.upstreamError === undefined && (relay.done || relay.finished);
      if (complete) {
        // A finished stream whose server forgot the terminator still gets one.
        if (!relay.done) await out.write(DONE_EVENT);
        out.end();
        run.attempt({ tier: index, model: tier.name, provider: tier.provider, outcome: 'ok', latencyMs, usage, costUsd: costUsd(tier.price, usage) });
        run.succeed({ tier: index, model: tier.name, output });
        return;
      }
      const reason = broke !== undefined ? failureFromError(broke, tier.http!, tier.name).message : relay.upstreamError !== undefined ? `${tier.provider} sent an error event` : `${tier.provider} ended the stream before it finished`;
      const error = new GroundworkError('MODEL_UNAVAILABLE', `the model's stream broke after it started: ${reason}`, { details: { model: tier.name, provider: tier.provider }, runId: run.id });
      // Upstream's own error event already reached the client; otherwise say so explicitly.
      if (relay.upstreamError === undefined) await out.write(errorEvent(error));
      out.end();
      run.attempt({ tier: index, model: tier.name, provider: tier.provider, outcome: 'provider_error', latencyMs, usage, costUsd: costUsd(tier.price, usage), error: reason });
      run.fail(error, output);
    },
  };
}

/** Any other provider: through the model port, translated from and to OpenAI's format. */
async function portTier(ctx: GatewayContext, params: TierParams): Promise<GatewayReply> {
  const { call, body, run, tier, index, hold } = params;
  const request = toGenerateRequest(body, tier);
  const result: GenerateResult = await tier.model!().generate({
    ...request,
    signal: call.disconnect.signal,
    // Every physical call (retries included) is covered by the quota hold before it is made.
    beforeAttempt: () => cover(hold, run, tier),
    onAttempt: (event) =>
      run.attempt({
        tier: index,
        model: tier.name,
        provider: event.provider,
        outcome: event.outcome,
        latencyMs: event.latencyMs,
        usage: event.usage,
        costUsd: event.usage ? costUsd(tier.price, event.usage) : 0,
        error: event.error,
        detail: event.detail,
      }),
  });
  const created = Math.floor(ctx.deps.now() / 1000);
  const id = `chatcmpl-${run.id}`;
  const usage: WireUsage = { prompt_tokens: result.usage.inputTokens, completion_tokens: result.usage.outputTokens, total_tokens: result.usage.inputTokens + result.usage.outputTokens };
  const finishReason = finishReasonOf(result.finishReason);
  run.succeed({ tier: index, model: tier.name, output: { message: { role: 'assistant', content: result.text }, finish_reason: finishReason } });
  if (body.stream !== true) {
    return { type: 'json', runId: run.id, body: completionBody({ id, created, model: tier.name, text: result.text, finishReason, usage }) };
  }
  const includeUsage = body.stream_options?.include_usage === true;
  return {
    type: 'stream',
    runId: run.id,
    async pipe(out) {
      const frame = { id, created, model: tier.name, ...(includeUsage ? { usage: null } : {}) };
      let events = chunkEvent({ ...frame, delta: { role: 'assistant', content: '' }, finishReason: null });
      for (const piece of result.text.match(/\s*\S+\s*/g) ?? []) events += chunkEvent({ ...frame, delta: { content: piece }, finishReason: null });
      events += chunkEvent({ ...frame, delta: {}, finishReason });
      if (includeUsage) events += usageEvent({ id, created, model: tier.name, usage });
      out.open();
      await out.write(events + DONE_EVENT);
      out.end();
    },
  };
}

/** OpenAI messages as a model-port request; what the port cannot express is refused, not dropped. */
export function toGenerateRequest(body: ChatCompletionBody, tier: Pick<Tier, 'name' | 'provider'>): GenerateRequest {
  const unsupported = (what: string) =>
    new GroundworkError('GATEWAY_REQUEST_INVALID', `model "${tier.name}" (provider ${tier.provider}) answers text only: ${what} need an OpenAI-compatible provider`, {
      details: { model: tier.name },
    });
  if (Array.isArray(body.tools) && body.tools.length > 0) throw unsupported('tools');
  const system: string[] = [];
  const messages: GenerateRequest['messages'] = [];
  for (const message of body.messages) {
    if (message.role === 'system' || message.role === 'developer') system.push(contentText(message.content));
    else if (message.role === 'user' || message.role === 'assistant') messages.push({ role: message.role, content: contentText(message.content) });
    else throw unsupported(`"${message.role}" messages`);
  }
  const request: GenerateRequest = { messages };
  if (system.length > 0) request.system = system.join('\n\n');
  const maxTokens = body.max_completion_tokens ?? body.max_tokens;
  if (typeof maxTokens === 'number') request.maxOutputTokens = maxTokens;
  if (typeof body.temperature === 'number') request.temperature = body.temperature;
  const format = body.response_format;
  if (format?.type === 'json_schema' && isObject(format.json_schema?.schema)) {
    request.responseFormat = { type: 'json', schema: format.json_schema.schema, ...(format.json_schema.name ? { name: format.json_schema.name } : {}) };
  } else if (format?.type === 'json_object') {
    request.responseFormat = { type: 'json', schema: { type: 'object' } };
  }
  return request;
}

/** Input tokens of a chat request for its reservation: a generous estimate from characters. */
export function estimatePromptTokens(messages: WireMessage[]): number {
  let total = 3; // every reply is primed with a few tokens
  for (const message of messages) total += PER_MESSAGE_OVERHEAD + Math.ceil(contentText(message.content).length / CHARS_PER_TOKEN);
  return total;
}

/** Input tokens when the provider reported no usage: the tokenizer's count (o200k_base). */
function countPromptTokens(messages: WireMessage[]): number {
  let total = 3;
  for (const message of messages) total += PER_MESSAGE_OVERHEAD + estimateTokens(contentText(message.content));
  return total;
}

function usageFrom(usage: unknown): TokenUsage | undefined {
  if (!isObject(usage) || typeof usage.prompt_tokens !== 'number') return undefined;
  return { inputTokens: usage.prompt_tokens, outputTokens: typeof usage.completion_tokens === 'number' ? usage.completion_tokens : 0 };
}

function estimatedUsage(messages: WireMessage[], text: string): TokenUsage {
  return { inputTokens: countPromptTokens(messages), outputTokens: estimateTokens(text), estimated: true };
}

/** An error that is the request's fault (the provider refused it, or no provider could express it), or a quota refusal: no failover. */
function clientRefusal(error: unknown, tier: Tier): GroundworkError | undefined {
  if (isGroundworkError(error)) return error;
  if (error instanceof AttemptRefusedError && isGroundworkError(error.reason)) return error.reason;
  if (error instanceof UpstreamClientError) {
    return new GroundworkError('GATEWAY_REQUEST_INVALID', error.message, { details: { model: tier.name, provider: tier.provider, upstream_status: error.status } });
  }
  return undefined;
}

const LATENCY = Symbol('latencyMs');

function withLatency<E extends Error>(error: E, started: number): E {
  (error as E & { [LATENCY]?: number })[LATENCY] = performance.now() - started;
  return error;
}

function latencyOf(error: unknown): number {
  return (error as { [LATENCY]?: number } | undefined)?.[LATENCY] ?? 0;
}

function settleAfter(pipe: (out: StreamOut) => Promise<void>, then: () => void): (out: StreamOut) => Promise<void> {
  return async (out) => {
    try {
      await pipe(out);
    } finally {
      then();
    }
  };
}
