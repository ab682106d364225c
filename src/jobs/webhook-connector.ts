import type { LookupOptions } from 'node:dns';
import { isIP, type LookupFunction } from 'node:net';
import type { buildConnector } from 'undici';
import { lazyPackage } from '../kernel/lazy-package.js';
import { normalizeHost, WebhookTargetRefusedError, type HostResolver, type WebhookTargetPolicy } from './webhook-target.js';

/** Loaded at the first delivery (see lazy-package.ts). */
const undici = lazyPackage<typeof import('undici')>('undici');

/**
 * The undici connector webhook deliveries use: the address policy runs inside the connect
 * itself, on the addresses the socket will be opened to. Checking a URL and then letting the
 * HTTP client resolve the name again would let DNS answer differently the second time
 * (rebinding); here the name is resolved once, refused addresses are dropped, and only the
 * allowed ones reach `net.connect`.
 */

export interface GuardedConnectorParams {
  policy: WebhookTargetPolicy;
  resolve: HostResolver;
  /** Connect (TCP and TLS handshake) deadline. */
  timeoutMs: number;
}

export function guardedConnector(params: GuardedConnectorParams): buildConnector.connector {
  return (options, callback) => {
    const port = Number(options.port) || (options.protocol === 'https:' ? 443 : 80);
    const host = normalizeHost(options.hostname);
    // net.connect skips the lookup for an address literal, so it is judged here.
    if (isIP(host) !== 0) {
      const refusal = params.policy.refusal({ hostname: host, address: host, port });
      if (refusal) return void process.nextTick(callback, new WebhookTargetRefusedError(refusal, `${host} port ${port}`), null);
    }
    // Built per connection so that the lookup knows the port (this server's own one is refused).
    undici().buildConnector({ timeout: params.timeoutMs, lookup: guardedLookup(params, port) })(options, callback);
  };
}

function guardedLookup(params: GuardedConnectorParams, port: number): LookupFunction {
  return (hostname: string, options: LookupOptions, callback) => {
    params.resolve(hostname).then(
      (resolved) => {
        const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
        const candidates = family === 0 ? resolved : resolved.filter((entry) => entry.family === family);
        const allowed = candidates.filter((entry) => !params.policy.refusal({ hostname, address: entry.address, port }));
        if (candidates.length === 0) return callback(Object.assign(new Error(`no address for ${hostname}`), { code: 'ENOTFOUND', hostname }), '', 0);
        if (allowed.length === 0) {
          const refusal = params.policy.refusal({ hostname, address: candidates[0].address, port }) ?? 'not_allowed';
          return callback(new WebhookTargetRefusedError(refusal, `${hostname} (${candidates.map((c) => c.address).join(', ')}) port ${port}`), '', 0);
        }
        if (options.all) callback(null, allowed);
        else callback(null, allowed[0].address, allowed[0].family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };
}
