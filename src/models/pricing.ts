import type { ModelConfig } from '../config/config.js';
import type { TokenUsage } from './spec.js';

/** USD per 1M tokens. */
export interface Price {
  input_per_mtok: number;
  output_per_mtok: number;
}

/** A price and whether it came from config or the table (false: cost is reported as 0). */
export interface ResolvedPrice extends Price {
  known: boolean;
}

/**
 * List prices of well-known hosted models, USD per 1M tokens (standard tier, no caching or
 * batch discounts). Vendors change prices: config `models.<name>.price` overrides this table,
 * and is the way to price anything not listed here.
 */
const PRICE_TABLE: Readonly<Record<string, Price>> = {
  // OpenAI
  'gpt-4o': { input_per_mtok: 2.5, output_per_mtok: 10 },
  'gpt-4o-mini': { input_per_mtok: 0.15, output_per_mtok: 0.6 },
  'gpt-4.1': { input_per_mtok: 2, output_per_mtok: 8 },
  'gpt-4.1-mini': { input_per_mtok: 0.4, output_per_mtok: 1.6 },
  'gpt-4.1-nano': { input_per_mtok: 0.1, output_per_mtok: 0.4 },
  'gpt-5': { input_per_mtok: 1.25, output_per_mtok: 10 },
  'gpt-5-mini': { input_per_mtok: 0.25, output_per_mtok: 2 },
  'gpt-5-nano': { input_per_mtok: 0.05, output_per_mtok: 0.4 },
  o1: { input_per_mtok: 15, output_per_mtok: 60 },
  'o1-mini': { input_per_mtok: 1.1, output_per_mtok: 4.4 },
  o3: { input_per_mtok: 2, output_per_mtok: 8 },
  'o3-mini': { input_per_mtok: 1.1, output_per_mtok: 4.4 },
  'o4-mini': { input_per_mtok: 1.1, output_per_mtok: 4.4 },
  // Anthropic
  'claude-opus-4-5': { input_per_mtok: 5, output_per_mtok: 25 },
  'claude-opus-4-1': { input_per_mtok: 15, output_per_mtok: 75 },
  'claude-opus-4': { input_per_mtok: 15, output_per_mtok: 75 },
  'claude-opus-4-0': { input_per_mtok: 15, output_per_mtok: 75 },
  'claude-sonnet-4-5': { input_per_mtok: 3, output_per_mtok: 15 },
  'claude-sonnet-4': { input_per_mtok: 3, output_per_mtok: 15 },
  'claude-sonnet-4-0': { input_per_mtok: 3, output_per_mtok: 15 },
  'claude-3-7-sonnet': { input_per_mtok: 3, output_per_mtok: 15 },
  'claude-haiku-4-5': { input_per_mtok: 1, output_per_mtok: 5 },
  'claude-3-5-haiku': { input_per_mtok: 0.8, output_per_mtok: 4 },
  'claude-3-haiku': { input_per_mtok: 0.25, output_per_mtok: 1.25 },
};

// Only snapshot suffixes are stripped: a variant such as "o3-pro" or "gpt-5-pro" is priced
// differently from its base model, and "unpriced" is better than a wrong figure.
const SNAPSHOT_SUFFIX = /-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$/;

/** The table entry for a provider model id; dated snapshots ("claude-sonnet-4-5-20250929") match their model. */
export function lookupPrice(modelId: string): Price | undefined {
  const id = modelId.toLowerCase().replace(/^[a-z0-9-]+\//, ''); // "openai/gpt-4o" via gateways
  return tableEntry(id) ?? tableEntry(id.replace(SNAPSHOT_SUFFIX, ''));
}

function tableEntry(key: string): Price | undefined {
  return Object.hasOwn(PRICE_TABLE, key) ? PRICE_TABLE[key] : undefined;
}

/**
 * The price of a configured model: config override, else the table by provider model id.
 * Local (llama-cpp) and unknown models cost 0 with known=false, so reports can say "unpriced".
 */
export function priceFor(model: ModelConfig, options: { providerType?: string } = {}): ResolvedPrice {
  if (model.price) return { ...model.price, known: true };
  if (options.providerType === 'llama-cpp') return { input_per_mtok: 0, output_per_mtok: 0, known: false };
  // Built-in engines run in-process without a model: free, and known to be.
  if (options.providerType === 'builtin') return { input_per_mtok: 0, output_per_mtok: 0, known: true };
  const price = lookupPrice(model.id ?? model.name);
  return price ? { ...price, known: true } : { input_per_mtok: 0, output_per_mtok: 0, known: false };
}

/** Cost in USD of the given usage at the given price. */
export function costUsd(price: Price, usage: TokenUsage): number {
  return (usage.inputTokens * price.input_per_mtok + usage.outputTokens * price.output_per_mtok) / 1_000_000;
}
