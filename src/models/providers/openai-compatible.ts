import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import type { ProviderConfig } from '../../config/config.js';
import type { JsonSchema, ModelPort } from '../spec.js';
import { createAiSdkModelPort } from './ai-sdk-adapter.js';

export interface OpenAICompatibleModelOptions {
  /** Configured model name (config `models` key). */
  name: string;
  provider: Readonly<ProviderConfig>;
  /** The server's model id, e.g. "gpt-4o-mini". */
  modelId: string;
  /** Injected in tests; defaults to the global fetch. */
  fetch?: typeof globalThis.fetch;
}

/** A model on any OpenAI chat-completions server (OpenAI, Azure, vLLM, Ollama, llama-server, ...). */
export function createOpenAICompatibleModel(options: OpenAICompatibleModelOptions): ModelPort {
  const { provider } = options;
  if (!provider.base_url) throw new Error(`provider ${provider.name} has no base_url`);
  const sdk = createOpenAICompatible({
    name: provider.name,
    baseURL: provider.base_url,
    apiKey: provider.api_key,
    headers: provider.headers,
    supportsStructuredOutputs: provider.native_structured_output,
    fetch: options.fetch,
  });
  return createAiSdkModelPort(sdk.chatModel(options.modelId), {
    name: options.name,
    providerName: provider.name,
    nativeStructuredOutput: provider.native_structured_output,
    apiKey: provider.api_key,
    // OpenAI rejects strict mode (HTTP 400) for schemas that allow extra or optional
    // properties; for those, send the schema as guidance and let validation catch misses.
    providerOptions: (request) =>
      request.responseFormat?.type === 'json' ? { openaiCompatible: { strictJsonSchema: isStrictCompatible(request.responseFormat.schema) } } : undefined,
  });
}

/** True when every object in the schema closes additionalProperties and requires all its properties. */
export function isStrictCompatible(schema: unknown): boolean {
  if (Array.isArray(schema)) return schema.every(isStrictCompatible);
  if (schema === null || typeof schema !== 'object') return true;
  const node = schema as JsonSchema;
  const properties = node.properties as Record<string, unknown> | undefined;
  if (node.type === 'object' || properties !== undefined) {
    if (node.additionalProperties !== false) return false;
    const required = Array.isArray(node.required) ? node.required : [];
    if (Object.keys(properties ?? {}).some((key) => !required.includes(key))) return false;
  }
  return Object.entries(node).every(([key, value]) => key === 'required' || key === 'enum' || key === 'const' || isStrictCompatible(value));
}
