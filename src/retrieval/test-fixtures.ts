import type { EmbeddingModel } from '../embeddings/spec.js';

/**
 * A deterministic stand-in embedder for tests: signed feature hashing of lowercase words,
 * L2-normalised. Texts sharing words get similar vectors, which is all the tests need.
 */
export function hashEmbedder(dimensions = 64): EmbeddingModel & { embedOne(text: string): Float32Array } {
  const embedOne = (text: string): Float32Array => {
    const vector = new Float32Array(dimensions);
    for (const word of text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? []) {
      let hash = 0x811c9dc5;
      for (let i = 0; i < word.length; i++) hash = Math.imul(hash ^ word.charCodeAt(i), 0x01000193) >>> 0;
      vector[hash % dimensions] += hash & 0x80000000 ? -1 : 1;
    }
    let norm = 0;
    for (const value of vector) norm += value * value;
    norm = Math.sqrt(norm);
    if (norm > 0) for (let i = 0; i < dimensions; i++) vector[i] /= norm;
    return vector;
  };
  return {
    id: `test:hash:${dimensions}`,
    dimensions,
    embedOne,
    async embed(request) {
      return { vectors: request.texts.map(embedOne), tokens: 0 };
    },
  };
}
