import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { GroundworkError, isGroundworkError, type ErrorCode } from '../kernel/errors.js';
import { limitErrorHeaders } from '../limits/http.js';

/**
 * The one place that maps errors to HTTP responses. Known errors keep their status and
 * code; request-shape failures become 400 with field paths; anything unknown becomes a
 * generic 500 logged with the request id. No stack trace ever leaves the server.
 */

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'REQUEST_BODY_TOO_LARGE',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'REQUEST_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'REQUEST_INVALID_BODY',
  FST_ERR_CTP_INVALID_JSON_BODY: 'REQUEST_INVALID_BODY',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'REQUEST_INVALID_BODY',
  FST_REQ_FILE_TOO_LARGE: 'REQUEST_BODY_TOO_LARGE',
  FST_FILES_LIMIT: 'REQUEST_INVALID_BODY',
  FST_PARTS_LIMIT: 'REQUEST_INVALID_BODY',
  FST_FIELDS_LIMIT: 'REQUEST_INVALID_BODY',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'REQUEST_INVALID_BODY',
};

export function toHttpError(error: unknown): GroundworkError | undefined {
  if (isGroundworkError(error)) return error;
  if (hasZodFastifySchemaValidationErrors(error)) {
    const issues = error.validation.map((v) => ({
      path: `${v.instancePath || '/'}`.replace(/^\/?/, `${error.validationContext ?? 'body'}/`),
      message: v.message ?? 'is invalid',
    }));
    return new GroundworkError(
      'REQUEST_INVALID_BODY',
      `request ${error.validationContext ?? 'body'} is invalid: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
      {
        details: { issues },
      },
    );
  }
  const fastifyError = error as FastifyError;
  if (fastifyError instanceof SyntaxError || fastifyError.code === 'FST_ERR_CTP_INVALID_JSON_BODY') {
    return new GroundworkError('REQUEST_INVALID_BODY', `request body is not valid JSON: ${fastifyError.message}`, {
      details: { issues: [{ path: 'body', message: 'malformed JSON' }] },
    });
  }
  const mapped = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (mapped) return new GroundworkError(mapped, fastifyError.message);
  if (fastifyError.statusCode && fastifyError.statusCode >= 400 && fastifyError.statusCode < 500) {
    return new GroundworkError('REQUEST_INVALID_BODY', fastifyError.message);
  }
  return undefined;
}

/** `onTypedError`: each typed error answered, by code (the metrics count refusals with it). */
export function registerErrorHandling(app: FastifyInstance, onTypedError?: (code: string) => void): void {
  app.setErrorHandler((error, request, reply) => {
    const known = toHttpError(error);
    // Refused before its body was read (401 before an upload, 413): close the connection rather
    // than let Node read and discard the rest of the body to keep the connection alive.
    if (!request.raw.complete) reply.header('connection', 'close');
    if (known) {
      onTypedError?.(known.code);
      // The client is gone: nobody reads this answer, and it is not a server fault.
      if (known.code === 'CLIENT_DISCONNECTED') {
        request.log.info({ code: known.code }, known.message);
        return reply.status(known.httpStatus).send(known.toBody());
      }
      if (known.httpStatus === 429) reply.headers(limitErrorHeaders(known));
      if (known.httpStatus >= 500 || known.logDetail)
        request.log.warn({ code: known.code, run_id: known.runId, ...(known.logDetail ? { detail: known.logDetail } : {}) }, known.message);
      return reply.status(known.httpStatus).send(known.toBody());
    }
    request.log.error({ err: error }, 'unhandled error');
    const internal = new GroundworkError('INTERNAL', `internal error; quote request id ${request.id} when reporting it`);
    return reply.status(500).send(internal.toBody());
  });
  app.setNotFoundHandler((request, reply) => {
    const error = new GroundworkError('REQUEST_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`);
    return reply.status(404).send(error.toBody());
  });
}
