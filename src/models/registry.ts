import type { Config, ModelConfig, ProviderConfig } from '../config/config.js';
import { priceFor, type ResolvedPrice } from './pricing.js';
import { createAnthropicModel } from './providers/anthropic.js';
import { createOpenAICompatibleModel } from './providers/openai-compatible.js';
import { createHttpClient, httpTarget, type HttpClient, type HttpTarget } from './providers/openai-http.js';
import { createOpenAIPassThrough } from './providers/openai-passthrough.js';
import { createBreaker, withCircuitBreaker, type ProviderBreaker } from './resilience/circuit-breaker.js';
import { withInstrumentation } from './resilience/instrument.js';
import { withRetry } from './resilience/retry.js';
import { withTimeout } from './resilience/timeout.js';
import { createRouter } from './router.js';
import { ModelCallError, type GenerateRequest, type ModelPort } from './spec.js';
import { streamOf } from './stream.js';
import { withStructuredOutput } from './structured-output.js';

/** A local model that holds resources (weights, contexts) until closed. */
export type LocalModel = ModelPort & { close(): Promise<void> };

/** Loads a llama-cpp model; injected in tests, defaults to the node-llama-cpp provider. */
export type LoadLocalModel = (options: { name: string; provider: Readonly<ProviderConfig>; path: string }) => Promise<LocalModel>;

export interface ModelRegistry {
  /**
   * One model with timeout, instrumentation, its provider's circuit breaker and retries. An
   * OpenAI-compatible model also answers wire requests (the gateway's bodies, passed through);
   * any other refuses those it cannot translate (`rejectsRequest`).
   */
  tier(name: string): ModelPort;
  /** The same wrappers around a port built elsewhere (the gateway's embedders), on its provider's breaker. */
  resilient(port: ModelPort): ModelPort;
  /** A wire-only pass-through to `modelId` on an OpenAI-compatible provider, recorded as `name`, with the same wrappers (embedders on such a provider). */
  passThrough(params: { name: string; provider: string; modelId: string }): ModelPort;
  /** The route's models in order, each validating structured output, behind a router. */
  route(modelNames: readonly string[]): ModelPort;
  has(name: string): boolean;
  price(name: string): ResolvedPrice;
  /** The provider's circuit breaker, shared by every caller of that provider (task runs, the gateway). */
  breaker(provider: string): ProviderBreaker;
  /** Releases local models that were loaded. */
  close(): Promise<void>;
}

export interface ModelRegistryOptions {
  fetch?: typeof globalThis.fetch;
  loadLocalModel?: LoadLocalModel;
  /** Built-in engines (provider type "builtin") by model id, e.g. { extractive: () => engine }. */
  builtinModels?: Readonly<Record<string, () => ModelPort>>;
}

// node-llama-cpp (native code, large) is imported only when a local model is first used.
const loadLlamaCpp: LoadLocalModel = async (options) => {
  const { createLlamaCppModel } = await import('./providers/llama-cpp.js');
  return createLlamaCppModel({ name: options.name, provider: options.provider.name, path: options.path });
};

/** Builds models lazily from configuration and caches them; one circuit breaker per provider. */
export function createModelRegistry(config: Pick<Config, 'providers' | 'models' | 'resilience'>, options: ModelRegistryOptions = {}): ModelRegistry {
  const { providers, models, resilience } = config;
  const tiers = new Map<string, ModelPort>();
  const breakers = new Map<string, ProviderBreaker>();
  const locals: ReturnType<typeof lazyLocalModel>[] = [];

  const modelConfig = (name: string): Readonly<ModelConfig> => {
    const model = Object.hasOwn(models, name) ? models[name] : undefined;
    if (!model) throw new Error(`unknown model "${name}" (configured: ${Object.keys(models).join(', ') || 'none'})`);
    return model;
  };
  const providerConfig = (model: Readonly<ModelConfig>): Readonly<ProviderConfig> => {
    const provider = Object.hasOwn(providers, model.provider) ? providers[model.provider] : undefined;
    if (!provider) throw new Error(`model "${model.name}" uses unknown provider "${model.provider}"`);
    return provider;
  };

  // One keep-alive connection pool for every pass-through call, made on first use.
  let http: HttpClient | undefined;
  const httpClient = (): HttpClient => (http ??= createHttpClient({ timeoutMs: resilience.attempt_timeout_ms }));
  const targets = new Map<string, HttpTarget>();
  const passThroughPort = (name: string, provider: Readonly<ProviderConfig>, modelId: string, fallback?: ModelPort): ModelPort => {
    let target = targets.get(provider.name);
    if (!target) targets.set(provider.name, (target = httpTarget(provider)));
    return createOpenAIPassThrough({ name, provider: provider.name, modelId, target, http: httpClient, fallback });
  };

  const createProviderModel = (model: Readonly<ModelConfig>): ModelPort => {
    const provider = providerConfig(model);
    const modelId = model.id ?? model.name;
    switch (provider.type) {
      case 'openai-compatible':
        return passThroughPort(model.name, provider, modelId, createOpenAICompatibleModel({ name: model.name, provider, modelId, fetch: options.fetch }));
      case 'anthropic':
        return createAnthropicModel({ name: model.name, provider, modelId, fetch: options.fetch });
      case 'builtin': {
        const create = options.builtinModels?.[modelId];
        if (!create) throw new Error(`model "${model.name}": no built-in engine "${modelId}"`);
        const engine = create();
        // Runs and costs name models by their configured name, whatever the engine calls itself.
        return {
          provider: provider.name,
          model: model.name,
          generate: async (request) => ({ ...(await engine.generate(request)), model: model.name, provider: provider.name }),
        };
      }
      case 'llama-cpp': {
        if (!model.path) throw new Error(`model "${model.name}" has no path to a .gguf file`);
        const local = lazyLocalModel({ name: model.name, provider, path: model.path }, options.loadLocalModel ?? loadLlamaCpp);
        locals.push(local);
        return local;
      }
    }
  };

  const breakerFor = (provider: string): ProviderBreaker => {
    let breaker = breakers.get(provider);
    if (!breaker) {
      breaker = createBreaker({
        failureRate: resilience.breaker_failure_rate,
        window: resilience.breaker_window,
        minCalls: resilience.breaker_min_calls,
        halfOpenAfterMs: resilience.breaker_half_open_after_ms,
      });
      breakers.set(provider, breaker);
    }
    return breaker;
  };

  const resilient = (base: ModelPort): ModelPort =>
    withRetry(withCircuitBreaker(withInstrumentation(withTimeout(base, resilience.attempt_timeout_ms)), breakerFor(base.provider)), {
      retries: resilience.retries,
      baseMs: resilience.backoff_base_ms,
      maxMs: resilience.backoff_max_ms,
      retryAfterCapMs: resilience.retry_after_cap_ms,
    });

  const tier = (name: string): ModelPort => {
    let port = tiers.get(name);
    if (!port) {
      const model = modelConfig(name);
      const type = providerConfig(model).type;
      port = resilient(createProviderModel(model));
      if (type !== 'openai-compatible') port = refusingWire(port, type);
      tiers.set(name, port);
    }
    return port;
  };

  return {
    tier,
    resilient,
    passThrough: ({ name, provider, modelId }) => {
      const config = Object.hasOwn(providers, provider) ? providers[provider] : undefined;
      if (config?.type !== 'openai-compatible') throw new Error(`provider "${provider}" is not OpenAI-compatible`);
      return resilient(passThroughPort(name, config, modelId));
    },
    route: (modelNames) => createRouter(modelNames.map((name) => withStructuredOutput(tier(name)))),
    has: (name) => Object.hasOwn(models, name),
    breaker: breakerFor,
    price: (name) => {
      const model = modelConfig(name);
      return priceFor(model, { providerType: providerConfig(model).type });
    },
    async close() {
      await Promise.all([...locals.map((local) => local.close()), http?.close()]);
      http = undefined;
    },
  };
}

/**
 * A model that speaks no wire format answers a wire request from its translated `messages`;
 * one whose body says more than messages can (tools) is refused, not silently dropped, and
 * an embeddings body is one it cannot answer at all.
 */
function refusingWire(port: ModelPort, providerType: string): ModelPort {
  const check = (request: GenerateRequest) => {
    const wire = request.wire;
    if (wire === undefined) return;
    const ids = { model: port.model, provider: port.provider };
    if (wire.format === 'openai-embeddings') {
      throw new ModelCallError({
        ...ids,
        outcome: 'provider_error',
        retryable: false,
        message: `model "${port.model}" (provider ${port.provider}, ${providerType}) has no OpenAI-compatible embeddings API`,
      });
    }
    if (wire.untranslatable !== undefined) {
      throw new ModelCallError({
        ...ids,
        outcome: 'provider_error',
        rejectsRequest: true,
        message: `model "${port.model}" (provider ${port.provider}) answers text only: ${wire.untranslatable} need an OpenAI-compatible provider`,
      });
    }
  };
  return {
    provider: port.provider,
    model: port.model,
    async generate(request) {
      check(request);
      return port.generate(request);
    },
    async stream(request) {
      check(request);
      return streamOf(port, request);
    },
  };
}

/** A local model port that loads its weights on first use, not at start-up. */
function lazyLocalModel(args: Parameters<LoadLocalModel>[0], load: LoadLocalModel): ModelPort & { close(): Promise<void> } {
  let loading: Promise<LocalModel> | undefined;
  const ids = { model: args.name, provider: args.provider.name };
  return {
    ...ids,
    async generate(request) {
      loading ??= load(args).catch((error: unknown) => {
        loading = undefined; // let a later run try again (e.g. after the file is fixed)
        throw new ModelCallError({
          ...ids,
          outcome: 'provider_error',
          retryable: false,
          message: `could not load local model ${args.name}: ${error instanceof Error ? error.message : String(error)}`,
          cause: error,
        });
      });
      return (await loading).generate(request);
    },
    async close() {
      const model = await loading?.catch(() => undefined);
      loading = undefined;
      await model?.close();
    },
  };
}
