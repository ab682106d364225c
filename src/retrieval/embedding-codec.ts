import { GroundworkError } from '../kernel/errors.js';

/**
 * How embeddings travel into and out of the `vector` column quickly and exactly.
 *
 * Into: PGlite parses float text slowly (pgvector's vector_in costs ~0.5 ms per 384-dim
 * vector under WASM: 1,660 rows/s measured, 32,000 rows/s without the vector), but integers
 * fast. So vectors are unit-normalised, snapped to multiples of 2⁻²⁴, sent as int4[] and
 * scaled in SQL by an exact power of two (11,900 rows/s). Cosine distance is unchanged
 * (<6e-8 per component) and JS can compute the stored float4 values bit for bit, so the
 * writer updates its own in-process index without reading the rows back.
 *
 * Out: `vector_send` (big-endian float4) as base64, decoded into a Float32Array.
 */

const SCALE = 2 ** 24;

/** SQL for the scale vector of a collection's dimension (a literal: it is folded once per statement). */
export function scaleSql(dimensions: number): string {
  if (!Number.isInteger(dimensions) || dimensions < 1) throw new Error(`invalid dimensions ${dimensions}`);
  return `array_fill(5.9604644775390625e-08::real, ARRAY[${dimensions}])::public.vector`;
}

export interface EncodedEmbedding {
  /** int4[] literal of the snapped components × 2²⁴. */
  ints: string;
  /** Exactly the float4 values the database will hold. */
  stored: Float32Array;
}

export function encodeEmbedding(vector: Float32Array): EncodedEmbedding {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i] * vector[i];
  const norm = Math.sqrt(sum);
  if (!Number.isFinite(norm)) {
    throw new GroundworkError('EMBEDDER_UNAVAILABLE', 'the embedder returned a vector with non-finite values', {
      isRetryable: false,
    });
  }
  const stored = new Float32Array(vector.length);
  const ints = new Array<number>(vector.length);
  for (let i = 0; i < vector.length; i++) {
    const snapped = norm === 0 ? 0 : Math.round((vector[i] / norm) * SCALE);
    ints[i] = snapped;
    stored[i] = snapped / SCALE;
  }
  return { ints: `{${ints.join(',')}}`, stored };
}

/** Decodes `encode(vector_send(v), 'base64')`: int16 dimensions, int16 unused, float4[] big-endian. */
export function decodeVectorSend(base64: string): Float32Array {
  const bytes = Buffer.from(base64, 'base64');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dimensions = view.getUint16(0, false);
  const out = new Float32Array(dimensions);
  for (let i = 0; i < dimensions; i++) out[i] = view.getFloat32(4 + 4 * i, false);
  return out;
}
