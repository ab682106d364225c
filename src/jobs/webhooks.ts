import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import { GroundworkError } from '../kernel/errors.js';
import { lazyPackage } from '../kernel/lazy-package.js';
import { guardedConnector } from './webhook-connector.js';
import { normalizeHost, systemResolver, WebhookTargetRefusedError, type HostResolver, type WebhookTargetPolicy } from './webhook-target.js';

/** Loaded at the first delivery (see lazy-package.ts). */
const undici = lazyPackage<typeof import('undici')>('undici');

/**
 * Job completion webhooks. Each delivery is a POST of `{ "job": { … } }` (JSON) with the header
 *
 *   Groundwork-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>
 *
 * signed with the tenant's webhook secret. A receiver verifies it with `verifyWebhook` (or the
 * same three steps in any language): recompute the HMAC over the timestamp, a dot and the raw
 * body bytes exactly as received, compare in constant time, and reject timestamps older than a
 * tolerance (replays). Any 2xx answer counts as delivered; anything else is retried with backoff.
 * Where a webhook may point is webhook-target.ts's policy, enforced when the URL is given and
 * again on the connection itself (webhook-connector.ts).
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
export function verifyWebhook(
  secret: string,
  header: string | undefined,
  rawBody: string,
  toleranceSec = 300,
  nowSec: number = Math.floor(Date.now() / 1000),
): boolean {
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

const NOT_ALLOWED =
  'must resolve to a publicly reachable address (loopback, private, link-local and other special-purpose addresses are refused unless the server lists them in jobs.webhook_allow)';

/** What `checkWebhookUrl` checks a URL against. */
export interface WebhookUrlCheck {
  policy: WebhookTargetPolicy;
  /** Default: the system resolver. */
  resolve?: HostResolver;
}

/**
 * Checks a webhook URL when a job is created: absolute http(s), no credentials, not this server
 * itself, and every address its host resolves to allowed by the policy (see webhook-target.ts).
 * Delivery checks again, against the address it connects to. Returns the normalized URL.
 */
export async function checkWebhookUrl(raw: string, check: WebhookUrlCheck): Promise<string> {
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
  // WHATWG URL parsing already normalizes addresses: 2130706433 and 0x7f.1 become 127.0.0.1,
  // [0:0::1] becomes [::1], and an IPv4-mapped [::ffff:127.0.0.1] becomes [::ffff:7f00:1].
  const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
  const host = normalizeHost(url.hostname);
  if (check.policy.namesSelf(host, port)) throw invalid('points at this server itself');
  let addresses: string[];
  if (isIP(host) !== 0) {
    addresses = [host];
  } else {
    try {
      addresses = (await (check.resolve ?? systemResolver)(host)).map((entry) => entry.address);
    } catch (error) {
      // "No such name" is the tenant's mistake; a resolver hiccup is not, and delivery checks again.
      if (NO_SUCH_NAME.has((error as NodeJS.ErrnoException).code ?? '')) throw invalid(NOT_ALLOWED);
      return url.toString();
    }
    if (addresses.length === 0) throw invalid(NOT_ALLOWED);
  }
  for (const address of addresses) {
    const refusal = check.policy.refusal({ hostname: host, address, port });
    if (refusal === 'self') throw invalid('points at this server itself');
    if (refusal) throw invalid(NOT_ALLOWED);
  }
  return url.toString();
}

const NO_SUCH_NAME = new Set(['ENOTFOUND', 'ENODATA', 'EAI_NONAME', 'EAI_NODATA']);

/**
 * At most this much of a receiver's answer is read (only its status matters); then the
 * connection is dropped, so a receiver streaming an endless body costs the server nothing.
 */
export const MAX_RESPONSE_BYTES = 64 * 1024;

export interface DeliverParams {
  url: string;
  secret: string;
  rawBody: string;
  /** Deadline for the whole delivery: connect, answer and the bounded read. */
  timeoutMs: number;
  policy: WebhookTargetPolicy;
  /** Default: the system resolver. */
  resolve?: HostResolver;
}

/** POSTs one signed delivery; resolves with the status of a 2xx answer, throws WebhookDeliveryError otherwise. */
export async function deliverWebhook(params: DeliverParams): Promise<number> {
  // One dispatcher per delivery: its connector enforces the address policy, and destroying it
  // drops the connection together with whatever of the answer was left unread.
  const dispatcher = new (undici().Agent)({
    connect: guardedConnector({ policy: params.policy, resolve: params.resolve ?? systemResolver, timeoutMs: params.timeoutMs }),
    headersTimeout: params.timeoutMs,
    bodyTimeout: params.timeoutMs,
  });
  const signal = AbortSignal.timeout(params.timeoutMs);
  try {
    // undici's request() never follows redirects: a receiver must answer itself.
    const response = await undici().request(params.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'groundwork-webhooks/1', [SIGNATURE_HEADER]: signWebhook(params.secret, params.rawBody) },
      body: params.rawBody,
      dispatcher,
      signal,
    });
    await readAtMost(response.body, MAX_RESPONSE_BYTES);
    if (response.statusCode < 200 || response.statusCode > 299)
      throw new WebhookDeliveryError(`answered HTTP ${response.statusCode}`, { status: response.statusCode });
    return response.statusCode;
  } catch (error) {
    if (error instanceof WebhookDeliveryError) throw error;
    throw new WebhookDeliveryError(failureClass(error, signal.aborted), { detail: detailOf(error) });
  } finally {
    await dispatcher.destroy().catch(() => undefined);
  }
}

/** Reads up to `limit` bytes of a body and stops (the caller drops the connection); errors after the answer's status do not matter. */
async function readAtMost(body: AsyncIterable<Buffer> & { destroy(): unknown }, limit: number): Promise<void> {
  let read = 0;
  try {
    for await (const chunk of body) {
      read += chunk.length;
      if (read >= limit) break;
    }
  } catch {
    // The status is what counts; a body cut short or timed out changes nothing.
  } finally {
    body.destroy();
  }
}

/**
 * What went wrong, as the tenant may see it (job webhook.last_error): the class of failure,
 * never an address, port, errno text or resolver message, which would make delivery a probe of
 * the server's network. The detail goes to the server log.
 */
function failureClass(error: unknown, timedOut: boolean): string {
  if (error instanceof WebhookTargetRefusedError) return "refused: the receiver's address is not allowed";
  const code = errorCode(error);
  if (timedOut || /TIMEOUT|^ETIMEDOUT$/.test(code)) return 'timed out';
  if (NO_SUCH_NAME.has(code) || code === 'EAI_AGAIN' || code === 'EAI_FAIL' || code === 'ESERVFAIL') return "could not resolve the receiver's host name";
  if (/^(ERR_TLS_|ERR_SSL_)|CERT|SELF_SIGNED|UNABLE_TO_|^EPROTO$/.test(code)) return 'TLS failure';
  if (/^(ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|EADDRNOTAVAIL|EHOSTDOWN|ENETDOWN)$/.test(code)) return 'could not connect';
  if (/^(ECONNRESET|EPIPE|UND_ERR_SOCKET|UND_ERR_CLOSED)$/.test(code)) return 'the connection closed before an answer';
  if (code.startsWith('HPE_')) return 'answered with an invalid HTTP response';
  return 'delivery failed';
}

function errorCode(error: unknown): string {
  // net's multi-address connect (happy eyeballs) fails with every address's error together.
  const first = error instanceof AggregateError && error.errors.length > 0 ? error.errors[0] : error;
  const code = (first as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : '';
}

function detailOf(error: unknown): string {
  if (error instanceof WebhookTargetRefusedError) return error.message;
  const code = errorCode(error);
  const message = error instanceof Error ? error.message : String(error);
  return code ? `${code}: ${message}` : message;
}

/** A failed delivery. `message` is safe to show the tenant; `detail` is for the server log only. */
export class WebhookDeliveryError extends Error {
  readonly status?: number;
  readonly detail?: string;
  constructor(message: string, options: { status?: number; detail?: string } = {}) {
    super(message);
    this.name = 'WebhookDeliveryError';
    this.status = options.status;
    this.detail = options.detail;
  }
}
