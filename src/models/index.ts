/** The models context: the port, providers behind it, resilience wrappers, routing, pricing. */
export * from './spec.js';
export { createModelRegistry, type LoadLocalModel, type LocalModel, type ModelRegistry, type ModelRegistryOptions } from './registry.js';
export { createRouter } from './router.js';
export { withStructuredOutput, parseJson, extractJson, type StructuredOutputOptions } from './structured-output.js';
export { withRetry, retryDelay, type RetryOptions } from './resilience/retry.js';
export { abortableSleep } from '../kernel/abort.js';
export { withCircuitBreaker, createBreaker, type ProviderBreaker } from './resilience/circuit-breaker.js';
export { withTimeout } from './resilience/timeout.js';
export { withInstrumentation, safeEmit } from './resilience/instrument.js';
export { createOpenAICompatibleModel, type OpenAICompatibleModelOptions } from './providers/openai-compatible.js';
export { createAnthropicModel, type AnthropicModelOptions } from './providers/anthropic.js';
export { jsonInstruction } from './providers/ai-sdk-adapter.js';
export { priceFor, costUsd, lookupPrice, type Price, type ResolvedPrice } from './pricing.js';
export { estimateTokens, estimateRequestTokens } from './tokens.js';
