import { describe, expect, it } from 'vitest';
import { estimateRequestTokens, estimateTokens } from './tokens.js';

describe('estimateTokens', () => {
  it('counts o200k tokens, zero for empty text', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('hello world')).toBe(2);
    expect(estimateTokens('word '.repeat(100))).toBeGreaterThanOrEqual(100);
  });

  it('treats special-token look-alikes in model text as text instead of throwing', () => {
    expect(estimateTokens('before <|endoftext|> after')).toBeGreaterThan(3);
  });
});

describe('estimateRequestTokens', () => {
  it('counts the system prompt, every message and the JSON schema', () => {
    const base = { messages: [{ role: 'user' as const, content: 'Summarise this ticket please' }] };
    const withSystem = { ...base, system: 'You are a careful support agent.' };
    const withSchema = { ...withSystem, responseFormat: { type: 'json' as const, schema: { type: 'object', properties: { summary: { type: 'string' } } } } };

    const a = estimateRequestTokens(base);
    const b = estimateRequestTokens(withSystem);
    const c = estimateRequestTokens(withSchema);
    expect(a).toBeGreaterThan(estimateTokens('Summarise this ticket please'));
    expect(b).toBeGreaterThan(a);
    expect(c).toBeGreaterThan(b);
  });
});
