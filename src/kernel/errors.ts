/**
 * The one application error type. Every error that can reach a client is a
 * GroundworkError with a stable code; `src/api/error-handler.ts` is the only place
 * that turns it into an HTTP response.
 */

export type ErrorCategory = 'user' | 'system' | 'upstream';

/** Stable error codes, prefixed by domain. Never rename one: clients match on them. */
export const ERROR_CODES = {
  // request / input
  REQUEST_INVALID_BODY: { httpStatus: 400, category: 'user' },
  REQUEST_BODY_TOO_LARGE: { httpStatus: 413, category: 'user' },
  REQUEST_UNSUPPORTED_MEDIA_TYPE: { httpStatus: 415, category: 'user' },
  REQUEST_NOT_FOUND: { httpStatus: 404, category: 'user' },
  /** A JSON body (or value) nested deeper than the documented limit (64 levels). */
  REQUEST_TOO_DEEP: { httpStatus: 400, category: 'user' },
  /** A multipart upload with more files than `upload_max_files`. */
  REQUEST_TOO_MANY_FILES: { httpStatus: 413, category: 'user' },
  /** The client went away before the answer was sent (recorded on runs; never answered). */
  CLIENT_DISCONNECTED: { httpStatus: 499, category: 'user' },
  /** A run stopped before it finished because it was cancelled (its job cancelled, timed out or handed over). */
  RUN_CANCELLED: { httpStatus: 499, category: 'user' },
  TASK_INPUT_INVALID: { httpStatus: 400, category: 'user' },
  // tasks
  TASK_NOT_FOUND: { httpStatus: 404, category: 'user' },
  TASK_VERSION_NOT_FOUND: { httpStatus: 404, category: 'user' },
  TASK_DEFINITION_INVALID: { httpStatus: 400, category: 'user' },
  RUN_NOT_FOUND: { httpStatus: 404, category: 'user' },
  /** A grounded task found nothing relevant to answer from, so it did not guess. */
  TASK_ABSTAINED: { httpStatus: 422, category: 'user' },
  /** No tier of the route produced an answer with at least one verified citation. */
  TASK_UNGROUNDED: { httpStatus: 422, category: 'user' },
  // ingestion (per document; one bad document never fails the batch)
  INGEST_UNSUPPORTED_FORMAT: { httpStatus: 415, category: 'user' },
  INGEST_FILE_TOO_LARGE: { httpStatus: 413, category: 'user' },
  INGEST_PARSE_FAILED: { httpStatus: 422, category: 'user' },
  INGEST_EMPTY_DOCUMENT: { httpStatus: 422, category: 'user' },
  INGEST_ENCRYPTED: { httpStatus: 422, category: 'user' },
  INGEST_BINARY_CONTENT: { httpStatus: 422, category: 'user' },
  INGEST_LIMIT_EXCEEDED: { httpStatus: 422, category: 'user' },
  /** The same document source appears twice in one ingest request. */
  INGEST_DUPLICATE_SOURCE: { httpStatus: 409, category: 'user' },
  // retrieval
  COLLECTION_NOT_FOUND: { httpStatus: 404, category: 'user' },
  COLLECTION_EXISTS: { httpStatus: 409, category: 'user' },
  DOCUMENT_NOT_FOUND: { httpStatus: 404, category: 'user' },
  EMBEDDER_MISMATCH: { httpStatus: 409, category: 'user' },
  EMBEDDER_UNAVAILABLE: { httpStatus: 503, category: 'upstream' },
  // config
  CONFIG_INVALID: { httpStatus: 500, category: 'system' },
  // models (a run that could not produce valid output)
  MODEL_ALL_TIERS_FAILED: { httpStatus: 502, category: 'upstream' },
  MODEL_UNAVAILABLE: { httpStatus: 503, category: 'upstream' },
  MODEL_DEADLINE_EXCEEDED: { httpStatus: 504, category: 'upstream' },
  MODEL_BUDGET_EXCEEDED: { httpStatus: 402, category: 'user' },
  // store
  STORE_LOCKED: { httpStatus: 503, category: 'system' },
  STORE_EXTENSION_MISSING: { httpStatus: 500, category: 'system' },
  STORE_UNAVAILABLE: { httpStatus: 503, category: 'system' },
  STORE_MIGRATION_CHANGED: { httpStatus: 500, category: 'system' },
  // auth: one code for every bad key (malformed, unknown, revoked, expired): no hint which part was wrong
  AUTH_REQUIRED: { httpStatus: 401, category: 'user' },
  AUTH_INVALID_KEY: { httpStatus: 401, category: 'user' },
  AUTH_FORBIDDEN: { httpStatus: 403, category: 'user' },
  KEY_NOT_FOUND: { httpStatus: 404, category: 'user' },
  TENANT_NOT_FOUND: { httpStatus: 404, category: 'user' },
  TENANT_EXISTS: { httpStatus: 409, category: 'user' },
  /** A deleted tenant's id is never used again. */
  TENANT_DELETED: { httpStatus: 409, category: 'user' },
  // limits
  RATE_LIMITED: { httpStatus: 429, category: 'user' },
  QUOTA_EXCEEDED: { httpStatus: 429, category: 'user' },
  // idempotency
  IDEMPOTENCY_KEY_INVALID: { httpStatus: 400, category: 'user' },
  /** The key was used before with a different request body. */
  IDEMPOTENCY_KEY_REUSED: { httpStatus: 409, category: 'user' },
  /** The first request with this key is still being processed. */
  IDEMPOTENCY_IN_PROGRESS: { httpStatus: 409, category: 'user' },
  // jobs
  JOB_NOT_FOUND: { httpStatus: 404, category: 'user' },
  /** Cancel of a job that already finished (succeeded, failed or cancelled). */
  JOB_ALREADY_FINISHED: { httpStatus: 409, category: 'user' },
  JOB_CANCELLED: { httpStatus: 409, category: 'user' },
  JOB_TIMEOUT: { httpStatus: 504, category: 'upstream' },
  WEBHOOK_URL_INVALID: { httpStatus: 400, category: 'user' },
  // OpenAI-compatible gateway
  GATEWAY_MODEL_NOT_FOUND: { httpStatus: 404, category: 'user' },
  GATEWAY_REQUEST_INVALID: { httpStatus: 400, category: 'user' },
  // evaluation
  /** A golden dataset that cannot be used as given (its bad lines are listed by number). */
  EVAL_DATASET_INVALID: { httpStatus: 400, category: 'user' },
  /** A gate threshold that names no metric, or a threshold that is not a number. */
  EVAL_GATE_INVALID: { httpStatus: 400, category: 'user' },
  /** The task's eval asks for an LLM judge, and no judge route is configured (evals.judge_route). */
  EVAL_JUDGE_UNAVAILABLE: { httpStatus: 400, category: 'user' },
  /** A dataset name this tenant has not stored (nor a file of that name in the evals folder). */
  EVAL_DATASET_NOT_FOUND: { httpStatus: 404, category: 'user' },
  /** No eval with this id for this tenant. */
  EVAL_NOT_FOUND: { httpStatus: 404, category: 'user' },
  /** An eval of this version is still running: its result is not in yet. */
  EVAL_RUNNING: { httpStatus: 409, category: 'user' },
  /** A gated task's version has no finished gate eval against the active version on the gate's dataset. */
  EVAL_REQUIRED: { httpStatus: 409, category: 'user' },
  /** An eval stopped before it would pass its --max-cost-usd budget (recorded on the eval; exit code 3). */
  EVAL_BUDGET_REACHED: { httpStatus: 402, category: 'user' },
  /** An eval that could not finish: stopped, or no case got an answer from any model (recorded; exit code 3). */
  EVAL_INCOMPLETE: { httpStatus: 503, category: 'upstream' },
  // releases
  /** The version's gate eval failed: the checks that failed are in the details. */
  RELEASE_GATE_FAILED: { httpStatus: 409, category: 'user' },
  /** The active version changed while a release was decided: decide again. */
  RELEASE_CONFLICT: { httpStatus: 409, category: 'user' },
  /** A rollback with no earlier active version to return to. */
  RELEASE_NO_PREVIOUS: { httpStatus: 409, category: 'user' },
  /** An override without a reason, or by a key below admin. */
  RELEASE_OVERRIDE_INVALID: { httpStatus: 400, category: 'user' },
  // server
  SERVER_SHUTTING_DOWN: { httpStatus: 503, category: 'system' },
  INTERNAL: { httpStatus: 500, category: 'system' },
} as const satisfies Record<string, { httpStatus: number; category: ErrorCategory }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** JSON-safe details: what went wrong and where, never a secret or a stack. */
export type ErrorDetails = Record<string, unknown>;

export interface GroundworkErrorOptions {
  details?: ErrorDetails;
  cause?: unknown;
  /** Overrides the retryability implied by the code's HTTP status. */
  isRetryable?: boolean;
  runId?: string;
  /** Internal detail (addresses, driver messages) for the server log and the operator's CLI; never in a response body. */
  logDetail?: string;
}

export class GroundworkError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly category: ErrorCategory;
  readonly isRetryable: boolean;
  readonly details: ErrorDetails;
  runId: string | undefined;
  readonly logDetail: string | undefined;

  constructor(code: ErrorCode, message: string, options: GroundworkErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GroundworkError';
    this.code = code;
    this.httpStatus = ERROR_CODES[code].httpStatus;
    this.category = ERROR_CODES[code].category;
    this.isRetryable = options.isRetryable ?? isRetryableStatus(this.httpStatus);
    this.details = options.details ?? {};
    this.runId = options.runId;
    this.logDetail = options.logDetail;
  }

  /** The body every API error response carries. */
  toBody(): { error: { code: ErrorCode; message: string; details: ErrorDetails; run_id?: string } } {
    const body: { code: ErrorCode; message: string; details: ErrorDetails; run_id?: string } = {
      code: this.code,
      message: this.message,
      details: this.details,
    };
    if (this.runId) body.run_id = this.runId;
    return { error: body };
  }
}

/** 408, 409, 429 and 5xx are worth another try; everything else is not. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

export function isGroundworkError(value: unknown): value is GroundworkError {
  return value instanceof GroundworkError;
}

/** One problem in a list of problems (config, task files, inputs): where and what. */
export interface Issue {
  path: string;
  message: string;
}
