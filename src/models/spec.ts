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
  | { type: 'json'; schema: JsonSchema; name?: string };

/** What happened on one physical model call (or one refused before it was made). */
export type AttemptOutcome =
  | 'ok'
  | 'invalid_output'
  | 'timeout'
  | 'rate_limited'
  | 'provider_error'
  | 'circuit_open';

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
  /** Short, secret-free description of what went wrong. */
  error?: string;
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

export interface GenerateRequest {
  system?: string;
  messages: ChatMessage[];
  responseFormat?: ResponseFormat;
  maxOutputTokens?: number;
  temperature?: number;
  /** The run's overall deadline / cancellation; every wrapper and provider must honour it. */
  signal?: AbortSignal;
  /** Observer for every physical attempt (the run recorder); must never throw. */
  onAttempt?: (event: AttemptEvent) => void;
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
}

export interface ModelPort {
  /** Provider name (config `providers` key), e.g. "openai". Used to key circuit breakers. */
  readonly provider: string;
  /** Configured model name (config `models` key). */
  readonly model: string;
  generate(request: GenerateRequest): Promise<GenerateResult>;
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

  constructor(params: {
    outcome: Exclude<AttemptOutcome, 'ok'>;
    message: string;
    model: string;
    provider: string;
    retryable?: boolean;
    retryAfterMs?: number;
    status?: number;
    validationErrors?: string[];
    cause?: unknown;
  }) {
    super(params.message, params.cause === undefined ? undefined : { cause: params.cause });
    this.name = 'ModelCallError';
    this.outcome = params.outcome;
    this.model = params.model;
    this.provider = params.provider;
    this.retryable =
      params.retryable ??
      (params.outcome === 'timeout' || params.outcome === 'rate_limited' || params.outcome === 'provider_error');
    this.retryAfterMs = params.retryAfterMs;
    this.status = params.status;
    this.validationErrors = params.validationErrors;
  }
}

/** Thrown by the router when every tier failed; lists why each tier stopped. */
export class AllTiersFailedError extends Error {
  readonly failures: ModelCallError[];
  /** True when the run's own deadline (request.signal) ended it. */
  readonly deadlineExceeded: boolean;

  constructor(failures: ModelCallError[], deadlineExceeded: boolean) {
    super(
      deadlineExceeded
        ? 'the run deadline passed before any tier produced valid output'
        : `all ${failures.length} tier(s) failed to produce valid output`,
    );
    this.name = 'AllTiersFailedError';
    this.failures = failures;
    this.deadlineExceeded = deadlineExceeded;
  }
}
