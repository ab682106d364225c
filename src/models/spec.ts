/**
 * The model port: identity plus one verb. Providers implement it; retry, timeout,
 * circuit breaker, structured output and routing are wrappers that implement it too,
 * so a caller cannot tell a router from a model.
 *
 * This file imports nothing from the project (like @ai-sdk/provider).
 */

export type JsonSchema = Record<string, unknown>;

export interface ChatMessage {
  role: 'user' | 'assistant';
  content: string;
}

export type ResponseFormat =
  | { type: 'text' }
  /** Ask for JSON matching `schema`: native JSON-schema mode or grammar where the provider has one, else instructed. */
  | {
      type: 'json';
      schema: JsonSchema;
      name?: string;
      /**
       * A check beyond the schema, run on each schema-valid value (grounded runs: does at least
       * one citation verify against the sources?). A failure ends the tier with its outcome
       * (no re-ask), so the route moves on to the next tier.
       */
      verify?: (value: unknown) => OutputRejection | undefined;
    };

/** Why a schema-valid output was still not accepted. */
export interface OutputRejection {
  outcome: 'ungrounded';
  message: string;
}

/** What happened on one physical model call (or one refused before it was made). */
export type AttemptOutcome =
  | 'ok'
  | 'invalid_output'
  | 'timeout'
  | 'rate_limited'
  | 'provider_error'
  | 'circuit_open'
  /** A schema-valid answer none of whose citations verified against the sources. */
  | 'ungrounded';

export interface TokenUsage {
  inputTokens: number;
  outputTokens: number;
  /** True when counts were estimated with a tokenizer because the provider reported none. */
  estimated?: boolean;
}

/** Reported once per physical call through GenerateRequest.onAttempt. */
export interface AttemptEvent {
  /** Configured model name (the key in config `models`), e.g. "gpt-4o-mini". */
  model: string;
  provider: string;
  outcome: AttemptOutcome;
  latencyMs: number;
  usage?: TokenUsage;
  /** Short, secret-free description of what went wrong, in words (shown to the tenant). */
  error?: string;
  /** Internal detail of a failure (addresses, error codes) for the server log only; never stored or answered. */
  detail?: string;
  /** For invalid_output: the validator's messages. */
  validationErrors?: string[];
  /** Set by the router: index of the route tier this attempt belongs to (0-based). */
  tier?: number;
  /** Set by the router on the first attempt of a tier > 0: why the run escalated to it. */
  escalationReason?: string;
  /** True for the single re-ask made after a validation failure. */
  reask?: boolean;
  /** True when the output only became valid after syntax repair. */
  repaired?: boolean;
}

/**
 * What stops a call: an AbortSignal, or anything as cheap that behaves like one for 'abort'
 * (the run path's Cancellation). Providers that hand it to a library needing a real
 * AbortSignal convert it (kernel/cancellation.ts `toAbortSignal`).
 */
export interface CancelSignal {
  readonly aborted: boolean;
  readonly reason?: unknown;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

export interface GenerateRequest {
  system?: string;
  messages: ChatMessage[];
  responseFormat?: ResponseFormat;
  maxOutputTokens?: number;
  temperature?: number;
  /** The run's overall deadline / cancellation; every wrapper and provider must honour it. */
  signal?: CancelSignal;
  /** When the run's deadline passes (epoch ms), if it has one: the router gives each tier a share of what is left. */
  deadlineAt?: number;
  /** Observer for every physical attempt (the run recorder); must never throw. */
  onAttempt?: (event: AttemptEvent) => void;
  /**
   * The caller's own request in a provider's wire format (the OpenAI-compatible gateway's body).
   * Providers that speak it pass it through unchanged (with their model id) and answer with
   * `raw`; the others answer from `messages`, translated from it by the caller.
   */
  wire?: WireRequest;
  /**
   * Called before every physical call with the request about to be sent: a quota reservation
   * grows to cover the call's worst case here. Throwing refuses the call (the error ends the run).
   */
  beforeAttempt?: (attempt: { model: string; provider: string; request: GenerateRequest }) => void | Promise<void>;
}

export interface WireRequest {
  /** OpenAI's chat completions or embeddings request. */
  format: 'openai-chat' | 'openai-embeddings';
  body: Record<string, unknown>;
  /**
   * Set when `messages` cannot say what the body asks for (tools, tool messages): a provider
   * that does not speak the format refuses the request (`rejectsRequest`) instead of dropping it.
   */
  untranslatable?: string;
}

export type FinishReason = 'stop' | 'length' | 'content-filter' | 'tool-calls' | 'error' | 'other';

export interface GenerateResult {
  text: string;
  /** For json responses that passed validation (set by the structured-output wrapper). */
  object?: unknown;
  usage: TokenUsage;
  finishReason: FinishReason;
  /** Configured model name that produced this result (for a router: the winning tier's). */
  model: string;
  provider: string;
  /** Set by the router: the tier that answered (0-based). */
  tier?: number;
  /** The provider's own answer, when it answered in the caller's wire format (pass-through): its bytes, and them parsed. */
  raw?: { body: string; json: Record<string, unknown> };
}

/** One piece of a streamed answer. */
export interface StreamChunk {
  /** Answer text this chunk adds ('' for none). */
  text: string;
  /** The provider's own bytes for it (server-sent events), when it answers in the caller's wire format. */
  raw?: string;
  /** The chunk relays the provider's own error event: the stream is failing, and has said so in the caller's format. */
  error?: boolean;
}

/** A streamed answer that has begun: its first chunk is in hand. */
export interface GenerateStream {
  readonly model: string;
  readonly provider: string;
  /** Set by the router: the tier that is answering (0-based). */
  readonly tier?: number;
  /** The chunks, the first one included. A failure after the first chunk is thrown from here. */
  chunks: AsyncIterable<StreamChunk>;
  /** Once the chunks are exhausted: the whole answer (text, usage, finish reason). */
  result(): GenerateResult;
}

export interface ModelPort {
  /** Provider name (config `providers` key), e.g. "openai". Used to key circuit breakers. */
  readonly provider: string;
  /** Configured model name (config `models` key). */
  readonly model: string;
  generate(request: GenerateRequest): Promise<GenerateResult>;
  /**
   * The answer as it is produced. Resolves once the first chunk is in hand; a failure before
   * that rejects, so retries, breakers and failover act only before the first byte. Ports
   * that cannot stream leave it out: `streamOf` (stream.ts) then streams their whole answer as
   * one chunk.
   */
  stream?(request: GenerateRequest): Promise<GenerateStream>;
}

/**
 * A model call that failed. Thrown by providers and wrappers; the run pipeline maps it
 * to a typed GroundworkError. `outcome` says which kind of failure it was.
 */
export class ModelCallError extends Error {
  readonly outcome: Exclude<AttemptOutcome, 'ok'>;
  readonly model: string;
  readonly provider: string;
  readonly retryable: boolean;
  /** From Retry-After, when the provider sent one. */
  readonly retryAfterMs: number | undefined;
  readonly status: number | undefined;
  /** Validator messages for invalid_output. */
  readonly validationErrors: string[] | undefined;
  /** Internal detail for the server log (addresses, errno codes); `message` says the same in words. */
  readonly detail: string | undefined;
  /**
   * The provider refused the request itself (a pass-through body it answered 400/413/422 to, or
   * one this tier cannot express): another tier would refuse it too, so there is no failover.
   */
  readonly rejectsRequest: boolean;

  constructor(params: {
    outcome: Exclude<AttemptOutcome, 'ok'>;
    message: string;
    model: string;
    provider: string;
    retryable?: boolean;
    retryAfterMs?: number;
    status?: number;
    validationErrors?: string[];
    detail?: string;
    rejectsRequest?: boolean;
    cause?: unknown;
  }) {
    super(params.message, params.cause === undefined ? undefined : { cause: params.cause });
    this.name = 'ModelCallError';
    this.outcome = params.outcome;
    this.model = params.model;
    this.provider = params.provider;
    this.retryable =
      params.rejectsRequest === true
        ? false
        : (params.retryable ?? (params.outcome === 'timeout' || params.outcome === 'rate_limited' || params.outcome === 'provider_error'));
    this.retryAfterMs = params.retryAfterMs;
    this.status = params.status;
    this.validationErrors = params.validationErrors;
    this.detail = params.detail;
    this.rejectsRequest = params.rejectsRequest ?? false;
  }
}

/**
 * `beforeAttempt` refused a call (a quota that cannot grow to cover it): nothing was sent, and
 * the run ends here. No wrapper retries it, no breaker counts it, and the router does not
 * escalate past it: another tier would be refused the same way. `reason` is what the hook threw.
 */
export class AttemptRefusedError extends Error {
  constructor(readonly reason: unknown) {
    super(reason instanceof Error ? reason.message : String(reason));
    this.name = 'AttemptRefusedError';
  }
}

/** The abort reason when a tier's share of the run deadline ran out (the run itself goes on). */
export class TierDeadlineError extends Error {
  constructor(readonly shareMs: number) {
    super(`gave up on this tier after its share of the run deadline (${shareMs} ms), so later tiers get their turn`);
    this.name = 'TierDeadlineError';
  }
}

/** Thrown by the router when every tier failed; lists why each tier stopped. */
export class AllTiersFailedError extends Error {
  readonly failures: ModelCallError[];
  /** True when the run's own deadline (request.signal) ended it. */
  readonly deadlineExceeded: boolean;

  constructor(failures: ModelCallError[], deadlineExceeded: boolean) {
    super(deadlineExceeded ? 'the run deadline passed before any tier produced valid output' : `all ${failures.length} tier(s) failed to produce valid output`);
    this.name = 'AllTiersFailedError';
    this.failures = failures;
    this.deadlineExceeded = deadlineExceeded;
  }
}
