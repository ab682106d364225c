import type { FastifyRequest } from 'fastify';
import type { Principal, Role } from '../auth/principal.js';
import { GroundworkError } from '../kernel/errors.js';

/**
 * Request authentication plumbing. Every `/v1` route declares the least role it needs in
 * its route config (`config: { role: 'runner' }`); the server's onRequest hook resolves the
 * `Authorization: Bearer <key>` header to a Principal, checks the role and the key's rate
 * limit, and sets `request.auth`. Routes read the tenant through `principalOf`.
 */

declare module 'fastify' {
  interface FastifyRequest {
    auth?: Principal;
  }
  interface FastifyContextConfig {
    /** Least role that may call the route (reads default to viewer; writes must say). */
    role?: Role;
  }
}

export function principalOf(request: FastifyRequest): Principal {
  if (!request.auth) throw new GroundworkError('AUTH_REQUIRED', 'this endpoint needs an API key: send Authorization: Bearer <key>');
  return request.auth;
}
