import type { EmbeddingModel } from '../embeddings/spec.js';
import { toAbortSignal } from '../kernel/cancellation.js';
import { embeddingInputTokens } from '../models/providers/openai-wire.js';
import { ModelCallError, type GenerateRequest, type GenerateResult, type ModelPort } from '../models/spec.js';
import { estimateTokens } from '../models/tokens.js';
import type { EmbeddingsBody } from './wire.js';

/**
 * A built-in or local embedder as a model port that answers OpenAI embeddings bodies, so the
 * gateway's embeddings go through the same router, wrappers and attempt records as chat. It
 * answers with an OpenAI embeddings list (`raw`), vectors in the encoding the body asked for.
 */
export function embedderPort(name: string, provider: string, embedder: () => EmbeddingModel): ModelPort {
  const ids = { model: name, provider };
  const refuse = (message: string) => new ModelCallError({ ...ids, outcome: 'provider_error', rejectsRequest: true, message });
  return {
    ...ids,
    async generate(request: GenerateRequest): Promise<GenerateResult> {
      const wire = request.wire;
      if (wire?.format !== 'openai-embeddings')
        throw new ModelCallError({ ...ids, outcome: 'provider_error', retryable: false, message: `embedder "${name}" answers embeddings requests only` });
      const body = wire.body as EmbeddingsBody;
      const texts = typeof body.input === 'string' ? [body.input] : body.input;
      if (!texts.every((text): text is string => typeof text === 'string')) throw refuse(`embedder "${name}" takes text input, not token arrays`);
      const model = embedder();
      if (body.dimensions !== undefined && body.dimensions !== model.dimensions) {
        throw refuse(`embedder "${name}" returns ${model.dimensions} dimensions; it cannot return ${body.dimensions}`);
      }
      let result;
      try {
        result = await model.embed({ texts, kind: 'document', signal: toAbortSignal(request.signal) });
      } catch (error) {
        if (request.signal?.aborted) throw error;
        throw new ModelCallError({
          ...ids,
          outcome: 'provider_error',
          message: `embedder ${name} failed: ${error instanceof Error ? error.message : String(error)}`,
          cause: error,
        });
      }
      const base64 = body.encoding_format === 'base64';
      const reported = result.tokens > 0 ? result.tokens : undefined;
      const promptTokens = reported ?? embeddingInputTokens(texts, estimateTokens);
      const json = {
        object: 'list',
        data: result.vectors.map((vector, index) => ({ object: 'embedding', index, embedding: base64 ? toBase64(vector) : Array.from(vector) })),
        model: name,
        usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
      };
      return {
        text: '',
        usage: { inputTokens: promptTokens, outputTokens: 0, ...(reported === undefined ? { estimated: true } : {}) },
        finishReason: 'stop',
        ...ids,
        raw: { body: JSON.stringify(json), json },
      };
    },
  };
}

/** OpenAI's base64 encoding: little-endian float32s. */
export function toBase64(vector: ArrayLike<number>): string {
  const floats = vector instanceof Float32Array ? vector : Float32Array.from(vector as ArrayLike<number>);
  return Buffer.from(floats.buffer, floats.byteOffset, floats.byteLength).toString('base64');
}
