import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import ajvFormats from 'ajv-formats';
import { jsonrepair } from 'jsonrepair';
import { safeEmit } from './resilience/instrument.js';
import { streamOf, wholeAnswer } from './stream.js';
import {
  ModelCallError,
  type AttemptEvent,
  type GenerateRequest,
  type GenerateResult,
  type JsonSchema,
  type ModelPort,
  type OutputRejection,
  type TokenUsage,
} from './spec.js';

/**
 * Turns "the model said something" into "the model returned a value that matches the
 * schema": extract, parse, repair, validate, and on failure re-ask once with the
 * validator's errors. Attempt events are held back until validation has decided whether
 * an HTTP-level success was actually a usable answer.
 */

const MAX_ERRORS_SHOWN = 10;
const MAX_ECHOED_OUTPUT = 8_000;

export interface StructuredOutputOptions {
  /** An Ajv instance to share (formats/keywords already added); defaults to a module-wide one. */
  ajv?: Ajv;
}

type Verdict =
  | { ok: true; value: unknown; repaired: boolean }
  | { ok: false; errors: string[]; truncated: boolean }
  /** Schema-valid, but refused by the request's own check (format.verify): no re-ask, the tier ends. */
  | { ok: false; rejected: OutputRejection };

/**
 * Validates JSON responses against `responseFormat.schema`, re-asking once before giving up.
 * A JSON answer is streamed only once it has been judged (as one chunk); text streams pass.
 */
export function withStructuredOutput(model: ModelPort, options: StructuredOutputOptions = {}): ModelPort {
  const ids = { model: model.model, provider: model.provider };
  const port: ModelPort = {
    ...ids,
    stream: (request) => (request.responseFormat?.type === 'json' ? port.generate(request).then(wholeAnswer) : streamOf(model, request)),
    async generate(request) {
      const format = request.responseFormat;
      if (format?.type !== 'json') return model.generate(request);
      const validate = compileSchema(options.ajv ?? defaultAjv(), format.schema);
      const judgeWith = { validate, verify: format.verify };

      const first = await callJudged(model, request, judgeWith, false);
      if (first.verdict.ok) return { ...first.result, object: first.verdict.value };
      if ('rejected' in first.verdict) throw rejection(ids, first.verdict.rejected);

      const reask: GenerateRequest = {
        ...request,
        messages: [
          ...request.messages,
          { role: 'assistant', content: first.result.text.slice(0, MAX_ECHOED_OUTPUT) || '(empty reply)' },
          { role: 'user', content: reaskPrompt(first.verdict) },
        ],
      };
      const second = await callJudged(model, reask, judgeWith, true);
      const usage = addUsage(first.result.usage, second.result.usage);
      if (second.verdict.ok) return { ...second.result, object: second.verdict.value, usage };
      if ('rejected' in second.verdict) throw rejection(ids, second.verdict.rejected);
      throw new ModelCallError({
        ...ids,
        outcome: 'invalid_output',
        retryable: false,
        validationErrors: second.verdict.errors,
        message: `output did not match the schema after one re-ask: ${second.verdict.errors.slice(0, 3).join('; ')}`,
      });
    },
  };
  return port;
}

function rejection(ids: { model: string; provider: string }, rejected: OutputRejection): ModelCallError {
  return new ModelCallError({ ...ids, outcome: rejected.outcome, retryable: false, message: rejected.message });
}

interface Judge {
  validate: ValidateFunction;
  verify?: (value: unknown) => OutputRejection | undefined;
}

/** One inner call whose 'ok' attempt event is released only once the output has been judged. */
async function callJudged(model: ModelPort, request: GenerateRequest, judgeWith: Judge, reask: boolean) {
  const held: AttemptEvent[] = [];
  const outer = request.onAttempt;
  const mark = (event: AttemptEvent): AttemptEvent => (reask ? { ...event, reask: true } : event);
  const onAttempt = (event: AttemptEvent) => {
    if (event.outcome === 'ok') held.push(event);
    else safeEmit(outer, mark(event));
  };

  let result: GenerateResult;
  try {
    result = await model.generate({ ...request, onAttempt });
  } catch (error) {
    for (const event of held) safeEmit(outer, mark(event));
    throw error;
  }
  const verdict = judge(result, judgeWith);
  const last = held.pop();
  for (const event of held) safeEmit(outer, mark(event));
  if (last) safeEmit(outer, mark(judgedEvent(last, verdict)));
  return { result, verdict };
}

function judgedEvent(event: AttemptEvent, verdict: Verdict): AttemptEvent {
  if (verdict.ok) return { ...event, ...(verdict.repaired ? { repaired: true } : {}) };
  if ('rejected' in verdict) return { ...event, outcome: verdict.rejected.outcome, error: verdict.rejected.message };
  return { ...event, outcome: 'invalid_output', error: `invalid output: ${verdict.errors[0]}`, validationErrors: verdict.errors };
}

function judge(result: GenerateResult, { validate, verify }: Judge): Verdict {
  // Output cut off at the token limit must not be "repaired" into plausible, incomplete data.
  const truncated = result.finishReason === 'length';
  const parsed = parseJson(result.text, !truncated);
  if (!parsed.ok) {
    const errors = truncated ? ['output was truncated at the output token limit before the JSON was complete'] : [parsed.error];
    return { ok: false, errors, truncated };
  }
  if (!validate(parsed.value)) return { ok: false, errors: formatErrors(validate.errors ?? []), truncated };
  const rejected = verify?.(parsed.value);
  return rejected ? { ok: false, rejected } : { ok: true, value: parsed.value, repaired: parsed.repaired };
}

/** Parses the JSON in a model reply: code fences and surrounding prose are dropped, syntax repaired if allowed. */
export function parseJson(text: string, allowRepair = true): { ok: true; value: unknown; repaired: boolean } | { ok: false; error: string } {
  const candidate = extractJson(text);
  if (candidate === '') return { ok: false, error: 'output was empty' };
  try {
    return { ok: true, value: JSON.parse(candidate), repaired: false };
  } catch (error) {
    const syntax = `output is not valid JSON: ${(error as Error).message}`;
    if (!allowRepair) return { ok: false, error: syntax };
    try {
      return { ok: true, value: JSON.parse(jsonrepair(candidate)), repaired: true };
    } catch {
      return { ok: false, error: syntax };
    }
  }
}

/** The part of a reply that should be JSON: a fenced block's body, else from the first bracket to the last. */
export function extractJson(text: string): string {
  const trimmed = text.trim();
  const fenced = /```[a-zA-Z]*[ \t]*\r?\n?([\s\S]*?)(?:```|$)/.exec(trimmed);
  const body = (fenced ? fenced[1] : trimmed).trim();
  const start = body.search(/[[{]/);
  if (start === -1) return body;
  const end = Math.max(body.lastIndexOf('}'), body.lastIndexOf(']'));
  // No closing bracket: keep the tail so repair (or the truncation check) sees it all.
  return end > start ? body.slice(start, end + 1) : body.slice(start);
}

function formatErrors(errors: ErrorObject[]): string[] {
  return errors.slice(0, MAX_ERRORS_SHOWN).map((error) => {
    const where = error.instancePath || '(root)';
    const extra = error.keyword === 'additionalProperties' ? ` (${String(error.params.additionalProperty)})` : '';
    const allowed = error.keyword === 'enum' ? ` (${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')})` : '';
    return `${where}: ${error.message ?? 'is invalid'}${extra}${allowed}`;
  });
}

function reaskPrompt(verdict: Extract<Verdict, { errors: string[] }>): string {
  const lead = verdict.truncated
    ? 'Your previous reply was cut off before the JSON was complete. Reply again with a complete, more concise JSON value.'
    : 'Your previous reply did not match the required JSON Schema. Problems found:';
  const list = verdict.truncated ? '' : `\n${verdict.errors.map((error) => `- ${error}`).join('\n')}`;
  return `${lead}${list}\nReply with only the corrected JSON value: no prose, no markdown code fences.`;
}

function addUsage(a: TokenUsage, b: TokenUsage): TokenUsage {
  const estimated = a.estimated || b.estimated;
  return { inputTokens: a.inputTokens + b.inputTokens, outputTokens: a.outputTokens + b.outputTokens, ...(estimated ? { estimated: true } : {}) };
}

let sharedAjv: Ajv | undefined;

function defaultAjv(): Ajv {
  if (!sharedAjv) {
    sharedAjv = new Ajv({ allErrors: true, strict: false });
    // CommonJS interop: under NodeNext the default import is module.exports, whose .default is the plugin.
    ajvFormats.default(sharedAjv);
  }
  return sharedAjv;
}

// Compiling is the expensive part (code generation): cache by schema object, and by content
// for callers that rebuild equal schemas per request. Bounded, because schemas could be dynamic.
const MAX_CACHED_SCHEMAS = 500;
const validatorCaches = new WeakMap<Ajv, { byObject: WeakMap<object, ValidateFunction>; byJson: Map<string, ValidateFunction> }>();

function compileSchema(ajv: Ajv, schema: JsonSchema): ValidateFunction {
  let cache = validatorCaches.get(ajv);
  if (!cache) validatorCaches.set(ajv, (cache = { byObject: new WeakMap(), byJson: new Map() }));
  const cached = cache.byObject.get(schema);
  if (cached) return cached;
  const key = JSON.stringify(schema);
  let validate = cache.byJson.get(key);
  if (!validate) {
    validate = ajv.compile(schema);
    if (cache.byJson.size >= MAX_CACHED_SCHEMAS) cache.byJson.delete(cache.byJson.keys().next().value as string);
    cache.byJson.set(key, validate);
  }
  cache.byObject.set(schema, validate);
  return validate;
}
