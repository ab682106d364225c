import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { APICallError, type EmbeddingModelV3 } from '@ai-sdk/provider';
import type { ProviderConfig } from '../config/config.js';
import { networkFailure, parseRetryAfter, scrub } from '../models/providers/ai-sdk-adapter.js';
import { estimateTokens } from '../models/tokens.js';
import { normalizeVector } from './normalize.js';
import { EmbeddingError, type EmbeddingModel, type EmbedRequest, type EmbedResult } from './spec.js';

/**
 * Embeddings from any OpenAI `/v1/embeddings` server (OpenAI, Azure, Ollama, vLLM, llama-server,
 * LM Studio, TEI…). One AI SDK `doEmbed` call per batch, never `embed`/`embedMany`, so retries
 * stay with our resilience layer; every failure becomes an EmbeddingError whose message carries
 * no secret and says whether another try can help.
 */

export interface OpenAICompatibleEmbedderOptions {
  provider: Readonly<ProviderConfig>;
  /** The server's embedding model id, e.g. "text-embedding-3-small" or "nomic-embed-text". */
  modelId: string;
  /**
   * Expected vector length. Without it the first response decides (and `dimensions` reads 0
   * until then: call `ready()` before storing the identity). Not sent to the server.
   */
  dimensions?: number;
  /** Texts per HTTP request; default 64. */
  batchSize?: number;
  /** Injected in tests; defaults to the global fetch. */
  fetch?: typeof globalThis.fetch;
}

/** An embedder whose dimensions may only be known after talking to its backend. */
export type LazyEmbeddingModel = EmbeddingModel & {
  /** Resolves once `dimensions` (and so `id`) are known, discovering them if needed. */
  ready(signal?: AbortSignal): Promise<void>;
};

const DEFAULT_BATCH_SIZE = 64;
/** What `ready()` embeds to learn the vector length. */
const PROBE_TEXT = 'dimension probe';

/** An EmbeddingModel on an OpenAI-compatible server. */
export function createOpenAICompatibleEmbedder(options: OpenAICompatibleEmbedderOptions): LazyEmbeddingModel {
  const { provider, modelId } = options;
  if (!provider.base_url) throw new Error(`provider ${provider.name} has no base_url`);
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 2048) {
    throw new RangeError(`batchSize must be an integer from 1 to 2048, got ${String(batchSize)}`);
  }
  const sdk = createOpenAICompatible({
    name: provider.name,
    baseURL: provider.base_url,
    apiKey: provider.api_key,
    headers: provider.headers,
    fetch: options.fetch,
  });
  const model: EmbeddingModelV3 = sdk.embeddingModel(modelId);
  let dimensions = options.dimensions ?? 0;
  const label = `${provider.name}/${modelId}`;

  async function embedBatch(texts: string[], signal: AbortSignal | undefined): Promise<EmbedResult> {
    let result: Awaited<ReturnType<EmbeddingModelV3['doEmbed']>>;
    try {
      result = await model.doEmbed({ values: texts, abortSignal: signal });
    } catch (error) {
      // The caller's own abort is not a provider failure.
      if (signal?.aborted) throw signal.reason;
      throw toEmbeddingError(error, label, provider.api_key);
    }
    if (result.embeddings.length !== texts.length) {
      throw new EmbeddingError(`${label} returned ${result.embeddings.length} embeddings for ${texts.length} texts`, { retryable: false });
    }
    const vectors = result.embeddings.map((embedding) => {
      if (dimensions === 0 && embedding.length > 0) dimensions = embedding.length;
      if (embedding.length !== dimensions) {
        throw new EmbeddingError(
          `${label} returned a ${embedding.length}-dimensional embedding; this embedder's vectors have ${dimensions} dimensions ` +
            '(did the model behind the endpoint change? vectors of different lengths cannot be compared)',
          { retryable: false },
        );
      }
      if (!embedding.every(Number.isFinite)) {
        throw new EmbeddingError(`${label} returned an embedding with non-finite values`, { retryable: true });
      }
      return normalizeVector(Float32Array.from(embedding));
    });
    const tokens = result.usage?.tokens ?? texts.reduce((sum, text) => sum + estimateTokens(text), 0);
    return { vectors, tokens };
  }

  const embedder: LazyEmbeddingModel = {
    get id() {
      return `openai-compatible:${provider.name}:${modelId}:${dimensions}`;
    },
    get dimensions() {
      return dimensions;
    },
    async embed(request: EmbedRequest): Promise<EmbedResult> {
      const { texts, signal } = request;
      signal?.throwIfAborted();
      const vectors: Float32Array[] = [];
      let tokens = 0;
      for (let start = 0; start < texts.length; start += batchSize) {
        const batch = await embedBatch(texts.slice(start, start + batchSize), signal);
        vectors.push(...batch.vectors);
        tokens += batch.tokens;
      }
      return { vectors, tokens };
    },
    async ready(signal?: AbortSignal): Promise<void> {
      if (dimensions === 0) await embedder.embed({ texts: [PROBE_TEXT], kind: 'document', signal });
    },
  };
  return embedder;
}

/** Same status rules as the chat adapter: 408, 409, 429, 5xx and network failures are retryable. */
function toEmbeddingError(error: unknown, label: string, apiKey: string | undefined): EmbeddingError {
  if (APICallError.isInstance(error)) {
    const status = error.statusCode;
    if (status === undefined) {
      return new EmbeddingError(`could not reach ${label}: ${networkFailure(error)}`, { retryable: true, cause: error });
    }
    if (status === 429) {
      const retryAfterMs = parseRetryAfter(error.responseHeaders);
      const wait = retryAfterMs === undefined ? '' : ` (retry after ${retryAfterMs} ms)`;
      return new EmbeddingError(`${label} rate-limited the request: HTTP 429${wait}`, { retryable: true, cause: error });
    }
    if (status < 400) {
      // A success status with a body the SDK could not read: a proxy or server glitch.
      return new EmbeddingError(`${label} sent an unreadable response (HTTP ${status}): ${scrub(error.message, apiKey)}`, {
        retryable: true,
        cause: error,
      });
    }
    const retryable = status === 408 || status === 409 || status >= 500;
    return new EmbeddingError(`${label} returned HTTP ${status}: ${reasonFor(status, error.message, apiKey)}`, { retryable, cause: error });
  }
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return new EmbeddingError(`${label} embedding call failed: ${scrub(message, apiKey)}`, { retryable: true, cause: error });
}

function reasonFor(status: number, providerMessage: string, apiKey: string | undefined): string {
  // Auth failures can echo (part of) the key back; never pass their text on.
  if (status === 401) return 'authentication failed (check the provider API key)';
  if (status === 403) return 'permission denied for this key or model';
  if (status === 404) return `not found (check the model id and base_url): ${scrub(providerMessage, apiKey)}`;
  return scrub(providerMessage, apiKey);
}
