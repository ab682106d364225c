import type { FastifyRequest } from 'fastify';
import { principalOf } from './auth.js';

/** The tenant a request acts for: its API key's tenant. Every query a route makes is scoped by it. */
export const tenantOf = (request: FastifyRequest): string => principalOf(request).tenantId;
