import { createHash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GroundworkError } from '../kernel/errors.js';
import { canonicalJson } from '../kernel/json.js';
import type { Database } from '../store/ports.js';
import { principalOf } from './auth.js';

/**
 * `Idempotency-Key` for routes marked `config: { idempotent: true }` (every POST that creates
 * work). The first request with a key claims it in the database (so replicas agree) and its
 * answer is stored; the same key with the same body gets that answer again (header
 * `Idempotent-Replayed: true`), a different body IDEMPOTENCY_KEY_REUSED, and a request while
 * the first is still running IDEMPOTENCY_IN_PROGRESS. 5xx answers release the key so a retry
 * runs again. Keys are per tenant and remembered for 24 hours.
 */

declare module 'fastify' {
  interface FastifyContextConfig {
    /** POST that creates work: honours Idempotency-Key. */
    idempotent?: boolean;
  }
  interface FastifyRequest {
    idempotencyClaim?: { tenantId: string; key: string };
  }
}

const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const RETENTION = "interval '24 hours'";
// A pending claim older than this belongs to a request whose process died: it may be taken over.
const STALE_PENDING = "interval '10 minutes'";

interface ClaimRow {
  scope: string;
  body_hash: string;
  status: 'pending' | 'done';
  response_status: number | null;
  response: unknown;
}

export function registerIdempotency(server: FastifyInstance, db: Database): void {
  // Route-level hooks, on the routes that create work only: other routes (the gateway's hot
  // path among them) pay nothing for this feature.
  server.addHook('onRoute', (route) => {
    if (!route.config?.idempotent) return;
    route.preHandler = [...[route.preHandler ?? []].flat(), claim];
    route.onSend = [...[route.onSend ?? []].flat(), store];
    route.onResponse = [...[route.onResponse ?? []].flat(), release];
  });

  async function claim(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    const header = request.headers['idempotency-key'];
    if (header === undefined) return;
    const key = Array.isArray(header) ? header.join(',') : header;
    if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
      throw new GroundworkError('IDEMPOTENCY_KEY_INVALID', 'Idempotency-Key must be 1–255 visible ASCII characters (a UUID is a good choice)', {
        details: { issues: [{ path: 'headers/idempotency-key', message: 'invalid idempotency key' }] },
      });
    }
    const tenantId = principalOf(request).tenantId;
    const scope = `${request.method} ${request.url.split('?')[0]}`;
    const bodyHash = createHash('sha256').update(canonicalJson(request.body ?? null)).digest('hex');
    const claimed = await db.query(
      `INSERT INTO idempotency_keys (tenant_id, key, scope, body_hash, status) VALUES ($1, $2, $3, $4, 'pending')
       ON CONFLICT (tenant_id, key) DO UPDATE SET scope = EXCLUDED.scope, body_hash = EXCLUDED.body_hash, status = 'pending',
              response_status = NULL, response = NULL, created_at = clock_timestamp()
        WHERE idempotency_keys.created_at < clock_timestamp() - ${RETENTION}
           OR (idempotency_keys.status = 'pending' AND idempotency_keys.created_at < clock_timestamp() - ${STALE_PENDING})
       RETURNING key`,
      [tenantId, key, scope, bodyHash],
    );
    if (claimed.length > 0) {
      request.idempotencyClaim = { tenantId, key };
      return;
    }
    const rows = await db.query<ClaimRow>('SELECT scope, body_hash, status, response_status, response FROM idempotency_keys WHERE tenant_id = $1 AND key = $2', [tenantId, key]);
    const row = rows[0];
    if (!row) throw inProgress(key);
    if (row.scope !== scope || row.body_hash !== bodyHash) {
      throw new GroundworkError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different request; use a new key for a new request', {
        details: { idempotency_key: key },
        isRetryable: false,
      });
    }
    if (row.status === 'pending') {
      throw inProgress(key);
    }
    await replay(reply, row);
  }

  async function store(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const claim = request.idempotencyClaim;
    if (!claim) return payload;
    request.idempotencyClaim = undefined;
    if (reply.statusCode >= 500 || typeof payload !== 'string') {
      await db.query('DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2', [claim.tenantId, claim.key]);
      return payload;
    }
    await db.query(`UPDATE idempotency_keys SET status = 'done', response_status = $3, response = $4::jsonb WHERE tenant_id = $1 AND key = $2`, [
      claim.tenantId,
      claim.key,
      reply.statusCode,
      payload,
    ]);
    return payload;
  }

  // A request that ended without a reply being sent (client gone) must not hold its key forever.
  async function release(request: FastifyRequest): Promise<void> {
    const claim = request.idempotencyClaim;
    if (claim) await db.query(`DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND status = 'pending'`, [claim.tenantId, claim.key]);
  }
}

async function replay(reply: FastifyReply, row: ClaimRow): Promise<void> {
  await reply.status(row.response_status ?? 200).header('idempotent-replayed', 'true').header('content-type', 'application/json; charset=utf-8').send(JSON.stringify(row.response));
}


function inProgress(key: string): GroundworkError {
  return new GroundworkError('IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key is being processed; retry shortly', { details: { idempotency_key: key } });
}
