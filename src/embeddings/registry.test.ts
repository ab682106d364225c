import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProviderConfig } from '../config/config.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { createEmbedderRegistry } from './registry.js';

const fixture = fileURLToPath(new URL('../../examples/models/stories260K.gguf', import.meta.url));

describe('createEmbedderRegistry', () => {
  let mock: MockLlm;
  let providers: Record<string, ProviderConfig>;
  beforeAll(async () => {
    mock = await startMockLlm({ embeddingDimensions: 32 });
    providers = {
      remote: { name: 'remote', type: 'openai-compatible', base_url: mock.url, native_structured_output: true },
      local: { name: 'local', type: 'llama-cpp', native_structured_output: true },
      claude: { name: 'claude', type: 'anthropic', native_structured_output: true },
    };
  });
  afterAll(() => mock.close());

  it('always has the built-in embedder, as the default', async () => {
    const registry = createEmbedderRegistry({ providers: {} });
    expect(registry.names()).toEqual(['builtin']);
    const builtin = registry.get('builtin');
    expect(builtin.id).toMatch(/^builtin:hash-v1:\d+$/);
    expect(registry.get('builtin')).toBe(builtin);
    const { vectors } = await builtin.embed({ texts: ['hello world'], kind: 'query' });
    expect(vectors[0]).toHaveLength(builtin.dimensions);
    await registry.close();
  });

  it('maps configured names to HTTP and local embedders, built on first use', async () => {
    const registry = createEmbedderRegistry({
      providers,
      embedders: {
        small: { provider: 'remote', id: 'text-embedding-3-small' },
        fixed: { provider: 'remote', dimensions: 32 },
        story: { provider: 'local', path: fixture },
      },
    });
    try {
      expect(registry.names()).toEqual(['builtin', 'small', 'fixed', 'story']);
      expect(registry.get('fixed').id).toBe('openai-compatible:remote:fixed:32');

      const small = await registry.ready('small');
      expect(small.dimensions).toBe(32);
      expect(small.id).toBe('openai-compatible:remote:text-embedding-3-small:32');

      const story = await registry.ready('story');
      expect(story.id).toBe('llama-cpp:stories260K.gguf:64');
      const { vectors } = await story.embed({ texts: ['Once upon a time'], kind: 'document' });
      expect(vectors[0]).toHaveLength(64);
    } finally {
      await registry.close();
    }
  });

  it('passes the injected fetch to HTTP embedders', async () => {
    let calls = 0;
    const counting: typeof fetch = (input, init) => {
      calls++;
      return fetch(input, init);
    };
    const registry = createEmbedderRegistry({ providers, embedders: { e: { provider: 'remote' } } }, { fetch: counting });
    await registry.get('e').embed({ texts: ['a', 'b'], kind: 'document' });
    expect(calls).toBe(1);
    await registry.close();
  });

  it('names what is wrong: unknown names, providers without embeddings, missing paths, the reserved name', () => {
    const registry = createEmbedderRegistry({
      providers,
      embedders: { anthropic: { provider: 'claude' }, nofile: { provider: 'local' }, ghost: { provider: 'nowhere' } },
    });
    expect(() => registry.get('missing')).toThrow(/unknown embedder "missing".*builtin, anthropic/);
    expect(() => registry.get('anthropic')).toThrow(/no embeddings API/);
    expect(() => registry.get('nofile')).toThrow(/path/);
    expect(() => registry.get('ghost')).toThrow(/unknown provider "nowhere"/);
    expect(() => createEmbedderRegistry({ providers, embedders: { builtin: { provider: 'remote' } } })).toThrow(/reserved/);
  });
});
