import { describe, expect, it } from 'vitest';
import type { ModelConfig } from '../config/config.js';
import { costUsd, lookupPrice, priceFor } from './pricing.js';

const model = (overrides: Partial<ModelConfig>): ModelConfig => ({ name: 'm', provider: 'p', ...overrides });

describe('priceFor', () => {
  it('prices well-known models by provider id, including dated snapshots', () => {
    expect(priceFor(model({ name: 'cheap', id: 'gpt-4o-mini' }))).toEqual({ input_per_mtok: 0.15, output_per_mtok: 0.6, known: true });
    expect(priceFor(model({ id: 'gpt-4o-mini-2024-07-18' })).input_per_mtok).toBe(0.15);
    expect(priceFor(model({ id: 'gpt-4o-2024-08-06' })).input_per_mtok).toBe(2.5);
    expect(priceFor(model({ id: 'claude-sonnet-4-5-20250929' })).output_per_mtok).toBe(15);
    expect(priceFor(model({ name: 'claude-3-5-haiku-latest' })).input_per_mtok).toBe(0.8);
  });

  it('lets config override the table', () => {
    const price = priceFor(model({ id: 'gpt-4o', price: { input_per_mtok: 1, output_per_mtok: 2 } }));
    expect(price).toEqual({ input_per_mtok: 1, output_per_mtok: 2, known: true });
  });

  it('reports local and unknown models as unpriced rather than guessing', () => {
    expect(priceFor(model({ name: 'qwen' }), { providerType: 'llama-cpp' })).toEqual({ input_per_mtok: 0, output_per_mtok: 0, known: false });
    expect(priceFor(model({ id: 'my-finetune' })).known).toBe(false);
    // a pricier variant must not inherit its base model's price
    expect(lookupPrice('o3-pro')).toBeUndefined();
    expect(lookupPrice('constructor')).toBeUndefined();
  });
});

describe('costUsd', () => {
  it('charges input and output per million tokens', () => {
    expect(costUsd({ input_per_mtok: 2.5, output_per_mtok: 10 }, { inputTokens: 1_000_000, outputTokens: 500_000 })).toBeCloseTo(7.5);
    expect(costUsd({ input_per_mtok: 0.15, output_per_mtok: 0.6 }, { inputTokens: 1000, outputTokens: 200 })).toBeCloseTo(0.00027);
  });
});
