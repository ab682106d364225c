/**
 * `POST /v1/embeddings` for the mock model server, in OpenAI's wire format. Vectors are a
 * deterministic bag of hashed words, so equal texts get equal vectors and texts sharing words
 * point the same way (enough for retrieval tests to rank), with no model behind them.
 */

/** The parsed body of `POST /v1/embeddings` (only the fields the mock looks at are typed). */
export interface MockEmbeddingRequest {
  model?: string;
  input: string[];
  /** OpenAI's shortening option (text-embedding-3); overrides the server's default length. */
  dimensions?: number;
}

/** The request, or a message saying why it is not one. */
export function parseEmbeddingRequest(raw: string): MockEmbeddingRequest | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return 'We could not parse the JSON body of your request.';
  }
  if (typeof parsed !== 'object' || parsed === null) return "'input' is required";
  const body = parsed as Record<string, unknown>;
  const input = typeof body.input === 'string' ? [body.input] : body.input;
  if (!Array.isArray(input) || input.length === 0 || !input.every((item) => typeof item === 'string')) {
    return "'input' must be a string or a non-empty array of strings";
  }
  const dimensions = body.dimensions;
  // Bounded like a real provider's (text-embedding-3-large tops out at 3,072): an absurd value
  // must be a 400, not an allocation that takes the test process down.
  if (
    dimensions !== undefined &&
    dimensions !== null &&
    !(Number.isInteger(dimensions) && (dimensions as number) >= 1 && (dimensions as number) <= MAX_DIMENSIONS)
  ) {
    return `'dimensions' must be an integer from 1 to ${MAX_DIMENSIONS}`;
  }
  return {
    model: typeof body.model === 'string' ? body.model : undefined,
    input: input as string[],
    dimensions: typeof dimensions === 'number' ? dimensions : undefined,
  };
}

/** A 200 body with one embedding per input, in input order, and usage at ~4 characters a token. */
export function embeddingsBody(request: MockEmbeddingRequest, defaultDimensions: number): string {
  const dimensions = request.dimensions ?? defaultDimensions;
  const tokens = request.input.reduce((sum, text) => sum + Math.ceil(text.length / 4), 0);
  return JSON.stringify({
    object: 'list',
    data: request.input.map((text, index) => ({ object: 'embedding', index, embedding: mockEmbedding(text, dimensions) })),
    model: request.model ?? 'mock-embedding',
    usage: { prompt_tokens: tokens, total_tokens: tokens },
  });
}

/** The "malformed" fault for embeddings: a 200 whose JSON breaks off mid-vector. */
export function malformedEmbeddingsBody(request: MockEmbeddingRequest, defaultDimensions: number): string {
  const body = embeddingsBody(request, defaultDimensions);
  return body.slice(0, Math.max(1, Math.floor(body.length / 2)));
}

/**
 * Each lower-cased word adds ±1 to a hashed coordinate, then the vector is scaled to unit length.
 * A text with no words gets a pseudo-random unit vector seeded by its characters (never zeros,
 * which a real model does not return either).
 */
/** The largest `dimensions` the mock accepts. */
export const MAX_DIMENSIONS = 3_072;

export function mockEmbedding(text: string, dimensions: number): number[] {
  const vector = new Array<number>(dimensions).fill(0);
  const words = text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
  for (const word of words) {
    const h = fnv1a(word);
    vector[(h >>> 1) % dimensions] += h & 1 ? 1 : -1;
  }
  // Also when the words cancel out in their buckets.
  if (!vector.some((x) => x !== 0)) {
    let state = fnv1a(text);
    for (let i = 0; i < dimensions; i++) {
      state = fnv1a(String(state));
      vector[i] = (state / 0xffffffff) * 2 - 1;
    }
  }
  const norm = Math.sqrt(vector.reduce((sum, x) => sum + x * x, 0));
  // Rounded like real APIs' float output, and so the JSON stays short.
  return vector.map((x) => Math.round((x / norm) * 1e6) / 1e6);
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 16777619);
  return h >>> 0;
}
