import { timingSafeEqual } from 'node:crypto';
import type { FastifyPluginAsync } from 'fastify';
import { GroundworkError } from '../kernel/errors.js';
import type { Metrics } from '../observability/metrics.js';

/**
 * GET /metrics: Prometheus text. Its labels name tasks, models and tenants, so it is not public:
 * with `metrics.token` configured a scraper sends it as a bearer token; without one, only
 * requests from this machine (loopback) are answered.
 */
export function metricsRoute(deps: { metrics: Pick<Metrics, 'render'>; token?: string }): FastifyPluginAsync {
  const expected = deps.token === undefined ? undefined : Buffer.from(`Bearer ${deps.token}`);
  return async (server) => {
    server.get('/metrics', { schema: { hide: true } }, async (request, reply) => {
      if (expected) {
        const given = Buffer.from(request.headers.authorization ?? '');
        if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
          throw new GroundworkError('AUTH_INVALID_KEY', '/metrics needs the metrics token: send Authorization: Bearer <metrics.token>');
        }
      } else if (!isLoopback(request.socket.remoteAddress)) {
        throw new GroundworkError('AUTH_FORBIDDEN', '/metrics answers only this machine unless metrics.token (GROUNDWORK_METRICS_TOKEN) is configured');
      }
      return reply.type('text/plain; version=0.0.4; charset=utf-8').send(await deps.metrics.render());
    });
  };
}

function isLoopback(address: string | undefined): boolean {
  return address === '127.0.0.1' || address === '::1' || address === '::ffff:127.0.0.1' || (address?.startsWith('127.') ?? false);
}
