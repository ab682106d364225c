/**
 * Embeddings: the port (spec.ts), the zero-download built-in embedder, HTTP and local model
 * embedders, and the registry that maps configured names to them.
 */
export { EmbeddingError, type EmbeddingModel, type EmbedRequest, type EmbedResult } from './spec.js';
export { BUILTIN_DEFAULT_DIMENSIONS, createBuiltinEmbedder, type BuiltinEmbedderOptions } from './builtin.js';
export { createOpenAICompatibleEmbedder, type LazyEmbeddingModel, type OpenAICompatibleEmbedderOptions } from './openai-compatible.js';
export { createLlamaCppEmbedder, type LlamaCppEmbedder, type LlamaCppEmbedderOptions } from './llama-cpp.js';
export { BUILTIN_EMBEDDER, createEmbedderRegistry, type EmbedderEntry, type EmbedderRegistry, type EmbedderRegistryConfig } from './registry.js';
