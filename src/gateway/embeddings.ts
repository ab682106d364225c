import type { GenerateResult } from '../models/spec.js';
import type { GatewayCall, GatewayReply } from './chat.js';
import { coverEach, GatewayRun, noAnswer, reserve, settle, type GatewayContext } from './context.js';
import { toBase64 } from './embedder-port.js';
import type { Plan } from './targets.js';
import { embeddingInputTokens, isObject, parseEmbeddingsBody } from './wire.js';

/**
 * `POST /v1/embeddings`: the body through the plan's router, like a chat completion.
 * OpenAI-compatible embedders and models get it passed through; the built-in and local
 * embedders answer it through the embedding port (embedder-port.ts). Vectors are returned
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
    throw run.failWith(error);
  }
  run.planned(plan);
  // Texts at a generous 3 characters a token (no tokenizer on the hot path), token arrays counted.
  const hold = await reserve(ctx, {
    principal: call.principal,
    run,
    plan,
    inputTokens: embeddingInputTokens(body.input, (text) => Math.ceil(text.length / 3)),
    maxOutputTokens: 0,
  });

  let result: GenerateResult;
  try {
    result = await plan.router().generate({
      messages: [],
      wire: { format: 'openai-embeddings', body },
      signal: call.disconnect,
      beforeAttempt: coverEach(hold, run, plan),
      onAttempt: run.attempt,
    });
  } catch (error) {
    const answer = noAnswer(error, run, plan, call.disconnect);
    run.fail(answer);
    settle(hold, run);
    throw answer;
  }
  const answer = inEncoding(result, body.encoding_format === 'base64');
  run.succeed({ tier: result.tier ?? 0, model: result.model, output: { embeddings: answer.count, dimensions: answer.dimensions } });
  settle(hold, run);
  return { type: 'json', runId: run.id, body: answer.body, ...(hold?.overSoftQuota ? { overSoftQuota: true } : {}) };
}

/** The answer's list with every vector in the asked encoding; re-encoded only when the server ignored it. */
function inEncoding(result: GenerateResult, wantsBase64: boolean): { body: string; count: number; dimensions: number } {
  const json = result.raw?.json ?? {};
  const data = Array.isArray(json.data) ? (json.data as Array<Record<string, unknown>>) : [];
  let converted = false;
  let dimensions = 0;
  for (const item of data) {
    if (!isObject(item)) continue;
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
  return { body: converted || result.raw === undefined ? JSON.stringify(json) : result.raw.body, count: data.length, dimensions };
}

function fromBase64(text: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  const copy = new Uint8Array(bytes); // aligned for Float32Array
  return new Float32Array(copy.buffer, 0, Math.floor(copy.byteLength / 4));
}
