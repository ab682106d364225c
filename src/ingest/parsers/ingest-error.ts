import { GroundworkError, type ErrorCode } from '../../kernel/errors.js';

/**
 * Every ingest failure names the file first, so a batch report reads as a list of
 * "which file, what went wrong" lines without the caller adding context.
 */
export function ingestError(
  code: ErrorCode,
  filename: string,
  problem: string,
  options: { details?: Record<string, unknown>; cause?: unknown } = {},
): GroundworkError {
  return new GroundworkError(code, `${filename}: ${problem}`, {
    details: { filename, ...options.details },
    cause: options.cause,
  });
}

/** The message of an unknown thrown value, for wrapping library errors. */
export function describeError(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}
