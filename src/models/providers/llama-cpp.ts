/**
 * Local GGUF models run in-process through node-llama-cpp.
 *
 * Nothing heavy happens at construction. The first generate() loads, and shares process-wide:
 * one Llama binding per gpu setting, one LlamaModel per (gpu, absolute path), and one context per
 * (model, contextSize, threads). Models and contexts are refcounted by the ports using them;
 * close() releases a port's share and the last user disposes them.
 *
 * Prompting: a model whose GGUF metadata carries a chat template (`tokenizer.chat_template`) is
 * driven through LlamaChat with the chat wrapper node-llama-cpp resolves from that template. A model
 * without one (base/story models such as the stories260K fixture) gets a plain completion over a
 * "System / User: / Assistant:" transcript, stopped at the next "\nUser:". We do not use
 * node-llama-cpp's guessed wrapper for template-less models: for a llama-architecture file it
 * guesses Llama2Chat ([INST] tags), which a base model has never seen.
 */
import { open, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import {
  getLlama,
  LlamaLogLevel,
  LlamaChat,
  LlamaCompletion,
  type ChatHistoryItem,
  type Llama,
  type LlamaContext,
  type LlamaGrammar,
  type LlamaModel,
} from 'node-llama-cpp';
import { ModelCallError, type FinishReason, type GenerateRequest, type GenerateResult, type JsonSchema, type ModelPort } from '../spec.js';
import { toGrammarSchema } from './llama-grammar.js';
import { untilAborted, messageOf } from '../../kernel/abort.js';
import { toAbortSignal } from '../../kernel/cancellation.js';

/** Options for one configured local model. */
export interface LlamaCppModelParams {
  /** Configured model name (config `models` key). */
  name: string;
  /** Provider name (config `providers` key). */
  provider: string;
  /** Path to a .gguf file; resolved against the working directory. */
  path: string;
  /** Context window in tokens; default min(model's training context, 2048). */
  contextSize?: number;
  /** CPU threads for evaluation; default the machine's math cores (see `defaultThreads`). */
  threads?: number;
  /** `false` (default) runs on the CPU; 'auto' lets node-llama-cpp pick CUDA/Vulkan/Metal if present. */
  gpu?: false | 'auto';
}

/**
 * A ModelPort backed by a local GGUF file. close() releases this port's share of the model and
 * context (disposed when no other port uses them); a later generate() loads them again.
 */
export type LlamaCppModel = ModelPort & { close(): Promise<void> };

const DEFAULT_CONTEXT_SIZE = 2048;
const TINY_MODEL_BYTES = 64 * 1024 * 1024;
const USER_TURN = '\nUser:';

/** Creates a lazily-loaded local model port. */
export function createLlamaCppModel(params: LlamaCppModelParams): LlamaCppModel {
  const path = resolve(params.path);
  const gpu = params.gpu ?? false;
  const ids = { model: params.name, provider: params.provider };
  let handle: Promise<Runner> | undefined;

  // Local failures (bad file, no memory, native error) do not get better by retrying at once.
  const fail = (message: string, cause?: unknown) => new ModelCallError({ outcome: 'provider_error', message, retryable: false, cause, ...ids });

  function acquire(): Promise<Runner> {
    handle ??= acquireRunner({ path, gpu, contextSize: params.contextSize, threads: params.threads, fail }).catch((error: unknown) => {
      handle = undefined; // a later call may succeed (file restored, memory freed)
      throw error;
    });
    return handle;
  }

  return {
    provider: params.provider,
    model: params.name,

    async generate(request: GenerateRequest): Promise<GenerateResult> {
      const signal = toAbortSignal(request.signal);
      signal?.throwIfAborted();
      const runner = await untilAborted(acquire(), signal);
      return runner.lock.run(signal, async () => {
        try {
          const format = request.responseFormat;
          const options: GenerateOptions = {
            grammar: format?.type === 'json' ? await grammarFor(runner.shared, format.schema) : undefined,
            signal,
            maxTokens: request.maxOutputTokens,
            temperature: request.temperature ?? 0,
          };
          const out = runner.chatTemplate ? await generateChat(runner, request, options) : await generateCompletion(runner, request, options);
          return {
            text: out.text,
            usage: { inputTokens: out.inputTokens, outputTokens: out.outputTokens },
            finishReason: out.finishReason,
            ...ids,
          };
        } catch (error) {
          if (signal?.aborted) throw signal.reason;
          if (error instanceof ModelCallError) throw error;
          throw fail(`llama.cpp generation failed for ${path}: ${messageOf(error)}`, error);
        }
      });
    },

    async close(): Promise<void> {
      const current = handle;
      handle = undefined;
      if (current === undefined) return;
      const runner = await current.catch(() => undefined);
      if (runner !== undefined) await releaseRunner(runner);
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Generation

interface GenerateOptions {
  grammar: LlamaGrammar | undefined;
  signal: AbortSignal | undefined;
  maxTokens: number | undefined;
  temperature: number;
}

interface GenerateOutput {
  text: string;
  inputTokens: number;
  outputTokens: number;
  finishReason: FinishReason;
}

/** Plain completion for models without a chat template. */
async function generateCompletion(runner: Runner, request: GenerateRequest, options: GenerateOptions): Promise<GenerateOutput> {
  const { model } = runner.shared;
  const prompt = completionPrompt(request);
  const bos = model.tokens.shouldPrependBosToken && model.tokens.bos !== null ? 1 : 0;
  const inputTokens = bos + model.tokenize(prompt).length;
  const maxTokens = fitOutput(runner, inputTokens, options.maxTokens);
  let generated = 0;
  const response = await runner.completion().generateCompletionWithMeta(prompt, {
    ...options,
    maxTokens,
    // No silent context shift: when the window is full we stop and report 'length'.
    disableContextShift: true,
    customStopTriggers: options.grammar ? undefined : [USER_TURN],
    onToken: (tokens) => (generated += tokens.length),
  });
  return toOutput(model, response, { inputTokens, generated, grammar: options.grammar });
}

/** Chat through the model's own template. */
async function generateChat(runner: Runner, request: GenerateRequest, options: GenerateOptions): Promise<GenerateOutput> {
  const { model } = runner.shared;
  const chat = runner.chat();
  const history: ChatHistoryItem[] = [];
  if (request.system) history.push({ type: 'system', text: request.system });
  for (const message of request.messages) {
    history.push(message.role === 'user' ? { type: 'user', text: message.content } : { type: 'model', response: [message.content] });
  }
  // A trailing assistant message is a prefill the model continues.
  if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] });
  const inputTokens = chat.chatWrapper.generateContextState({ chatHistory: history }).contextText.tokenize(model.tokenizer).length;
  const maxTokens = fitOutput(runner, inputTokens, options.maxTokens);
  let generated = 0;
  const response = await chat.generateResponse(history, {
    ...options,
    maxTokens,
    onToken: (tokens) => (generated += tokens.length),
  });
  return toOutput(model, response, { inputTokens, generated, grammar: options.grammar });
}

function toOutput(
  model: LlamaModel,
  response: { response: string; metadata: { stopReason: string } },
  counts: { inputTokens: number; generated: number; grammar: LlamaGrammar | undefined },
): GenerateOutput {
  const text = response.response.trim();
  return {
    text,
    inputTokens: counts.inputTokens,
    outputTokens: outputTokenCount(model, text, counts.generated),
    finishReason: finishReason(response.metadata.stopReason, text, counts.grammar),
  };
}

/**
 * 'length' when maxTokens cut the answer. Under a JSON grammar the limit can land on the trailing
 * newlines the grammar uses as its stop trigger, after the JSON is already complete: that is 'stop'.
 */
function finishReason(stopReason: string, text: string, grammar: LlamaGrammar | undefined): FinishReason {
  if (stopReason !== 'maxTokens') return 'stop';
  if (grammar === undefined) return 'length';
  try {
    JSON.parse(text);
    return 'stop';
  } catch {
    return 'length';
  }
}

function completionPrompt(request: GenerateRequest): string {
  const lines: string[] = [];
  if (request.system) lines.push(request.system.trim(), '');
  for (const message of request.messages) {
    lines.push(`${message.role === 'user' ? 'User' : 'Assistant'}: ${message.content.trim()}`);
  }
  // A trailing assistant message is a prefill the model continues.
  if (request.messages.at(-1)?.role !== 'assistant') lines.push('Assistant:');
  return lines.join('\n');
}

/** The prompt must fit whole: node-llama-cpp would otherwise silently cut its beginning (the system prompt). */
function fitOutput(runner: Runner, inputTokens: number, requested: number | undefined): number {
  const room = runner.context.contextSize - inputTokens;
  if (room < 1) {
    throw runner.fail(`prompt of ${inputTokens} tokens does not fit the ${runner.context.contextSize}-token context of ${runner.shared.path}`);
  }
  return requested === undefined ? room : Math.max(1, Math.min(requested, room));
}

/**
 * Tokens the model actually sampled (onToken), which is what maxTokens counts; a re-tokenization of
 * the text can differ by merges. Falls back to re-tokenizing if the callback saw nothing.
 */
function outputTokenCount(model: LlamaModel, text: string, generated: number): number {
  return generated > 0 ? generated : model.tokenize(text).length;
}

// ---------------------------------------------------------------------------------------------
// Structured output: JSON Schema → node-llama-cpp grammar

const MAX_CACHED_GRAMMARS = 256;

/** Cached per schema object (schemas are treated as immutable) and per converted schema text. */
async function grammarFor(shared: SharedLlama, schema: JsonSchema): Promise<LlamaGrammar> {
  const byObject = shared.grammarsByObject.get(schema);
  if (byObject) return byObject;
  const gbnfSchema = toGrammarSchema(schema);
  const key = JSON.stringify(gbnfSchema);
  let grammar = shared.grammarsByKey.get(key);
  if (grammar === undefined) {
    grammar = shared.llama.createGrammarForJsonSchema(gbnfSchema as never).then(
      (g): LlamaGrammar => g,
      // Should not happen after toGrammarSchema; still, any JSON beats failing the call.
      () => shared.llama.getGrammarFor('json'),
    );
    if (shared.grammarsByKey.size >= MAX_CACHED_GRAMMARS) {
      shared.grammarsByKey.delete(shared.grammarsByKey.keys().next().value as string);
    }
    shared.grammarsByKey.set(key, grammar);
  }
  shared.grammarsByObject.set(schema, grammar);
  return grammar;
}

// ---------------------------------------------------------------------------------------------
// Process-wide sharing of the binding, models and contexts

interface SharedLlama {
  llama: Llama;
  grammarsByObject: WeakMap<object, Promise<LlamaGrammar>>;
  grammarsByKey: Map<string, Promise<LlamaGrammar>>;
}

interface SharedModel extends SharedLlama {
  model: LlamaModel;
  path: string;
}

interface Runner {
  key: string;
  modelKey: string;
  shared: SharedModel;
  context: LlamaContext;
  chatTemplate: boolean;
  /** One sequence per context: calls take turns. */
  lock: Lock;
  completion(): LlamaCompletion;
  chat(): LlamaChat;
  fail(message: string, cause?: unknown): ModelCallError;
}

interface Refcounted<T> {
  refs: number;
  ready: Promise<T>;
}

const llamas = new Map<string, Promise<SharedLlama>>();
const models = new Map<string, Refcounted<SharedModel>>();
const runners = new Map<string, Refcounted<Runner>>();

/**
 * llama.cpp logs through this; "warn" and above are kept. The stories260K fixture's
 * `bad special token: 'tokenizer.ggml.*_token_id' = 4294967295` warnings are metadata noise
 * (an unset optional id) and are dropped; everything else goes to stderr.
 */
function llamaLogger(level: LlamaLogLevel, message: string): void {
  if (/bad special token: 'tokenizer\.ggml\.\w+_token_id' = 4294967295/.test(message)) return;
  const text = message.trimEnd();
  if (text) process.stderr.write(`[llama.cpp ${level}] ${text}\n`);
}

function loadLlama(gpu: false | 'auto'): Promise<SharedLlama> {
  const key = String(gpu);
  let shared = llamas.get(key);
  if (shared === undefined) {
    shared = getLlama({ gpu, build: 'never', logLevel: LlamaLogLevel.warn, logger: llamaLogger }).then((llama) => ({
      llama,
      grammarsByObject: new WeakMap(),
      grammarsByKey: new Map(),
    }));
    shared.catch(() => llamas.delete(key));
    llamas.set(key, shared);
  }
  return shared;
}

async function acquireRunner(params: {
  path: string;
  gpu: false | 'auto';
  contextSize: number | undefined;
  threads: number | undefined;
  fail: (message: string, cause?: unknown) => ModelCallError;
}): Promise<Runner> {
  const { path, gpu, fail } = params;
  const modelKey = `${gpu}|${path}`;
  const key = `${modelKey}|${params.contextSize ?? ''}|${params.threads ?? ''}`;
  const existing = runners.get(key);
  if (existing) {
    existing.refs += 1;
    return existing.ready;
  }
  const entry: Refcounted<Runner> = {
    refs: 1,
    ready: (async () => {
      const shared = await acquireModel(modelKey, path, gpu, fail);
      try {
        const contextSize = params.contextSize ?? Math.min(shared.model.trainContextSize, DEFAULT_CONTEXT_SIZE);
        const context = await shared.model
          .createContext({ contextSize, threads: params.threads ?? defaultThreads(shared.llama, shared.model) })
          .catch((error: unknown) => {
            throw fail(`cannot create a ${contextSize}-token context for ${path}: ${messageOf(error)}`, error);
          });
        const sequence = context.getSequence();
        let completion: LlamaCompletion | undefined;
        let chat: LlamaChat | undefined;
        const template = shared.model.fileInfo.metadata.tokenizer?.chat_template;
        return {
          key,
          modelKey,
          shared,
          context,
          chatTemplate: typeof template === 'string' && template.trim() !== '',
          lock: new Lock(),
          completion: () => (completion ??= new LlamaCompletion({ contextSequence: sequence })),
          chat: () => (chat ??= new LlamaChat({ contextSequence: sequence })),
          fail,
        };
      } catch (error) {
        await releaseModel(modelKey);
        throw error;
      }
    })(),
  };
  entry.ready.catch(() => runners.get(key) === entry && runners.delete(key));
  runners.set(key, entry);
  return entry.ready;
}

async function releaseRunner(runner: Runner): Promise<void> {
  const entry = runners.get(runner.key);
  if (entry === undefined || --entry.refs > 0) return;
  runners.delete(runner.key);
  // Wait for in-flight generations on this context before tearing it down.
  await runner.lock.run(undefined, () => runner.context.dispose());
  await releaseModel(runner.modelKey);
}

async function acquireModel(key: string, path: string, gpu: false | 'auto', fail: (message: string, cause?: unknown) => ModelCallError): Promise<SharedModel> {
  const existing = models.get(key);
  if (existing) {
    existing.refs += 1;
    return existing.ready;
  }
  const entry: Refcounted<SharedModel> = {
    refs: 1,
    ready: (async () => {
      await assertGguf(path, fail);
      const shared = await loadLlama(gpu).catch((error: unknown) => {
        throw fail(`cannot load the llama.cpp binding for ${path}: ${messageOf(error)}`, error);
      });
      const model = await shared.llama.loadModel({ modelPath: path }).catch((error: unknown) => {
        throw fail(`cannot load GGUF model ${path}: ${messageOf(error)}`, error);
      });
      return { ...shared, model, path };
    })(),
  };
  entry.ready.catch(() => models.get(key) === entry && models.delete(key));
  models.set(key, entry);
  return entry.ready;
}

/** A share of a process-wide model; `release()` gives it back (the last share disposes the model). */
export interface BorrowedLlamaModel {
  llama: Llama;
  model: LlamaModel;
  /** The evaluation thread count this module would use for the model (see defaultThreads). */
  threads: number;
  release(): Promise<void>;
}

/**
 * Lends the model that generation ports share for a GGUF file (loading it on first use) to other
 * in-process users, e.g. the llama-cpp embedder, so one file is never loaded twice. Failures are
 * ModelCallErrors naming the path, as for generate().
 */
export async function borrowLlamaModel(params: { path: string; gpu?: false | 'auto'; provider: string }): Promise<BorrowedLlamaModel> {
  const path = resolve(params.path);
  const gpu = params.gpu ?? false;
  const key = `${gpu}|${path}`;
  const fail = (message: string, cause?: unknown) =>
    new ModelCallError({ outcome: 'provider_error', message, retryable: false, cause, model: path, provider: params.provider });
  const shared = await acquireModel(key, path, gpu, fail);
  let released = false;
  return {
    llama: shared.llama,
    model: shared.model,
    threads: defaultThreads(shared.llama, shared.model),
    async release() {
      if (released) return;
      released = true;
      await releaseModel(key);
    },
  };
}

async function releaseModel(key: string): Promise<void> {
  const entry = models.get(key);
  if (entry === undefined || --entry.refs > 0) return;
  models.delete(key);
  const shared = await entry.ready.catch(() => undefined);
  await shared?.model.dispose();
}

/** Fails fast, naming the path, before llama.cpp sees a missing or non-GGUF file. */
async function assertGguf(path: string, fail: (message: string, cause?: unknown) => ModelCallError): Promise<void> {
  let magic: string;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new Error('not a regular file');
    const file = await open(path, 'r');
    try {
      const { buffer, bytesRead } = await file.read(Buffer.alloc(4), 0, 4, 0);
      magic = buffer.subarray(0, bytesRead).toString('latin1');
    } finally {
      await file.close();
    }
  } catch (error) {
    throw fail(`cannot read GGUF model file ${path}: ${messageOf(error)}`, error);
  }
  if (magic !== 'GGUF') throw fail(`not a GGUF model file (bad magic bytes): ${path}`);
}

/**
 * node-llama-cpp defaults to max(math cores, 4) threads. Measured on a busy 2-core machine with
 * the 1 MB fixture: 4 threads took ~30 s for 40 tokens, 2 threads 0.05–4 s, 1 thread ~10–40 ms —
 * ggml's spinning thread barriers collapse under contention. So: never more than the math cores,
 * and one thread for tiny models, where synchronisation costs more than the matrix work.
 */
function defaultThreads(llama: Llama, model: LlamaModel): number {
  return model.size < TINY_MODEL_BYTES ? 1 : Math.max(1, llama.cpuMathCores);
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** A FIFO mutex whose waiters can give up when their signal aborts. */
class Lock {
  private tail: Promise<void> = Promise.resolve();

  async run<T>(signal: AbortSignal | undefined, fn: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const turn = new Promise<void>((done) => (release = done));
    const previous = this.tail;
    this.tail = previous.then(() => turn);
    try {
      await untilAborted(previous, signal);
    } catch (error) {
      release(); // an aborted waiter gives its turn away; the next one still waits for `previous`
      throw error;
    }
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
