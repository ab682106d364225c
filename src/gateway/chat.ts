import type { Principal } from '../auth/principal.js';
import { GroundworkError } from '../kernel/errors.js';
import type { Cancellation } from '../kernel/cancellation.js';
import type { GenerateRequest, GenerateResult, GenerateStream, TokenUsage } from '../models/spec.js';
import { clientGone, coverEach, GatewayRun, noAnswer, reserve, settle, type GatewayContext, type GatewayLogger, type Hold } from './context.js';
import type { Plan } from './targets.js';
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
 * `POST /v1/chat/completions`: the body through the plan's router (src/models/router.ts), the
 * same one task runs use, so tiers fail over, retry, break and are recorded the same way.
 * OpenAI-compatible tiers pass the body through and answer with their own bytes; the others
 * answer it translated into messages, and their answer is written in OpenAI's format here.
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
export type GatewayReply = ({ type: 'json'; runId: string; body: string } | { type: 'stream'; runId: string; pipe(out: StreamOut): Promise<void> }) & {
  /** The tenant is over a soft quota: allowed, and flagged to the client. */
  overSoftQuota?: boolean;
};

export interface GatewayCall {
  principal: Principal;
  body: unknown;
  /** Aborted when the client disconnects: stops the upstream call. */
  disconnect: Cancellation;
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
    throw run.failWith(error);
  }
  run.planned(plan);
  const maxOutputTokens = body.max_completion_tokens ?? body.max_tokens ?? ctx.defaultMaxTokens;
  const hold = await reserve(ctx, { principal: call.principal, run, plan, inputTokens: estimatePromptTokens(body.messages), maxOutputTokens });

  // Translated only when some tier needs messages: a pass-through plan sends the body as it came.
  const request: GenerateRequest = plan.translates ? translated(body) : { messages: [], wire: { format: 'openai-chat', body } };
  request.signal = call.disconnect;
  request.beforeAttempt = coverEach(hold, run, plan);
  request.onAttempt = run.attempt;
  const router = plan.router();
  let reply: GatewayReply;
  try {
    reply = body.stream === true ? streamReply(ctx, call, run, body, await router.stream!(request), hold) : jsonReply(ctx, run, await router.generate(request));
  } catch (error) {
    const answer = noAnswer(error, run, plan, call.disconnect);
    run.fail(answer);
    settle(hold, run);
    throw answer;
  }
  if (reply.type === 'json') settle(hold, run);
  if (hold?.overSoftQuota) reply.overSoftQuota = true;
  return reply;
}

function jsonReply(ctx: GatewayContext, run: GatewayRun, result: GenerateResult): GatewayReply {
  const tier = result.tier ?? 0;
  if (result.raw) {
    // The provider's own bytes go to the client as they came; the record keeps its message.
    const choices = result.raw.json.choices as unknown[];
    const choice = isObject(choices[0]) ? choices[0] : {};
    run.succeed({ tier, model: result.model, output: { message: choice.message, finish_reason: choice.finish_reason } });
    return { type: 'json', runId: run.id, body: result.raw.body };
  }
  const finishReason = finishReasonOf(result.finishReason);
  run.succeed({ tier, model: result.model, output: { message: { role: 'assistant', content: result.text }, finish_reason: finishReason } });
  const frame = { id: `chatcmpl-${run.id}`, created: Math.floor(ctx.deps.now() / 1000), model: result.model };
  return { type: 'json', runId: run.id, body: completionBody({ ...frame, text: result.text, finishReason, usage: wireUsage(result.usage) }) };
}

/** A stream whose first chunk is in hand: the client gets it, and the rest as it comes. */
function streamReply(
  ctx: GatewayContext,
  call: GatewayCall,
  run: GatewayRun,
  body: ChatCompletionBody,
  stream: GenerateStream,
  hold: Hold | undefined,
): GatewayReply {
  const frames = new Frames(
    { id: `chatcmpl-${run.id}`, created: Math.floor(ctx.deps.now() / 1000), model: stream.model },
    body.stream_options?.include_usage === true,
  );
  return {
    type: 'stream',
    runId: run.id,
    async pipe(out) {
      out.open();
      let text = '';
      let said = false; // the provider's own error event reached the client
      let broke: unknown;
      try {
        for await (const chunk of stream.chunks) {
          text += chunk.text;
          if (chunk.error) said = true;
          const events = chunk.raw ?? frames.piece(chunk.text);
          if (events) await out.write(events);
          if (call.disconnect.aborted) break;
        }
      } catch (error) {
        broke = error;
      }
      try {
        const output = { message: { role: 'assistant', content: text } };
        if (call.disconnect.aborted) {
          run.fail(clientGone(call.disconnect.reason), output);
          return;
        }
        if (broke === undefined) {
          const result = stream.result();
          if (frames.started) await out.write(frames.end(result));
          out.end();
          run.succeed({ tier: stream.tier ?? 0, model: stream.model, output: { ...output, finish_reason: finishReasonOf(result.finishReason) } });
          return;
        }
        const reason = broke instanceof Error ? broke.message : String(broke);
        const error = new GroundworkError('MODEL_UNAVAILABLE', `the model's stream broke after it started: ${reason}`, {
          details: { model: stream.model, provider: stream.provider },
          runId: run.id,
        });
        // The provider's own error event already reached the client; otherwise say so explicitly.
        if (!said) await out.write(errorEvent(error));
        out.end();
        run.fail(error, output);
      } finally {
        settle(hold, run);
      }
    },
  };
}

/** OpenAI chunk events for an answer that came as text (a tier that does not speak the wire format). */
class Frames {
  started = false;

  constructor(
    private readonly frame: { id: string; created: number; model: string },
    private readonly includeUsage: boolean,
  ) {}

  /** Events for a piece of text: the role first, then the text word by word. */
  piece(text: string): string {
    const frame = this.withUsage();
    let events = '';
    if (!this.started) {
      this.started = true;
      events += chunkEvent({ ...frame, delta: { role: 'assistant', content: '' }, finishReason: null });
    }
    for (const word of text.match(/\s*\S+\s*/g) ?? []) events += chunkEvent({ ...frame, delta: { content: word }, finishReason: null });
    return events;
  }

  /** The finish, the usage the client asked for, and `[DONE]`. */
  end(result: GenerateResult): string {
    const usage = wireUsage(result.usage);
    let events = chunkEvent({ ...this.withUsage(), delta: {}, finishReason: finishReasonOf(result.finishReason) });
    if (this.includeUsage) events += usageEvent({ ...this.frame, usage });
    return events + DONE_EVENT;
  }

  private withUsage() {
    return this.includeUsage ? { ...this.frame, usage: null } : this.frame;
  }
}

/**
 * The body as a model-port request: OpenAI's messages as system text and turns, and the body
 * itself for the tiers that pass it through. What messages cannot say (tools, tool turns) is
 * noted, so a tier that would have to drop it refuses instead.
 */
export function translated(body: ChatCompletionBody): GenerateRequest {
  let untranslatable: string | undefined = Array.isArray(body.tools) && body.tools.length > 0 ? 'tools' : undefined;
  const system: string[] = [];
  const messages: GenerateRequest['messages'] = [];
  for (const message of body.messages) {
    if (message.role === 'system' || message.role === 'developer') system.push(contentText(message.content));
    else if (message.role === 'user' || message.role === 'assistant') messages.push({ role: message.role, content: contentText(message.content) });
    else untranslatable ??= `"${message.role}" messages`;
  }
  const request: GenerateRequest = { messages, wire: { format: 'openai-chat', body, ...(untranslatable ? { untranslatable } : {}) } };
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

function wireUsage(usage: TokenUsage): WireUsage {
  return { prompt_tokens: usage.inputTokens, completion_tokens: usage.outputTokens, total_tokens: usage.inputTokens + usage.outputTokens };
}
