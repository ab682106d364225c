import type { ProviderConfig } from '../config/config.js';
import { createBuiltinEmbedder } from './builtin.js';
import { createLlamaCppEmbedder } from './llama-cpp.js';
import { createOpenAICompatibleEmbedder } from './openai-compatible.js';
import type { EmbeddingModel } from './spec.js';

/** One configured embedder (config `embedders.<name>`). */
export interface EmbedderEntry {
  /** Provider name (config `providers` key). */
  provider: string;
  /** The provider's embedding model id (HTTP providers); defaults to the embedder's name. */
  id?: string;
  dimensions?: number;
  /** GGUF file (llama-cpp providers). */
  path?: string;
}

export interface EmbedderRegistryConfig {
  providers: Readonly<Record<string, Readonly<ProviderConfig>>>;
  embedders?: Readonly<Record<string, Readonly<EmbedderEntry>>>;
}

/** Embedders by configured name; `builtin` is always there and is the default. */
export interface EmbedderRegistry {
  /** Throws for an unknown name (check names() first where the name comes from a user). */
  get(name: string): EmbeddingModel;
  names(): string[];
  /**
   * The embedder once its `dimensions` and `id` are known: HTTP embedders without configured
   * dimensions learn them from a first call, local ones when the model loads. Read identities
   * through this before storing them.
   */
  ready(name: string, signal?: AbortSignal): Promise<EmbeddingModel>;
  /** Releases local models; the registry is not used afterwards. */
  close(): Promise<void>;
}

export const BUILTIN_EMBEDDER = 'builtin';

type Built = EmbeddingModel & { ready?(signal?: AbortSignal): Promise<void>; close?(): Promise<void> };

/**
 * Builds nothing heavy up front: each configured embedder is constructed on first get(), so a
 * misconfigured one fails where it is used, not at start-up of everything else.
 */
export function createEmbedderRegistry(config: EmbedderRegistryConfig, options: { fetch?: typeof globalThis.fetch } = {}): EmbedderRegistry {
  const entries = config.embedders ?? {};
  if (Object.hasOwn(entries, BUILTIN_EMBEDDER)) throw new Error(`embedder name "${BUILTIN_EMBEDDER}" is reserved for the built-in embedder`);
  const built = new Map<string, Built>();

  function build(name: string, entry: Readonly<EmbedderEntry>): Built {
    const provider = config.providers[entry.provider];
    if (provider === undefined) throw new Error(`embedder ${name}: unknown provider "${entry.provider}"`);
    switch (provider.type) {
      case 'openai-compatible':
        return createOpenAICompatibleEmbedder({ provider, modelId: entry.id ?? name, dimensions: entry.dimensions, fetch: options.fetch });
      case 'llama-cpp':
        if (!entry.path) throw new Error(`embedder ${name}: a llama-cpp embedder needs a path to a .gguf file`);
        return createLlamaCppEmbedder({ provider: provider.name, path: entry.path, dimensions: entry.dimensions });
      default:
        throw new Error(`embedder ${name}: provider "${provider.name}" (${provider.type}) has no embeddings API`);
    }
  }

  function get(name: string): Built {
    let embedder = built.get(name);
    if (embedder === undefined) {
      if (name === BUILTIN_EMBEDDER) embedder = createBuiltinEmbedder();
      else if (Object.hasOwn(entries, name)) embedder = build(name, entries[name]);
      else throw new Error(`unknown embedder "${name}" (configured: ${names().join(', ')})`);
      built.set(name, embedder);
    }
    return embedder;
  }

  function names(): string[] {
    return [BUILTIN_EMBEDDER, ...Object.keys(entries)];
  }

  return {
    get,
    names,
    async ready(name, signal) {
      const embedder = get(name);
      await embedder.ready?.(signal);
      return embedder;
    },
    async close() {
      const closing = [...built.values()].map((embedder) => embedder.close?.());
      built.clear();
      await Promise.all(closing);
    },
  };
}
