import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { GroundworkError } from '../kernel/errors.js';

/**
 * Job completion webhooks. Each delivery is a POST of `{ "job": { … } }` (JSON) with the header
 *
 *   Groundwork-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * signed with the tenant's webhook secret. A receiver verifies it with `verifyWebhook` (or the
 * same three steps in any language): recompute the HMAC over the timestamp, a dot and the raw
 * body bytes exactly as received, compare in constant time, and reject timestamps older than a
 * tolerance (replays). Any 2xx answer counts as delivered; anything else is retried with backoff.
 */

export const SIGNATURE_HEADER = 'groundwork-signature';
const MAX_URL_LENGTH = 2_048;

/** The `Groundwork-Signature` header value for this body. */
export function signWebhook(secret: string, rawBody: string, timestampSec: number = Math.floor(Date.now() / 1000)): string {
  return `t=${timestampSec},v1=${hmac(secret, timestampSec, rawBody)}`;
}

/**
 * True when `header` is a valid signature of `rawBody` with `secret`, made at most
 * `toleranceSec` seconds from now (either way). Several v1 values (secret rotation) may be given.
 */
export function verifyWebhook(secret: string, header: string | undefined, rawBody: string, toleranceSec = 300, nowSec: number = Math.floor(Date.now() / 1000)): boolean {
  if (!header) return false;
  let timestamp: number | undefined;
  const signatures: string[] = [];
  for (const part of header.split(',')) {
    const [key, value] = part.trim().split('=', 2);
    if (key === 't' && /^\d{1,12}$/.test(value ?? '')) timestamp = Number(value);
    else if (key === 'v1' && /^[0-9a-f]{64}$/.test(value ?? '')) signatures.push(value);
  }
  if (timestamp === undefined || signatures.length === 0) return false;
  if (Math.abs(nowSec - timestamp) > toleranceSec) return false;
  const expected = Buffer.from(hmac(secret, timestamp, rawBody), 'hex');
  return signatures.some((signature) => timingSafeEqual(Buffer.from(signature, 'hex'), expected));
}

function hmac(secret: string, timestampSec: number, rawBody: string): string {
  return createHmac('sha256', secret).update(`${timestampSec}.${rawBody}`).digest('hex');
}

/** This server's own address, which a webhook must not point back at. */
export interface SelfAddress {
  host: string;
  port: number;
}

/**
 * Checks a webhook URL: absolute http(s), no credentials, and not this server itself (its own
 * host, a loopback or unspecified address, at its own port). Other local ports are allowed:
 * a receiver on the same machine is a normal development setup. Returns the normalized URL.
 */
export function checkWebhookUrl(raw: string, self: SelfAddress): string {
  const invalid = (reason: string) =>
    new GroundworkError('WEBHOOK_URL_INVALID', `webhook_url ${reason}`, { details: { issues: [{ path: 'webhook_url', message: reason }] } });
  if (raw.length > MAX_URL_LENGTH) throw invalid(`is longer than ${MAX_URL_LENGTH} characters`);
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw invalid('is not an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw invalid(`must use http or https, not ${url.protocol.replace(/:$/, '')}`);
  if (url.username || url.password) throw invalid('must not contain credentials (the payload is signed instead)');
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const selfHost = self.host.replace(/^\[|\]$/g, '').toLowerCase();
  if (port === self.port && (host === selfHost || isLoopbackOrUnspecified(host))) throw invalid('points at this server itself');
  return url.toString();
}

// WHATWG URL parsing already normalizes addresses: 2130706433 and 0x7f.1 become 127.0.0.1,
// [0:0::1] becomes [::1], and an IPv4-mapped [::ffff:127.0.0.1] becomes [::ffff:7f00:1].
function isLoopbackOrUnspecified(host: string): boolean {
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.') || host === '0.0.0.0';
  if (isIP(host) === 6) return host === '::1' || host === '::' || /^::ffff:(7f[0-9a-f]{2}:|0:)/.test(host);
  return false;
}

export interface DeliverParams {
  url: string;
  secret: string;
  rawBody: string;
  timeoutMs: number;
  fetch?: typeof fetch;
}

/** POSTs one signed delivery; resolves with the status of a 2xx answer, throws otherwise. */
export async function deliverWebhook(params: DeliverParams): Promise<number> {
  const send = params.fetch ?? fetch;
  let response: Response;
  try {
    response = await send(params.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'groundwork-webhooks/1', [SIGNATURE_HEADER]: signWebhook(params.secret, params.rawBody) },
      body: params.rawBody,
      // A redirect could point anywhere, this server included: a receiver must answer itself.
      redirect: 'manual',
      signal: AbortSignal.timeout(params.timeoutMs),
    });
  } catch (error) {
    const timedOut = (error as Error).name === 'TimeoutError';
    throw new WebhookDeliveryError(timedOut ? `no answer within ${params.timeoutMs} ms` : `request failed: ${(error as Error).message}`);
  }
  await response.arrayBuffer().catch(() => undefined);
  if (response.status < 200 || response.status > 299) throw new WebhookDeliveryError(`answered HTTP ${response.status}`, response.status);
  return response.status;
}

export class WebhookDeliveryError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'WebhookDeliveryError';
  }
}
