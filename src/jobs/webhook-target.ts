import { lookup } from 'node:dns/promises';
import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/**
 * Which addresses a job webhook may connect to. A tenant chooses the URL and sees how delivery
 * went, so without a policy the server's own network position (loopback services, the cloud
 * metadata endpoint, private networks) would be the tenant's to probe. By default only globally
 * reachable unicast addresses are allowed; `jobs.webhook_allow` lets an operator open CIDR
 * blocks or exact host names for internal receivers. The same policy runs when a job is created
 * and, against the address actually connected, when it is delivered (webhook-dispatcher.ts).
 */

/** This server's own address, which a webhook must not point back at. */
export interface SelfAddress {
  host: string;
  port: number;
}

/** One address a host name resolved to. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to every address it has (tests inject one; the default asks the system resolver). */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: HostResolver = async (hostname) =>
  (await lookup(hostname, { all: true })).map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));

/** Why a connection was refused: the address is not allowed, or it is this server itself. */
export type TargetRefusal = 'not_allowed' | 'self';

/** A webhook target the policy refuses; `detail` (addresses, ports) is for the server log only. */
export class WebhookTargetRefusedError extends Error {
  readonly code = 'GW_WEBHOOK_TARGET_REFUSED';
  constructor(
    readonly refusal: TargetRefusal,
    readonly detail: string,
  ) {
    super(`webhook target refused (${refusal}): ${detail}`);
    this.name = 'WebhookTargetRefusedError';
  }
}

// IANA IPv4 special-purpose blocks that are not globally reachable, plus multicast. A few /32
// anycast services inside 192.0.0.0/24 are reachable, but no webhook receiver lives there.
const BLOCKED_V4: ReadonlyArray<readonly [string, number]> = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8], // private (RFC 1918)
  ['100.64.0.0', 10], // shared address space (CGNAT)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link-local (cloud metadata endpoints live here)
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // deprecated 6to4 relay anycast
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, limited broadcast included
];

// IPv6: only 2000::/3 is global unicast; inside it, the IETF protocol assignments (Teredo,
// benchmarking, ORCHID), documentation and 6to4 (which embeds any IPv4 address) are refused.
const BLOCKED_V6: ReadonlyArray<readonly [string, number]> = [
  ['::', 3], // loopback, unspecified, IPv4-compatible, discard-only, local-use NAT64, …
  ['4000::', 2],
  ['8000::', 1], // ULA fc00::/7, link-local fe80::/10, site-local, multicast ff00::/8
  ['2001::', 23],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['3fff::', 20],
];

// Forms that carry an IPv4 address (IPv4-mapped, NAT64) are judged by that address.
const NAT64_PREFIX = '64:ff9b::';
const EMBEDS_V4: ReadonlyArray<readonly [string, number]> = [
  ['::ffff:0:0', 96],
  [NAT64_PREFIX, 96],
];

/** Connecting to these reaches this host itself, whatever interface the server listens on. */
const LOOPBACK_OR_UNSPECIFIED: ReadonlyArray<readonly [string, number]> = [
  ['127.0.0.0', 8],
  ['0.0.0.0', 32],
  ['::1', 128],
  ['::', 128],
];

// A BlockList matches an IPv4 address against IPv6 rules through its ::ffff: form (and an
// IPv4-mapped IPv6 address against IPv4 rules), so IPv4 and IPv6 rules live in separate lists.
const blockedV4 = blockList(BLOCKED_V4);
for (const [network, prefix] of BLOCKED_V4) blockedV4.addSubnet(`${NAT64_PREFIX}${network}`, 96 + prefix, 'ipv6');
const blockedV6 = blockList(BLOCKED_V6);
const embedsV4 = blockList(EMBEDS_V4);
const loopbackOrUnspecified = blockList(LOOPBACK_OR_UNSPECIFIED);

/** True for an IP address a webhook may reach without an allowlist entry: globally reachable unicast. */
export function isGloballyReachable(address: string): boolean {
  const family = isIP(address);
  if (family === 4) return !blockedV4.check(address, 'ipv4');
  if (family !== 6) return false;
  if (embedsV4.check(address, 'ipv6')) return !blockedV4.check(address, 'ipv6');
  return !blockedV6.check(address, 'ipv6');
}

/** The address policy of one server: the default plus `jobs.webhook_allow`, and its own address. */
export interface WebhookTargetPolicy {
  /** Why connecting to `address` (which `hostname` names) at `port` is refused; undefined when allowed. */
  refusal(target: { hostname: string; address: string; port: number }): TargetRefusal | undefined;
  /** True when `hostname` at `port` names this server without resolving it (its configured host, localhost). */
  namesSelf(hostname: string, port: number): boolean;
}

export interface WebhookTargetPolicyParams {
  /** `jobs.webhook_allow`: CIDR blocks, single addresses or exact host names (validated by the config). */
  allow: readonly string[];
  self: SelfAddress;
  /** This host's interface addresses (default: the system's); a server on 0.0.0.0 answers on all of them. */
  localAddresses?: readonly string[];
}

export function createWebhookTargetPolicy(params: WebhookTargetPolicyParams): WebhookTargetPolicy {
  const allowedNames = new Set<string>();
  const allowed = new BlockList();
  params.allow.forEach((entry, index) => {
    const [address, prefix] = entry.split('/', 2);
    const family = isIP(address);
    if (family === 0) {
      if (prefix !== undefined) throw new Error(`jobs.webhook_allow[${index}] is not a CIDR block`);
      allowedNames.add(normalizeHost(entry));
      return;
    }
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) allowed.addAddress(address, type);
    else allowed.addSubnet(address, Number(prefix), type);
  });

  const selfHost = normalizeHost(params.self.host);
  const selfAddresses = new BlockList();
  if (isIP(selfHost) !== 0) selfAddresses.addAddress(selfHost, familyOf(selfHost));
  // A server bound to every interface (0.0.0.0 / ::) is reachable at each of their addresses.
  if (selfHost === '0.0.0.0' || selfHost === '::') {
    for (const address of params.localAddresses ?? interfaceAddresses()) if (isIP(address) !== 0) selfAddresses.addAddress(address, familyOf(address));
  }

  const namesSelf = (hostname: string, port: number): boolean => {
    if (port !== params.self.port) return false;
    const host = normalizeHost(hostname);
    return host === selfHost || host === 'localhost' || host.endsWith('.localhost');
  };

  return {
    namesSelf,
    refusal({ hostname, address, port }) {
      const family = familyOf(address);
      if (namesSelf(hostname, port)) return 'self';
      if (port === params.self.port && (loopbackOrUnspecified.check(address, family) || selfAddresses.check(address, family))) return 'self';
      if (allowedNames.has(normalizeHost(hostname)) || allowed.check(address, family)) return undefined;
      return isGloballyReachable(address) ? undefined : 'not_allowed';
    },
  };
}

/** A host as URLs and configs spell it, compared: lower case, no IPv6 brackets, no trailing dot. */
export function normalizeHost(host: string): string {
  return host
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '')
    .toLowerCase();
}

function familyOf(address: string): 'ipv4' | 'ipv6' {
  return isIP(address) === 6 ? 'ipv6' : 'ipv4';
}

function blockList(blocks: ReadonlyArray<readonly [string, number]>): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of blocks) list.addSubnet(network, prefix, isIP(network) === 6 ? 'ipv6' : 'ipv4');
  return list;
}

function interfaceAddresses(): string[] {
  return Object.values(networkInterfaces()).flatMap((entries) => (entries ?? []).map((entry) => entry.address.replace(/%.*$/, '')));
}
