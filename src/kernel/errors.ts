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
  TASK_INPUT_INVALID: { httpStatus: 400, category: 'user' },
  // tasks
  TASK_NOT_FOUND: { httpStatus: 404, category: 'user' },
  TASK_VERSION_NOT_FOUND: { httpStatus: 404, category: 'user' },
  TASK_DEFINITION_INVALID: { httpStatus: 400, category: 'user' },
  RUN_NOT_FOUND: { httpStatus: 404, category: 'user' },
  /** A grounded task found nothing relevant to answer from, so it did not guess. */
  TASK_ABSTAINED: { httpStatus: 422, category: 'user' },
  // ingestion (per document; one bad document never fails the batch)
  INGEST_UNSUPPORTED_FORMAT: { httpStatus: 415, category: 'user' },
  INGEST_FILE_TOO_LARGE: { httpStatus: 413, category: 'user' },
  INGEST_PARSE_FAILED: { httpStatus: 422, category: 'user' },
  INGEST_EMPTY_DOCUMENT: { httpStatus: 422, category: 'user' },
  INGEST_ENCRYPTED: { httpStatus: 422, category: 'user' },
  INGEST_BINARY_CONTENT: { httpStatus: 422, category: 'user' },
  INGEST_LIMIT_EXCEEDED: { httpStatus: 422, category: 'user' },
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
}

export class GroundworkError extends Error {
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly category: ErrorCategory;
  readonly isRetryable: boolean;
  readonly details: ErrorDetails;
  runId: string | undefined;

  constructor(code: ErrorCode, message: string, options: GroundworkErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GroundworkError';
    this.code = code;
    this.httpStatus = ERROR_CODES[code].httpStatus;
    this.category = ERROR_CODES[code].category;
    this.isRetryable = options.isRetryable ?? isRetryableStatus(this.httpStatus);
    this.details = options.details ?? {};
    this.runId = options.runId;
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
