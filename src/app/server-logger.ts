import type { FastifyRequest, FastifyServerOptions } from 'fastify';
import type { Config } from '../config/config.js';

/**
 * The HTTP server's log options. A request line carries method, path, request id and client
 * address, never the query string (clients do send `?api_key=…`) nor headers; and should a
 * header reach a log line anyway, the credential-carrying ones are censored.
 */

const SECRET_HEADERS = ['authorization', 'proxy-authorization', 'x-api-key', 'api-key', 'cookie', 'set-cookie'];

/** Options for fastify's pino logger (`buildServer({ logger })`); add `stream` to send lines elsewhere. */
export function serverLoggerOptions(level: Config['logLevel']): Exclude<FastifyServerOptions['logger'], boolean | undefined> {
  return {
    level,
    serializers: {
      req: (request: FastifyRequest) => ({
        method: request.method,
        path: pathOf(request.url),
        id: request.id,
        remoteAddress: request.ip,
      }),
    },
    redact: SECRET_HEADERS.flatMap((name) => [`req.headers["${name}"]`, `res.headers["${name}"]`, `headers["${name}"]`]),
  };
}

/** The URL without its query string or fragment. */
function pathOf(url: string): string {
  const end = url.search(/[?#]/);
  return end === -1 ? url : url.slice(0, end);
}
