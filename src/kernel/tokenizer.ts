import { lazyPackage } from './lazy-package.js';

/**
 * gpt-tokenizer (o200k_base), loaded at its first use: ~0.35 s and ~20 MB of heap (its
 * merge table) that a process which never counts tokens does not pay: `serve` until its first
 * ingestion or grounded run, the gateway's pass-through, most CLI commands. Its CommonJS
 * build holds no classes callers compare, so loading it that way is safe.
 */
export const tokenizer = lazyPackage<typeof import('gpt-tokenizer')>('gpt-tokenizer');
