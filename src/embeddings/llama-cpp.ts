/**
 * Embeddings from a local GGUF model through node-llama-cpp, in-process. Nothing loads at
 * construction; the first embed() (or ready()) borrows the process-wide LlamaModel that the
 * generation provider also uses for the same file (one copy in memory), and creates this
 * embedder's own embedding context on it. Calls take turns on that context.
 */
import { basename, resolve } from 'node:path';
import type { LlamaEmbeddingContext, Token } from 'node-llama-cpp';
import type { BorrowedLlamaModel } from '../models/providers/llama-cpp.js';
import { normalizeVector } from './normalize.js';
import type { LazyEmbeddingModel } from './openai-compatible.js';
import { EmbeddingError, type EmbedRequest, type EmbedResult } from './spec.js';
import { messageOf, untilAborted } from '../kernel/abort.js';

export interface LlamaCppEmbedderOptions {
  /** Provider name (config `providers` key), for messages. */
  provider: string;
  /** Path to a .gguf file; resolved against the working directory. */
  path: string;
  /** Expected vector length; checked against the model when it loads. */
  dimensions?: number;
  /** Tokens per input; longer texts are cut. Default min(model's training context, 2048). */
  contextSize?: number;
  /** `false` (default) runs on the CPU; 'auto' lets node-llama-cpp pick a GPU backend. */
  gpu?: false | 'auto';
}

/** A local embedder; close() releases its context and its share of the model. */
export type LlamaCppEmbedder = LazyEmbeddingModel & { close(): Promise<void> };

const DEFAULT_CONTEXT_SIZE = 2048;
/** Room for the BOS/EOS tokens node-llama-cpp adds, below its "must be shorter than the context" check. */
const SPECIAL_TOKEN_ROOM = 3;

interface Loaded {
  borrowed: BorrowedLlamaModel;
  context: LlamaEmbeddingContext;
  contextSize: number;
}

/** Creates a lazily-loaded local embedder. */
export function createLlamaCppEmbedder(options: LlamaCppEmbedderOptions): LlamaCppEmbedder {
  const path = resolve(options.path);
  const file = basename(path);
  let dimensions = options.dimensions ?? 0;
  let loading: Promise<Loaded> | undefined;
  // One evaluation at a time on the context: a FIFO chain of turns.
  let tail: Promise<unknown> = Promise.resolve();

  function load(): Promise<Loaded> {
    loading ??= open().catch((error: unknown) => {
      loading = undefined; // a later call may succeed (file restored, memory freed)
      throw error;
    });
    return loading;
  }

  async function open(): Promise<Loaded> {
    let borrowed: BorrowedLlamaModel;
    try {
      // node-llama-cpp (native, large) loads only when a local embedder is first used.
      const { borrowLlamaModel } = await import('../models/providers/llama-cpp.js');
      borrowed = await borrowLlamaModel({ path, gpu: options.gpu, provider: options.provider });
    } catch (error) {
      throw new EmbeddingError(messageOf(error), { retryable: false, cause: error });
    }
    try {
      const { model } = borrowed;
      if (options.dimensions !== undefined && options.dimensions !== model.embeddingVectorSize) {
        throw new EmbeddingError(`${path} produces ${model.embeddingVectorSize}-dimensional embeddings, but ${options.dimensions} are configured`, {
          retryable: false,
        });
      }
      const contextSize = options.contextSize ?? Math.min(model.trainContextSize, DEFAULT_CONTEXT_SIZE);
      const context = await model.createEmbeddingContext({ contextSize, batchSize: contextSize, threads: borrowed.threads }).catch((error: unknown) => {
        throw new EmbeddingError(`cannot create an embedding context for ${path}: ${messageOf(error)}`, { retryable: false, cause: error });
      });
      dimensions = model.embeddingVectorSize;
      return { borrowed, context, contextSize };
    } catch (error) {
      await borrowed.release();
      throw error;
    }
  }

  /** Runs `fn` after every earlier turn; a caller whose signal aborts stops waiting. */
  function turn<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    const mine = tail.then(() => {
      signal?.throwIfAborted();
      return fn();
    });
    tail = mine.catch(() => undefined);
    return untilAborted(mine, signal);
  }

  async function embedOne(loaded: Loaded, text: string): Promise<Float32Array> {
    const { context, contextSize } = loaded;
    let input: string | Token[] = text;
    if (context.calculateInputLength(text) >= contextSize) {
      input = loaded.borrowed.model.tokenize(text).slice(0, contextSize - SPECIAL_TOKEN_ROOM);
    }
    let vector: readonly number[];
    try {
      vector = (await context.getEmbeddingFor(input)).vector;
    } catch (error) {
      throw new EmbeddingError(`llama.cpp embedding failed for ${path}: ${messageOf(error)}`, { retryable: false, cause: error });
    }
    // node-llama-cpp answers an input with no tokens at all with an empty vector.
    if (vector.length === 0) return new Float32Array(dimensions);
    if (vector.length !== dimensions) {
      throw new EmbeddingError(`${path} returned a ${vector.length}-dimensional embedding, expected ${dimensions}`, { retryable: false });
    }
    return normalizeVector(Float32Array.from(vector));
  }

  return {
    get id() {
      return `llama-cpp:${file}:${dimensions}`;
    },
    get dimensions() {
      return dimensions;
    },

    async embed(request: EmbedRequest): Promise<EmbedResult> {
      const { texts, signal } = request;
      signal?.throwIfAborted();
      const loaded = await untilAborted(load(), signal);
      return turn(signal, async () => {
        const vectors: Float32Array[] = [];
        for (const text of texts) {
          signal?.throwIfAborted();
          vectors.push(await embedOne(loaded, text));
        }
        return { vectors, tokens: 0 };
      });
    },

    async ready(signal?: AbortSignal): Promise<void> {
      await untilAborted(load(), signal);
    },

    async close(): Promise<void> {
      const current = loading;
      loading = undefined;
      if (current === undefined) return;
      const loaded = await current.catch(() => undefined);
      if (loaded === undefined) return;
      // Let in-flight embeddings finish before the context goes away.
      await tail;
      await loaded.context.dispose();
      await loaded.borrowed.release();
    },
  };
}
