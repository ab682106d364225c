import { describe, expect, it } from 'vitest';
import { BUILTIN_DEFAULT_DIMENSIONS, createBuiltinEmbedder } from './builtin.js';

const embedder = createBuiltinEmbedder();

async function vectors(...texts: string[]): Promise<Float32Array[]> {
  return (await embedder.embed({ texts, kind: 'document' })).vectors;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += a[i] * b[i];
  return dot;
}

function norm(vector: Float32Array): number {
  return Math.sqrt(cosine(vector, vector));
}

describe('createBuiltinEmbedder', () => {
  it('names its algorithm and length in its identity', () => {
    expect(embedder.dimensions).toBe(BUILTIN_DEFAULT_DIMENSIONS);
    expect(embedder.id).toBe(`builtin:hash-v1:${BUILTIN_DEFAULT_DIMENSIONS}`);
    const small = createBuiltinEmbedder({ dimensions: 384 });
    expect(small.id).toBe('builtin:hash-v1:384');
    expect(() => createBuiltinEmbedder({ dimensions: 0 })).toThrow(RangeError);
    expect(() => createBuiltinEmbedder({ dimensions: 12.5 })).toThrow(RangeError);
  });

  it('returns one unit vector of the configured length per text, billing no tokens', async () => {
    const small = createBuiltinEmbedder({ dimensions: 384 });
    const result = await small.embed({ texts: ['Aspirin lowers the risk of stroke.', 'Mitochondria make ATP.'], kind: 'query' });
    expect(result.tokens).toBe(0);
    expect(result.vectors).toHaveLength(2);
    for (const vector of result.vectors) {
      expect(vector).toBeInstanceOf(Float32Array);
      expect(vector).toHaveLength(384);
      expect(norm(vector)).toBeCloseTo(1, 5);
    }
  });

  it('is deterministic across calls and across embedder instances (stored vectors stay valid)', async () => {
    const text = 'Vitamin D supplementation reduces fracture risk in elderly women.';
    const [first] = await vectors(text);
    const [again] = await vectors(text);
    const [fresh] = (await createBuiltinEmbedder().embed({ texts: [text], kind: 'query' })).vectors;
    expect(Array.from(again)).toEqual(Array.from(first));
    expect(Array.from(fresh)).toEqual(Array.from(first));
  });

  it('puts related texts closer than unrelated ones', async () => {
    const [query, related, unrelated] = await vectors(
      'Smoking increases the risk of lung cancer.',
      'Lung cancer risk among smokers is much higher than among people who never smoked.',
      'The central bank raised interest rates to curb inflation in the housing market.',
    );
    expect(cosine(query, related)).toBeGreaterThan(cosine(query, unrelated) + 0.1);
  });

  it('keeps morphological variants and typos close (stems and character n-grams)', async () => {
    const [base, inflected, typo, compound, other] = await vectors(
      'regulation of inflammation',
      'regulating inflammatory',
      'regulaton of inflamation',
      'osteoinductive',
      'quarterly earnings',
    );
    const [inductive] = await vectors('inductive');
    expect(cosine(base, inflected)).toBeGreaterThan(0.3);
    expect(cosine(base, typo)).toBeGreaterThan(0.3);
    expect(cosine(base, other)).toBeLessThan(0.15);
    expect(cosine(compound, inductive)).toBeGreaterThan(0.3);
  });

  it('ignores case, accents composition and stopwords', async () => {
    const [a, b, c] = await vectors('The Café of the Cells', 'café cells', 'cafe\u0301 CELLS');
    expect(cosine(a, b)).toBeCloseTo(1, 5);
    expect(cosine(b, c)).toBeCloseTo(1, 5);
  });

  it('gives text without content words the zero vector, never NaN', async () => {
    for (const vector of await vectors('', '   ', 'the of and', '!!! ---')) {
      expect(vector).toHaveLength(BUILTIN_DEFAULT_DIMENSIONS);
      expect(vector.every((x) => x === 0)).toBe(true);
    }
  });

  it('handles long and odd input: huge texts, very long tokens, non-Latin scripts', async () => {
    const huge = Array.from({ length: 20_000 }, (_, i) => `word${i}`).join(' ');
    const [big, long, greek, short] = await vectors(huge, 'x'.repeat(10_000), 'κυτταρικός θάνατος', 'cells');
    for (const vector of [big, long, greek, short]) expect(norm(vector)).toBeCloseTo(1, 5);
    // The table that grew for the huge text does not leak into the next one.
    const [again] = await vectors('cells');
    expect(Array.from(again)).toEqual(Array.from(short));
  });

  it('embeds large batches in order, honouring an abort between texts', async () => {
    const texts = Array.from({ length: 300 }, (_, i) => `chunk number ${i} about protein folding and cell ${i % 7}`);
    const { vectors: all } = await embedder.embed({ texts, kind: 'document' });
    expect(all).toHaveLength(300);
    const [single] = await vectors(texts[257]);
    expect(Array.from(all[257])).toEqual(Array.from(single));

    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(embedder.embed({ texts, kind: 'document', signal: controller.signal })).rejects.toThrow('stop');
  });

  it('embeds ~200-token chunks quickly (sanity bound only; see builtin.eval.ts for throughput)', async () => {
    const chunk = 'Alterations of the architecture of cerebral white matter in the developing human brain can affect cortical development. '.repeat(10);
    const texts = Array.from({ length: 500 }, (_, i) => `${chunk} ${i}`);
    const started = performance.now();
    await embedder.embed({ texts, kind: 'document' });
    // Generous for shared CI machines: the measured rate is well above 5,000 chunks/s.
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
