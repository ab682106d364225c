import { createHash, randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { GroundworkError, isRetryableStatus } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import { canonicalJson } from '../kernel/json.js';
import type { Database } from '../store/ports.js';
import { principalOf } from './auth.js';

/**
 * `Idempotency-Key` for routes marked `config: { idempotent: true }` (every POST that creates
 * work). The first request with a key claims it in the database (so replicas agree); the same
 * key with the same body then gets the stored answer again (header `Idempotent-Replayed: true`),
 * a different body IDEMPOTENCY_KEY_REUSED, and a request while the first still runs
 * IDEMPOTENCY_IN_PROGRESS. Only final outcomes are stored (2xx and 4xx a retry would repeat);
 * a retryable answer (408, 409, 425, 429, 499, 5xx) releases the key so a retry runs again.
 * A claim is held under a lease its process renews while the request runs, so the claim of a
 * process that died is taken over by the next request once its lease runs out. Keys are per
 * tenant and remembered for 24 hours.
 */

declare module 'fastify' {
  interface FastifyContextConfig {
    /** POST that creates work: honours Idempotency-Key. */
    idempotent?: boolean;
  }
  interface FastifyRequest {
    idempotencyClaim?: Claim;
  }
}

/** Lease timings (tests shorten them) and who this process is. */
export interface IdempotencyOptions {
  db: Database;
  /** Names the process that holds a claim (for operators); default: one id per process. */
  instanceId?: string;
  /** How long a claim is held without renewal; default 15 s. */
  leaseMs?: number;
  /** How often in-flight claims are renewed; default 5 s, well under leaseMs. */
  renewMs?: number;
}

interface Claim {
  tenantId: string;
  key: string;
  /** This request's claim: only it may finish or release the row. */
  claimId: string;
}

interface ClaimRow {
  scope: string;
  body_hash: string;
  status: 'pending' | 'done';
  response_status: number | null;
  response: unknown;
}

const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const RETENTION = "interval '24 hours'";
// Claims written before leases existed (or by an older release mid-deploy) keep the old rule.
const LEGACY_LEASE = "interval '10 minutes'";
const PROCESS_INSTANCE_ID = newId('inst');
const DEFAULT_LEASE_MS = 15_000;
const DEFAULT_RENEW_MS = 5_000;

export function registerIdempotency(server: FastifyInstance, options: IdempotencyOptions): void {
  const { db } = options;
  const owner = options.instanceId ?? PROCESS_INSTANCE_ID;
  const leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
  const renewMs = options.renewMs ?? DEFAULT_RENEW_MS;
  if (!(renewMs > 0 && renewMs < leaseMs)) throw new Error(`idempotency: renewMs (${renewMs}) must be above 0 and below leaseMs (${leaseMs})`);
  const leases = createLeaseKeeper({ db, leaseMs, renewMs, onError: (error) => server.log.warn({ err: error }, 'idempotency: renewing claim leases failed') });

  // Route-level hooks, on the routes that create work only: other routes (the gateway's hot
  // path among them) pay nothing for this feature.
  server.addHook('onRoute', (route) => {
    if (!route.config?.idempotent) return;
    route.preHandler = [...[route.preHandler ?? []].flat(), claim];
    route.onSend = [...[route.onSend ?? []].flat(), store];
    route.onResponse = [...[route.onResponse ?? []].flat(), release];
  });
  server.addHook('onClose', (_instance, done) => {
    leases.stop();
    done();
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
    const bodyHash = createHash('sha256')
      .update(canonicalJson(request.body ?? null))
      .digest('hex');
    const claimId = randomUUID();
    // Taken when free, when its answer is past retention, or when its owner's lease ran out.
    const claimed = await db.query(
      `INSERT INTO idempotency_keys (tenant_id, key, scope, body_hash, status, owner, claim_id, lease_until)
       VALUES ($1, $2, $3, $4, 'pending', $5, $6, clock_timestamp() + $7::double precision * interval '1 millisecond')
       ON CONFLICT (tenant_id, key) DO UPDATE SET scope = EXCLUDED.scope, body_hash = EXCLUDED.body_hash, status = 'pending',
              response_status = NULL, response = NULL, created_at = clock_timestamp(),
              owner = EXCLUDED.owner, claim_id = EXCLUDED.claim_id, lease_until = EXCLUDED.lease_until
        WHERE (idempotency_keys.status = 'done' AND idempotency_keys.created_at < clock_timestamp() - ${RETENTION})
           OR (idempotency_keys.status = 'pending'
               AND coalesce(idempotency_keys.lease_until, idempotency_keys.created_at + ${LEGACY_LEASE}) < clock_timestamp())
       RETURNING key`,
      [tenantId, key, scope, bodyHash, owner, claimId, leaseMs],
    );
    if (claimed.length > 0) {
      const held: Claim = { tenantId, key, claimId };
      request.idempotencyClaim = held;
      leases.hold(held);
      // However the exchange ends (a client gone included), this process stops renewing the
      // claim: a claim can never outlive its request here, and its lease then runs out.
      reply.raw.once('close', () => leases.drop(held));
      return;
    }
    // Refusals and replays below never touch the row: the first request's claim stands.
    const rows = await db.query<ClaimRow>(
      'SELECT scope, body_hash, status, response_status, response FROM idempotency_keys WHERE tenant_id = $1 AND key = $2',
      [tenantId, key],
    );
    const row = rows[0];
    if (!row) throw inProgress(key);
    if (row.scope !== scope || row.body_hash !== bodyHash) {
      throw new GroundworkError('IDEMPOTENCY_KEY_REUSED', 'this Idempotency-Key was used with a different request; use a new key for a new request', {
        details: { idempotency_key: key },
        isRetryable: false,
      });
    }
    if (row.status === 'pending') throw inProgress(key);
    await replay(reply, row);
  }

  async function store(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const held = request.idempotencyClaim;
    if (!held) return payload;
    request.idempotencyClaim = undefined;
    leases.drop(held);
    const params = [held.tenantId, held.key, held.claimId];
    try {
      if (isFinalOutcome(reply.statusCode) && typeof payload === 'string') {
        await db.query(
          `UPDATE idempotency_keys SET status = 'done', response_status = $4, response = $5::jsonb, lease_until = NULL
            WHERE tenant_id = $1 AND key = $2 AND claim_id = $3 AND status = 'pending'`,
          [...params, reply.statusCode, payload],
        );
      } else {
        await db.query(`DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND claim_id = $3 AND status = 'pending'`, params);
      }
    } catch (error) {
      // The answer still goes out; the claim, no longer renewed, is free once its lease ends.
      request.log.warn({ err: error }, 'idempotency: could not store or release the claim');
    }
    return payload;
  }

  // A request that ended without its answer passing through onSend must not hold its key.
  async function release(request: FastifyRequest): Promise<void> {
    const held = request.idempotencyClaim;
    if (!held) return;
    request.idempotencyClaim = undefined;
    leases.drop(held);
    await db.query(`DELETE FROM idempotency_keys WHERE tenant_id = $1 AND key = $2 AND claim_id = $3 AND status = 'pending'`, [
      held.tenantId,
      held.key,
      held.claimId,
    ]);
  }
}

/**
 * Embedded mode, at start-up: the one process that owns the data folder releases every pending
 * claim, none of which can have a live owner (they were its dead predecessor's). Never call this
 * on a shared PostgreSQL server, where other replicas hold live claims.
 */
export async function releasePendingClaims(db: Database): Promise<number> {
  // Deliberately across tenants: this is the store's own housekeeping, not a tenant's request.
  const released = await db.query(`DELETE FROM idempotency_keys WHERE status = 'pending' RETURNING key`);
  return released.length;
}

/**
 * Worth replaying: a success, or a client error the same request would meet again. A retryable
 * answer (the kernel's 408, 409, 429, 5xx; 425 Too Early; 499 client gone) is not an outcome.
 */
export function isFinalOutcome(status: number): boolean {
  if (status >= 200 && status < 300) return true;
  return status >= 400 && status < 500 && !isRetryableStatus(status) && status !== 425 && status !== 499;
}

/**
 * The claims this process holds, renewed with one UPDATE per interval for all of them, with a
 * timer that runs only while there are any.
 */
function createLeaseKeeper(options: { db: Database; leaseMs: number; renewMs: number; onError(error: unknown): void }) {
  const held = new Map<string, Claim>();
  let timer: NodeJS.Timeout | undefined;
  let renewing = false;

  async function renew(): Promise<void> {
    if (renewing || held.size === 0) return;
    renewing = true;
    const claims = [...held.values()];
    try {
      await options.db.query(
        `UPDATE idempotency_keys AS k SET lease_until = clock_timestamp() + $4::double precision * interval '1 millisecond'
           FROM unnest($1::text[], $2::text[], $3::text[]) AS c(tenant_id, key, claim_id)
          WHERE k.tenant_id = c.tenant_id AND k.key = c.key AND k.claim_id = c.claim_id AND k.status = 'pending'`,
        [claims.map((c) => c.tenantId), claims.map((c) => c.key), claims.map((c) => c.claimId), options.leaseMs],
      );
    } catch (error) {
      options.onError(error);
    } finally {
      renewing = false;
    }
  }

  function stop(): void {
    if (timer) clearInterval(timer);
    timer = undefined;
  }

  return {
    hold(claim: Claim): void {
      held.set(claim.claimId, claim);
      if (!timer) {
        timer = setInterval(() => void renew(), options.renewMs);
        timer.unref();
      }
    },
    drop(claim: Claim): void {
      held.delete(claim.claimId);
      if (held.size === 0) stop();
    },
    stop,
  };
}

async function replay(reply: FastifyReply, row: ClaimRow): Promise<void> {
  await reply
    .status(row.response_status ?? 200)
    .header('idempotent-replayed', 'true')
    .header('content-type', 'application/json; charset=utf-8')
    .send(JSON.stringify(row.response));
}

function inProgress(key: string): GroundworkError {
  return new GroundworkError('IDEMPOTENCY_IN_PROGRESS', 'a request with this Idempotency-Key is being processed; retry shortly', {
    details: { idempotency_key: key },
  });
}
