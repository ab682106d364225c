import { GroundworkError, isGroundworkError } from '../kernel/errors.js';
import { costUsd } from '../models/pricing.js';
import { AttemptRefusedError, ModelCallError, type TokenUsage } from '../models/spec.js';
import { estimateTokens } from '../models/tokens.js';
import type { GatewayCall, GatewayReply } from './chat.js';
import { allTiersFailed, asModelCallError, circuitOpen, cover, GatewayRun, reserve, settle, type GatewayContext } from './context.js';
import type { Plan, Tier } from './targets.js';
import { failureFromError, failureFromStatus, UpstreamClientError } from './upstream.js';
import { isObject, parseEmbeddingsBody, type EmbeddingsBody } from './wire.js';

/**
 * `POST /v1/embeddings`: OpenAI-compatible embedders and models get the body passed through;
 * the built-in and local embedders answer through the embedding port. Vectors are returned
 * in the encoding the client asked for (the official client asks for base64 by default, which
 * not every OpenAI-compatible server honours, so float answers are converted).
 */

export async function embeddings(ctx: GatewayContext, call: GatewayCall): Promise<GatewayReply & { type: 'json' }> {
  const body = parseEmbeddingsBody(call.body);
  const run = new GatewayRun(ctx, call.principal, 'embeddings', body, call.logger);
  let plan: Plan;
  try {
    plan = ctx.plans.embeddings(body.model);
  } catch (error) {
    if (isGroundworkError(error)) run.fail(error);
    throw error;
  }
  const hold = await reserve(ctx, { principal: call.principal, run, plan, inputTokens: reservedInputTokens(body.input), maxOutputTokens: 0 });

  const failures: ModelCallError[] = [];
  for (let index = 0; index < plan.tiers.length && !call.disconnect.aborted; index++) {
    const tier = plan.tiers[index];
    if (index > 0) run.escalate(index - 1, plan.tiers[index - 1], failures[failures.length - 1]);
    const started = performance.now();
    try {
      if (tier.unusable) throw new ModelCallError({ model: tier.name, provider: tier.provider, outcome: 'provider_error', retryable: false, message: tier.unusable });
      if (index > 0) await cover(hold, run, tier);
      const answer = tier.http ? await httpEmbeddings(ctx, call, body, tier) : await portEmbeddings(body, tier, call.disconnect.signal);
      const usage: TokenUsage = answer.tokens === undefined ? { inputTokens: countInputTokens(body.input), outputTokens: 0, estimated: true } : { inputTokens: answer.tokens, outputTokens: 0 };
      run.attempt({ tier: index, model: tier.name, provider: tier.provider, outcome: 'ok', latencyMs: performance.now() - started, usage, costUsd: costUsd(tier.price, usage) });
      run.succeed({ tier: index, model: tier.name, output: { embeddings: answer.count, dimensions: answer.dimensions } });
      settle(ctx, hold, run);
      return { type: 'json', runId: run.id, body: answer.body, ...(hold?.reservation.overSoftQuota ? { overSoftQuota: true } : {}) };
    } catch (error) {
      const refusal = isGroundworkError(error)
        ? error
        : error instanceof AttemptRefusedError && isGroundworkError(error.reason)
          ? error.reason
        : error instanceof UpstreamClientError
          ? new GroundworkError('GATEWAY_REQUEST_INVALID', error.message, { details: { model: tier.name, provider: tier.provider, upstream_status: error.status } })
          : undefined;
      if (refusal) {
        run.fail(refusal);
        settle(ctx, hold, run);
        throw refusal;
      }
      const failure = circuitOpen(error, tier) ?? asModelCallError(error, tier);
      run.attempt({ tier: index, model: tier.name, provider: tier.provider, outcome: failure.outcome, latencyMs: performance.now() - started, error: failure.message, detail: failure.detail });
      failures.push(failure);
    }
  }
  const error = allTiersFailed(run, plan, failures, call.disconnect.aborted);
  run.fail(call.disconnect.aborted ? { code: 'CLIENT_DISCONNECTED', message: 'the client disconnected before an embedder answered' } : error);
  settle(ctx, hold, run);
  throw error;
}

interface EmbeddingsAnswer {
  body: string;
  count: number;
  dimensions: number;
  /** Tokens the provider reported; undefined when it reported none. */
  tokens: number | undefined;
}

async function httpEmbeddings(ctx: GatewayContext, call: GatewayCall, body: EmbeddingsBody, tier: Tier): Promise<EmbeddingsAnswer> {
  const target = tier.http!;
  const text = await ctx.breaker(tier.provider).execute(async () => {
    let response;
    try {
      response = await ctx.upstream.post(target, '/embeddings', JSON.stringify({ ...body, model: tier.modelId }), call.disconnect);
    } catch (error) {
      throw call.disconnect.aborted ? error : failureFromError(error, target, tier.name);
    }
    if (response.statusCode >= 300) throw await failureFromStatus(response, target, tier.name);
    try {
      return await response.body.text();
    } catch (error) {
      throw call.disconnect.aborted ? error : failureFromError(error, target, tier.name);
    }
  });
  let parsed: { data: Array<{ embedding: unknown }>; usage?: { prompt_tokens?: unknown } };
  try {
    parsed = JSON.parse(text);
    if (!isObject(parsed) || !Array.isArray(parsed.data) || !parsed.data.every((item) => isObject(item))) throw new Error('no data');
  } catch {
    throw new ModelCallError({ model: tier.name, provider: tier.provider, outcome: 'provider_error', message: `${tier.provider} sent a response that is not an embeddings list` });
  }
  // Re-encode only when the server ignored the requested encoding.
  const wantsBase64 = body.encoding_format === 'base64';
  let converted = false;
  let dimensions = 0;
  for (const item of parsed.data) {
    const vector = item.embedding;
    if (wantsBase64 && Array.isArray(vector)) {
      item.embedding = toBase64(vector as number[]);
      converted = true;
    } else if (!wantsBase64 && typeof vector === 'string') {
      item.embedding = Array.from(fromBase64(vector));
      converted = true;
    }
    dimensions ||= Array.isArray(vector) ? vector.length : typeof vector === 'string' ? Buffer.byteLength(vector, 'base64') / 4 : 0;
  }
  const tokens = typeof parsed.usage?.prompt_tokens === 'number' ? parsed.usage.prompt_tokens : undefined;
  return { body: converted ? JSON.stringify(parsed) : text, count: parsed.data.length, dimensions, tokens };
}

async function portEmbeddings(body: EmbeddingsBody, tier: Tier, signal: AbortSignal): Promise<EmbeddingsAnswer> {
  const texts = typeof body.input === 'string' ? [body.input] : body.input;
  if (!texts.every((text): text is string => typeof text === 'string')) {
    throw new GroundworkError('GATEWAY_REQUEST_INVALID', `embedder "${tier.name}" takes text input, not token arrays`, { details: { model: tier.name } });
  }
  const embedder = tier.embedder!();
  if (body.dimensions !== undefined && body.dimensions !== embedder.dimensions) {
    throw new GroundworkError('GATEWAY_REQUEST_INVALID', `embedder "${tier.name}" returns ${embedder.dimensions} dimensions; it cannot return ${body.dimensions}`, {
      details: { model: tier.name, dimensions: embedder.dimensions },
    });
  }
  let result;
  try {
    result = await embedder.embed({ texts, kind: 'document', signal });
  } catch (error) {
    throw new ModelCallError({ model: tier.name, provider: tier.provider, outcome: 'provider_error', message: `embedder ${tier.name} failed: ${error instanceof Error ? error.message : String(error)}`, cause: error });
  }
  const base64 = body.encoding_format === 'base64';
  const tokens = result.tokens > 0 ? result.tokens : undefined;
  const promptTokens = tokens ?? countInputTokens(texts);
  return {
    body: JSON.stringify({
      object: 'list',
      data: result.vectors.map((vector, index) => ({ object: 'embedding', index, embedding: base64 ? toBase64(vector) : Array.from(vector) })),
      model: tier.name,
      usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    }),
    count: result.vectors.length,
    dimensions: embedder.dimensions,
    tokens,
  };
}

/** Input tokens to reserve: token arrays counted, texts at a generous 3 characters a token (no tokenizer on the hot path). */
function reservedInputTokens(input: EmbeddingsBody['input']): number {
  return inputTokens(input, (text) => Math.ceil(text.length / 3));
}

/** Input tokens when the provider reported none: texts tokenized. */
function countInputTokens(input: EmbeddingsBody['input']): number {
  return inputTokens(input, estimateTokens);
}

function inputTokens(input: EmbeddingsBody['input'], count: (text: string) => number): number {
  if (typeof input === 'string') return count(input);
  let total = 0;
  for (const item of input) total += typeof item === 'string' ? count(item) : Array.isArray(item) ? item.length : 1;
  return total;
}

/** OpenAI's base64 encoding: little-endian float32s. */
export function toBase64(vector: ArrayLike<number>): string {
  const floats = vector instanceof Float32Array ? vector : Float32Array.from(vector as ArrayLike<number>);
  return Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength).toString('base64');
}

function fromBase64(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  const copy = new Uint8Array(bytes); // aligned for Float32Array
  return new Float32Array(copy.buffer, 0, Math.floor(copy.byteLength / 4));
}
