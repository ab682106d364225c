import { createAnthropic } from '@ai-sdk/anthropic';
import type { ProviderConfig } from '../../config/config.js';
import type { ModelPort } from '../spec.js';
import { createAiSdkModelPort } from './ai-sdk-adapter.js';

export interface AnthropicModelOptions {
  /** Configured model name (config `models` key). */
  name: string;
  provider: Readonly<ProviderConfig>;
  /** Anthropic model id, e.g. "claude-sonnet-4-5". */
  modelId: string;
  /** Injected in tests; defaults to the global fetch. */
  fetch?: typeof globalThis.fetch;
}

/** A model on the Anthropic Messages API (or a server speaking it). */
export function createAnthropicModel(options: AnthropicModelOptions): ModelPort {
  const { provider } = options;
  const sdk = createAnthropic({
    // An explicit (possibly empty) key stops the SDK from reading ANTHROPIC_API_KEY itself:
    // configuration is the only place that reads the environment.
    apiKey: provider.api_key ?? '',
    baseURL: provider.base_url,
    headers: provider.headers,
    fetch: options.fetch,
  });
  return createAiSdkModelPort(sdk.messages(options.modelId), {
    name: options.name,
    providerName: provider.name,
    // With a schema the SDK picks Anthropic's native output format or a forced JSON tool.
    nativeStructuredOutput: provider.native_structured_output,
    apiKey: provider.api_key,
  });
}
