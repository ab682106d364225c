import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createLlamaCppModel } from '../models/providers/llama-cpp.js';
import { createLlamaCppEmbedder } from './llama-cpp.js';
import { EmbeddingError } from './spec.js';

// The committed 260K-parameter story model: its 64-d embeddings mean nothing — a wiring test.
const fixture = fileURLToPath(new URL('../../examples/models/stories260K.gguf', import.meta.url));

const embedder = createLlamaCppEmbedder({ provider: 'local', path: fixture });
afterAll(() => embedder.close());

function norm(vector: Float32Array): number {
  return Math.hypot(...vector);
}

describe('createLlamaCppEmbedder with the stories260K fixture', () => {
  it('loads lazily and takes its dimensions and identity from the model', async () => {
    const lazy = createLlamaCppEmbedder({ provider: 'local', path: fixture });
    expect(lazy.dimensions).toBe(0);
    await lazy.ready();
    expect(lazy.dimensions).toBe(64);
    expect(lazy.id).toBe('llama-cpp:stories260K.gguf:64');
    await lazy.close();
  });

  it('returns deterministic unit vectors, one per text, in order', async () => {
    const texts = ['Once upon a time there was a cat.', 'The dog ran to the park.', 'Once upon a time there was a cat.'];
    const first = await embedder.embed({ texts, kind: 'document' });
    const second = await embedder.embed({ texts: texts.slice(0, 2), kind: 'query' });
    expect(first.tokens).toBe(0);
    expect(first.vectors).toHaveLength(3);
    for (const vector of first.vectors) {
      expect(vector).toHaveLength(64);
      expect(norm(vector)).toBeCloseTo(1, 4);
    }
    expect(Array.from(first.vectors[2])).toEqual(Array.from(first.vectors[0]));
    expect(Array.from(second.vectors[0])).toEqual(Array.from(first.vectors[0]));
    expect(Array.from(second.vectors[1])).toEqual(Array.from(first.vectors[1]));
    expect(Array.from(first.vectors[1])).not.toEqual(Array.from(first.vectors[0]));
  });

  it('serialises concurrent calls and gives each caller its own answers', async () => {
    const [a, b] = await Promise.all([
      embedder.embed({ texts: ['Tom had a red ball.'], kind: 'document' }),
      embedder.embed({ texts: ['Lily liked the sun.'], kind: 'document' }),
    ]);
    const [a2] = (await embedder.embed({ texts: ['Tom had a red ball.'], kind: 'document' })).vectors;
    expect(Array.from(a.vectors[0])).toEqual(Array.from(a2));
    expect(Array.from(b.vectors[0])).not.toEqual(Array.from(a2));
  });

  it('cuts texts longer than the context instead of failing, and embeds empty text as zeros', async () => {
    const small = createLlamaCppEmbedder({ provider: 'local', path: fixture, contextSize: 128 });
    try {
      // ~780 tokens into a 128-token context.
      const long = 'The little bird sang a song. '.repeat(60);
      const [cut] = (await small.embed({ texts: [long], kind: 'document' })).vectors;
      expect(cut).toHaveLength(64);
      expect(norm(cut)).toBeCloseTo(1, 4);
    } finally {
      await small.close();
    }
    const [empty] = (await embedder.embed({ texts: [''], kind: 'document' })).vectors;
    expect(empty).toHaveLength(64);
    expect(Array.from(empty).every((x) => x === 0)).toBe(true);
  });

  it('honours an aborted signal', async () => {
    await expect(embedder.embed({ texts: ['x'], kind: 'query', signal: AbortSignal.abort(new Error('gone')) })).rejects.toThrow('gone');
  });

  it('coexists with a generation port on the same file: either can let go of the shared model', async () => {
    const generator = createLlamaCppModel({ name: 'stories', provider: 'local', path: fixture, threads: 1 });
    try {
      const story = await generator.generate({ messages: [{ role: 'user', content: 'Tell a story.' }], maxOutputTokens: 4 });
      expect(typeof story.text).toBe('string');
      // The embedder keeps working after the generator lets go of its share.
      await generator.close();
      const { vectors } = await embedder.embed({ texts: ['After the story.'], kind: 'query' });
      expect(norm(vectors[0])).toBeCloseTo(1, 4);
    } finally {
      await generator.close();
    }
  });

  it('fails with a non-retryable EmbeddingError naming a missing file, and can retry later', async () => {
    const missing = createLlamaCppEmbedder({ provider: 'local', path: '/nonexistent/model.gguf' });
    const error = await missing.embed({ texts: ['x'], kind: 'query' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingError);
    expect((error as EmbeddingError).retryable).toBe(false);
    expect((error as EmbeddingError).message).toContain('/nonexistent/model.gguf');
    await expect(missing.ready()).rejects.toBeInstanceOf(EmbeddingError);
    await missing.close();
  });

  it('refuses a model whose vector length differs from the configured one', async () => {
    const wrong = createLlamaCppEmbedder({ provider: 'local', path: fixture, dimensions: 384 });
    const error = await wrong.ready().catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(EmbeddingError);
    expect((error as EmbeddingError).message).toMatch(/64-dimensional.*384/);
    await wrong.close();
  });
});
