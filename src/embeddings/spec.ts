/**
 * The embedding port: identity plus one verb, like the model port. Vectors carry the
 * embedder's identity (`id`), stored with every collection, so a collection is never
 * queried with vectors from another embedder. Imports nothing from the project.
 */

export interface EmbedRequest {
  texts: string[];
  /** Some embedders treat queries and documents differently (asymmetric models). */
  kind: 'query' | 'document';
  signal?: AbortSignal;
}

export interface EmbedResult {
  /** One vector per text, each `dimensions` long, L2-normalised. */
  vectors: Float32Array[];
  /** Tokens billed by the provider (0 for local embedders). */
  tokens: number;
}

export interface EmbeddingModel {
  /** Stable identity, e.g. "builtin:hash-v1:384" or "openai:text-embedding-3-small:1536". */
  readonly id: string;
  readonly dimensions: number;
  embed(request: EmbedRequest): Promise<EmbedResult>;
}

/** An embedding call that failed (provider down, bad response); retryable where it makes sense. */
export class EmbeddingError extends Error {
  readonly retryable: boolean;
  constructor(message: string, options: { retryable: boolean; cause?: unknown }) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'EmbeddingError';
    this.retryable = options.retryable;
  }
}
