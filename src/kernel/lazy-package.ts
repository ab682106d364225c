import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/**
 * A package loaded at its first use instead of at start-up, synchronously (through
 * CommonJS), so call sites stay synchronous. For heavy packages that many processes never
 * touch: an idle `serve` without Redis, webhooks or an OpenAI-compatible pass-through need
 * neither ioredis nor undici, and counts no tokens until it ingests or grounds. Only for
 * packages whose CommonJS build is the one an `import` would load (or that have no other):
 * two copies of a package with classes would break `instanceof` between them.
 */
export function lazyPackage<T>(name: string): () => T {
  let loaded: T | undefined;
  return () => (loaded ??= require(name) as T);
}
