import { describe, expect, it } from 'vitest';
import { createWebhookTargetPolicy, isGloballyReachable } from './webhook-target.js';

describe('webhook address policy', () => {
  it('refuses every address that is not globally reachable, IPv4-mapped and NAT64 forms included', () => {
    const refused = [
      ['127.0.0.1', 'loopback'],
      ['127.255.0.9', 'loopback'],
      ['0.0.0.0', 'unspecified'],
      ['0.1.2.3', '"this network"'],
      ['10.1.2.3', 'private'],
      ['172.16.0.1', 'private'],
      ['172.31.255.254', 'private'],
      ['192.168.1.1', 'private'],
      ['100.64.0.1', 'shared (CGNAT)'],
      ['100.127.255.254', 'shared (CGNAT)'],
      ['169.254.169.254', 'link-local (cloud metadata)'],
      ['192.0.0.8', 'IETF protocol assignments'],
      ['192.0.2.10', 'documentation'],
      ['198.51.100.7', 'documentation'],
      ['203.0.113.9', 'documentation'],
      ['198.18.0.1', 'benchmarking'],
      ['198.19.255.1', 'benchmarking'],
      ['192.88.99.1', '6to4 relay anycast'],
      ['224.0.0.1', 'multicast'],
      ['239.255.255.250', 'multicast'],
      ['240.0.0.1', 'reserved'],
      ['255.255.255.255', 'limited broadcast'],
      ['::1', 'IPv6 loopback'],
      ['::', 'IPv6 unspecified'],
      ['::ffff:7f00:1', 'IPv4-mapped loopback'],
      ['::ffff:127.0.0.1', 'IPv4-mapped loopback, dotted'],
      ['::ffff:a9fe:a9fe', 'IPv4-mapped metadata'],
      ['::ffff:10.0.0.1', 'IPv4-mapped private'],
      ['::7f00:1', 'IPv4-compatible loopback'],
      ['::ffff:0:7f00:1', 'IPv4-translated loopback'],
      ['64:ff9b::7f00:1', 'NAT64 of loopback'],
      ['64:ff9b::a9fe:a9fe', 'NAT64 of metadata'],
      ['64:ff9b::c0a8:101', 'NAT64 of private'],
      ['64:ff9b:1::1', 'local-use NAT64'],
      ['fe80::1', 'link-local'],
      ['febf::1', 'link-local'],
      ['fc00::1', 'unique local'],
      ['fd12:3456::1', 'unique local'],
      ['fec0::1', 'site-local'],
      ['ff02::1', 'multicast'],
      ['100::1', 'discard-only'],
      ['2001::1', 'Teredo'],
      ['2001:2::1', 'benchmarking'],
      ['2001:db8::1', 'documentation'],
      ['3fff::1', 'documentation'],
      ['2002:7f00:1::1', '6to4 (embeds any IPv4)'],
      ['5f00::1', 'SRv6 SIDs'],
    ];
    for (const [address, why] of refused) expect(isGloballyReachable(address), `${address} (${why})`).toBe(false);
  });

  it('allows globally reachable unicast, in IPv4, IPv6, IPv4-mapped and NAT64 forms', () => {
    for (const address of [
      '93.184.216.34',
      '8.8.8.8',
      '1.1.1.1',
      '100.63.255.255',
      '100.128.0.1',
      '172.32.0.1',
      '192.31.196.1',
      '2606:4700:4700::1111',
      '2a00:1450:4001::1',
      '::ffff:8.8.8.8',
      '64:ff9b::808:808',
    ]) {
      expect(isGloballyReachable(address), address).toBe(true);
    }
    expect(isGloballyReachable('not an address')).toBe(false);
  });

  it('opens CIDR blocks, single addresses and exact host names from jobs.webhook_allow, and nothing else', () => {
    const policy = createWebhookTargetPolicy({
      allow: ['10.0.0.0/8', '127.0.0.1/32', '::1/128', '192.168.7.7', 'Hooks.Internal.'],
      self: { host: '127.0.0.1', port: 8080 },
    });
    const at = (hostname: string, address: string, port = 9000) => policy.refusal({ hostname, address, port });
    expect(at('10.1.2.3', '10.1.2.3')).toBeUndefined();
    expect(at('127.0.0.1', '127.0.0.1')).toBeUndefined();
    expect(at('::ffff:7f00:1', '::ffff:7f00:1')).toBeUndefined();
    expect(at('::1', '::1')).toBeUndefined();
    expect(at('receiver', '192.168.7.7')).toBeUndefined();
    expect(at('hooks.internal', '172.16.5.5')).toBeUndefined();
    expect(at('HOOKS.INTERNAL.', '169.254.169.254')).toBeUndefined();
    // Neighbours of the allowed blocks stay refused.
    expect(at('127.0.0.2', '127.0.0.2')).toBe('not_allowed');
    expect(at('192.168.7.8', '192.168.7.8')).toBe('not_allowed');
    expect(at('other.internal', '172.16.5.5')).toBe('not_allowed');
    expect(at('sub.hooks.internal', '172.16.5.5')).toBe('not_allowed');
    expect(at('example.com', '93.184.216.34')).toBeUndefined();
  });

  it('refuses this server itself even where the allowlist opens its address', () => {
    const policy = createWebhookTargetPolicy({ allow: ['127.0.0.0/8', '10.0.0.0/8', 'hooks.internal'], self: { host: '127.0.0.1', port: 8080 } });
    expect(policy.refusal({ hostname: '127.0.0.1', address: '127.0.0.1', port: 8080 })).toBe('self');
    expect(policy.refusal({ hostname: 'hooks.internal', address: '127.0.0.1', port: 8080 })).toBe('self');
    expect(policy.refusal({ hostname: 'localhost', address: '10.0.0.1', port: 8080 })).toBe('self');
    expect(policy.refusal({ hostname: '127.0.0.1', address: '127.0.0.1', port: 8081 })).toBeUndefined();
    expect(policy.namesSelf('LOCALHOST.', 8080)).toBe(true);
    expect(policy.namesSelf('api.localhost', 8080)).toBe(true);
    expect(policy.namesSelf('localhost', 8081)).toBe(false);

    // Listening on every interface, the server answers at each of their addresses.
    const everywhere = createWebhookTargetPolicy({
      allow: ['10.0.0.0/8'],
      self: { host: '0.0.0.0', port: 8080 },
      localAddresses: ['127.0.0.1', '10.0.0.5', 'fe80::1'],
    });
    expect(everywhere.refusal({ hostname: 'box.internal', address: '10.0.0.5', port: 8080 })).toBe('self');
    expect(everywhere.refusal({ hostname: 'box.internal', address: '10.0.0.6', port: 8080 })).toBeUndefined();
    expect(everywhere.refusal({ hostname: 'box.internal', address: '10.0.0.5', port: 9000 })).toBeUndefined();
  });
});
