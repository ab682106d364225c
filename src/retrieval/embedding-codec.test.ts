import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../store/database.js';
import type { Database } from '../store/ports.js';
import { decodeVectorSend, encodeEmbedding, scaleSql } from './embedding-codec.js';

describe('embedding codec', () => {
  let db: Database;
  beforeAll(async () => {
    db = await openDatabase({ dataDir: 'memory://', fromTemplate: true });
    await db.exec('CREATE EXTENSION IF NOT EXISTS vector');
  });
  afterAll(async () => {
    await db?.close();
  });

  it('stores exactly the float4 values it predicts, unit length, cosine preserved', async () => {
    const raw = Float32Array.from({ length: 300 }, (_, i) => Math.sin(i * 1.7) * (i % 7) - 0.3);
    const { ints, stored } = encodeEmbedding(raw);
    const [row] = await db.query<{ v: string }>(`SELECT encode(vector_send($1::int4[]::vector * ${scaleSql(300)}), 'base64') AS v`, [ints]);
    expect(decodeVectorSend(row.v)).toEqual(stored);
    let norm = 0;
    let dot = 0;
    let rawNorm = 0;
    for (let i = 0; i < 300; i++) {
      norm += stored[i] * stored[i];
      dot += stored[i] * raw[i];
      rawNorm += raw[i] * raw[i];
      expect(Number.isInteger(stored[i] * 2 ** 24)).toBe(true);
    }
    expect(Math.sqrt(norm)).toBeCloseTo(1, 6);
    expect(dot / Math.sqrt(rawNorm * norm)).toBeCloseTo(1, 9);
  });

  it('keeps a zero vector zero and refuses non-finite values', () => {
    expect(Array.from(encodeEmbedding(new Float32Array(4)).stored)).toEqual([0, 0, 0, 0]);
    expect(() => encodeEmbedding(Float32Array.of(1, Number.NaN))).toThrow(/non-finite/);
  });
});
