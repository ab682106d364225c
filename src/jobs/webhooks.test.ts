import { createHmac } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGroundworkError } from '../kernel/errors.js';
import { createWebhookTargetPolicy, type HostResolver } from './webhook-target.js';
import { checkWebhookUrl, deliverWebhook, MAX_RESPONSE_BYTES, signWebhook, verifyWebhook, WebhookDeliveryError } from './webhooks.js';

const secret = 'whsec_test';
const body = JSON.stringify({ job: { id: 'job_1', status: 'succeeded' } });

describe('webhook signatures', () => {
  it('are HMAC-SHA256 over "<t>.<body>", documented well enough to check by hand', () => {
    const header = signWebhook(secret, body, 1_700_000_000);
    const expected = createHmac('sha256', secret).update(`1700000000.${body}`).digest('hex');
    expect(header).toBe(`t=1700000000,v1=${expected}`);
    expect(verifyWebhook(secret, header, body, 300, 1_700_000_100)).toBe(true);
  });

  it('reject another secret, a changed body, a stale or future timestamp and malformed headers', () => {
    const header = signWebhook(secret, body, 1_700_000_000);
    expect(verifyWebhook('whsec_other', header, body, 300, 1_700_000_000)).toBe(false);
    expect(verifyWebhook(secret, header, body.replace('succeeded', 'failed'), 300, 1_700_000_000)).toBe(false);
    expect(verifyWebhook(secret, header, body, 300, 1_700_000_301)).toBe(false);
    expect(verifyWebhook(secret, header, body, 300, 1_699_999_699)).toBe(false);
    for (const bad of [undefined, '', 'v1=abc', 't=1700000000', 't=x,v1=00', `t=1700000000,v1=${'0'.repeat(63)}`]) {
      expect(verifyWebhook(secret, bad, body, 300, 1_700_000_000)).toBe(false);
    }
  });

  it('accept any one matching v1 (secret rotation)', () => {
    const good = signWebhook(secret, body, 1_700_000_000).split(',')[1];
    expect(verifyWebhook(secret, `t=1700000000,v1=${'a'.repeat(64)},${good}`, body, 300, 1_700_000_000)).toBe(true);
  });
});

/** A resolver answering from a table (no network); unknown names fail as the system resolver does. */
function resolverOf(table: Record<string, string[]>): HostResolver {
  return async (hostname) => {
    const addresses = table[hostname];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
}

// Nothing a tenant sees may name an address, a port or an errno.
const NETWORK_DETAIL = /127\.0\.0\.1|::1|::ffff|\b\d{1,3}(\.\d{1,3}){3}\b|port|:\d{2,5}\b|\bE[A-Z]{3,}|getaddrinfo|UND_ERR|ssl|socket/i;

const self = { host: '127.0.0.1', port: 8080 };
const names = resolverOf({
  'hooks.example.com': ['93.184.216.34', '2606:2800:220:1:248:1893:25c8:1946'],
  localhost: ['127.0.0.1', '::1'],
  'localhost.': ['127.0.0.1'],
  'to-loopback.example.com': ['127.0.0.1'],
  'to-metadata.example.com': ['169.254.169.254'],
  'to-private-v6.example.com': ['fd00::5'],
  'mixed.example.com': ['93.184.216.34', '10.0.0.7'],
  'hooks.internal': ['172.16.5.5'],
});

/** The WEBHOOK_URL_INVALID message for `url`, or undefined when it is accepted. */
async function refusal(url: string, allow: string[] = [], resolve: HostResolver = names, at = self): Promise<string | undefined> {
  try {
    await checkWebhookUrl(url, { policy: createWebhookTargetPolicy({ allow, self: at }), resolve });
    return undefined;
  } catch (error) {
    if (isGroundworkError(error) && error.code === 'WEBHOOK_URL_INVALID') {
      expect(error.details.issues).toEqual([{ path: 'webhook_url', message: expect.any(String) }]);
      return error.message;
    }
    throw error;
  }
}

describe('webhook URLs', () => {
  it('accept http(s) receivers at public addresses', async () => {
    const policy = createWebhookTargetPolicy({ allow: [], self });
    await expect(checkWebhookUrl('https://hooks.example.com/groundwork?x=1', { policy, resolve: names })).resolves.toBe(
      'https://hooks.example.com/groundwork?x=1',
    );
    for (const url of ['http://93.184.216.34:8080/x', 'http://[2606:4700:4700::1111]/x', 'https://[::ffff:8.8.8.8]/x'])
      expect(await refusal(url), url).toBeUndefined();
  });

  it('refuse loopback, private, link-local, CGNAT, multicast and other non-public addresses, however written', async () => {
    for (const url of [
      'http://127.0.0.1:9000/hook',
      'http://127.0.0.1:5432/',
      'http://LOCALHOST.:9000/',
      'http://localhost:3000/hook',
      'http://to-loopback.example.com/hook',
      'http://to-metadata.example.com/latest/meta-data/',
      'http://to-private-v6.example.com/',
      'http://mixed.example.com/',
      'http://169.254.169.254/latest/meta-data/',
      'http://10.1.2.3/',
      'http://172.16.0.1/',
      'http://192.168.1.1/',
      'http://100.64.0.1/',
      'http://0.0.0.0:9000/',
      'http://224.0.0.1/',
      'http://255.255.255.255/',
      'http://198.18.0.1/',
      'http://2130706433:9000/',
      'http://0x7f.1:9000/',
      'http://[::1]:9000/',
      'http://[::ffff:127.0.0.1]:9000/',
      'http://[::ffff:a9fe:a9fe]/',
      'http://[64:ff9b::a9fe:a9fe]/',
      'http://[fe80::1]/',
      'http://[fd00::1]/',
      'http://[ff02::1]/',
      'http://nowhere.invalid/',
    ]) {
      expect(await refusal(url), url).toMatch(/publicly reachable address/);
    }
  });

  it('refuse localhost by the system resolver too', async () => {
    expect(await refusal('http://localhost:3000/hook', [], undefined)).toMatch(/publicly reachable address/);
  });

  it('accept addresses and host names the operator allowlisted (jobs.webhook_allow)', async () => {
    const allow = ['10.0.0.0/8', '127.0.0.1/32', '::1/128', 'hooks.internal'];
    for (const url of ['http://10.1.2.3/', 'http://127.0.0.1:9000/hook', 'http://[::1]:9000/', 'http://hooks.internal/x', 'http://HOOKS.INTERNAL./x'])
      expect(await refusal(url, allow), url).toBeUndefined();
    expect(await refusal('http://127.0.0.2:9000/', allow)).toMatch(/publicly reachable/);
    expect(await refusal('http://192.168.1.1/', allow)).toMatch(/publicly reachable/);
  });

  it('accept a name the resolver could not answer for now (delivery checks again)', async () => {
    const flaky: HostResolver = async () => {
      throw Object.assign(new Error('getaddrinfo EAI_AGAIN'), { code: 'EAI_AGAIN' });
    };
    expect(await refusal('https://hooks.example.com/x', [], flaky)).toBeUndefined();
  });

  it('reject other schemes, relative or oversized URLs and credentials', async () => {
    expect(await refusal('ftp://example.com/x')).toMatch(/http or https/);
    expect(await refusal('file:///etc/passwd')).toMatch(/http or https/);
    expect(await refusal('/hooks')).toMatch(/absolute/);
    expect(await refusal(`https://example.com/${'a'.repeat(2_100)}`)).toMatch(/longer/);
    expect(await refusal('https://user:secret@example.com/')).toMatch(/credentials/);
  });

  it('reject this server itself under any of its names, even where the allowlist opens loopback', async () => {
    const allow = ['127.0.0.0/8', '::1/128', '0.0.0.0/32', '::/128', '10.0.0.0/8'];
    for (const url of [
      'http://127.0.0.1:8080/v1/jobs',
      'http://localhost:8080/',
      'http://LOCALHOST.:8080/',
      'http://api.localhost:8080/',
      'http://127.1.2.3:8080/',
      'http://2130706433:8080/',
      'http://0x7f.1:8080/',
      'http://0.0.0.0:8080/',
      'http://[::1]:8080/',
      'http://[0:0:0:0:0:0:0:1]:8080/',
      'http://[::ffff:127.0.0.1]:8080/',
      'http://to-loopback.example.com:8080/',
    ]) {
      expect(await refusal(url, allow), url).toMatch(/this server itself/);
    }
    expect(await refusal('http://10.0.0.5:8080/', allow, names, { host: '10.0.0.5', port: 8080 })).toMatch(/this server itself/);
    expect(await refusal('http://localhost/', allow, names, { host: '0.0.0.0', port: 80 })).toMatch(/this server itself/);
    expect(await refusal('https://localhost/', allow, names, { host: '0.0.0.0', port: 443 })).toMatch(/this server itself/);
    expect(await refusal('http://127.0.0.1:9000/', allow)).toBeUndefined();
  });
});

describe('webhook delivery', () => {
  let server: Server;
  let port: number;
  let base: string;
  const seen: Array<{ signature: string | undefined; body: string }> = [];
  const huge = { bytes: 50 * 1024 * 1024, written: 0, closed: undefined as Promise<unknown> | undefined };
  const allowLoopback = createWebhookTargetPolicy({ allow: ['127.0.0.1/32'], self });
  const byDefault = createWebhookTargetPolicy({ allow: [], self });
  const deliver = (path: string, options: Partial<Parameters<typeof deliverWebhook>[0]> = {}) =>
    deliverWebhook({ url: `${base}${path}`, secret, rawBody: body, timeoutMs: 2_000, policy: allowLoopback, resolve: names, ...options });

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk) => (raw += chunk));
      req.on('end', () => {
        seen.push({ signature: req.headers['groundwork-signature'] as string | undefined, body: raw });
        if (req.url === '/ok') res.writeHead(204).end();
        else if (req.url === '/redirect') res.writeHead(302, { location: '/ok' }).end();
        else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end(), 1_000);
        else if (req.url === '/huge') streamHuge(res);
        else res.writeHead(500).end('no');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  /** Writes up to 50 MB as fast as the client takes it, counting what the socket accepted until it closed. */
  function streamHuge(res: import('node:http').ServerResponse): void {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    huge.written = 0;
    huge.closed = once(res, 'close');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(huge.bytes) });
    const pump = () => {
      while (!res.destroyed && huge.written < huge.bytes) {
        huge.written += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', pump);
      }
      if (!res.destroyed) res.end();
    };
    pump();
  }

  it('posts the signed body and resolves with a 2xx status', async () => {
    await expect(deliver('/ok')).resolves.toBe(204);
    const last = seen.at(-1)!;
    expect(last.body).toBe(body);
    expect(verifyWebhook(secret, last.signature, last.body)).toBe(true);
    // By an allowlisted name too.
    const named = createWebhookTargetPolicy({ allow: ['receiver.test'], self });
    await expect(
      deliver('/ok', { url: `http://receiver.test:${port}/ok`, policy: named, resolve: resolverOf({ 'receiver.test': ['127.0.0.1'] }) }),
    ).resolves.toBe(204);
  });

  it('fails on a non-2xx answer, a redirect (never followed) and a timeout', async () => {
    await expect(deliver('/fail')).rejects.toMatchObject({ status: 500, message: 'answered HTTP 500' });
    const before = seen.length;
    await expect(deliver('/redirect')).rejects.toMatchObject({ status: 302, message: 'answered HTTP 302' });
    expect(seen.length).toBe(before + 1);
    const slow = deliver('/slow', { timeoutMs: 200 });
    await expect(slow).rejects.toBeInstanceOf(WebhookDeliveryError);
    await expect(slow).rejects.toThrow(/^timed out$/);
  });

  it('refuses, on the connection itself, an address the policy does not allow', async () => {
    const before = seen.length;
    for (const url of [`${base}/ok`, `http://[::ffff:127.0.0.1]:${port}/ok`, `http://receiver.test:${port}/ok`]) {
      const error = await deliver('/ok', { url, policy: byDefault, resolve: resolverOf({ 'receiver.test': ['127.0.0.1'] }) }).catch((e: unknown) => e);
      expect(error, url).toBeInstanceOf(WebhookDeliveryError);
      expect((error as WebhookDeliveryError).message).toBe("refused: the receiver's address is not allowed");
      expect((error as WebhookDeliveryError).detail).toMatch(/127\.0\.0\.1|7f00:1/);
    }
    // This server itself stays refused where loopback is allowlisted.
    const selfHere = createWebhookTargetPolicy({ allow: ['127.0.0.1/32'], self: { host: '127.0.0.1', port } });
    await expect(deliver('/ok', { policy: selfHere })).rejects.toThrow("refused: the receiver's address is not allowed");
    expect(seen.length).toBe(before);
  });

  it('connects only to the address it checked: a name that re-resolves to loopback after creation is refused (DNS rebinding)', async () => {
    let lookups = 0;
    const rebinding: HostResolver = async () => [{ address: lookups++ === 0 ? '93.184.216.34' : '127.0.0.1', family: 4 }];
    const url = `http://rebind.example.com:${port}/ok`;
    await expect(checkWebhookUrl(url, { policy: byDefault, resolve: rebinding })).resolves.toBe(url);
    const before = seen.length;
    const error = (await deliver('/ok', { url, policy: byDefault, resolve: rebinding }).catch((e: unknown) => e)) as WebhookDeliveryError;
    expect(error.message).toBe("refused: the receiver's address is not allowed");
    expect(error.message).not.toMatch(NETWORK_DETAIL);
    expect(lookups).toBe(2);
    expect(seen.length).toBe(before);
  });

  it(`reads at most MAX_RESPONSE_BYTES (${MAX_RESPONSE_BYTES}) of an answer, then drops the connection`, async () => {
    const sockets: Socket[] = [];
    const onConnected = (message: unknown) => sockets.push((message as { socket: Socket }).socket);
    subscribe('undici:client:connected', onConnected);
    try {
      await expect(deliver('/huge')).resolves.toBe(200);
    } finally {
      unsubscribe('undici:client:connected', onConnected);
    }
    await huge.closed;
    expect(sockets).toHaveLength(1);
    // What the server took off the socket: the bound plus at most a few socket reads in flight.
    expect(sockets[0].bytesRead).toBeLessThan(4 * MAX_RESPONSE_BYTES);
    expect(sockets[0].destroyed).toBe(true);
    // The receiver saw its answer cut (kernel socket buffers took what it wrote past the bound).
    expect(huge.written).toBeLessThan(huge.bytes);
  });

  it('tells the tenant the class of failure, never an address, port or errno (those go to the log)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const cases: Array<[() => Promise<number>, string, RegExp]> = [
      [() => deliver('/ok', { url: `http://127.0.0.1:${closedPort}/ok` }), 'could not connect', /ECONNREFUSED/],
      [() => deliver('/ok', { url: `http://nowhere.example.com:${port}/ok` }), "could not resolve the receiver's host name", /ENOTFOUND/],
      [() => deliver('/ok', { url: `https://127.0.0.1:${port}/ok` }), 'TLS failure', /SSL|TLS/],
      [() => deliver('/slow', { timeoutMs: 200 }), 'timed out', /./],
      [() => deliver('/ok', { url: `http://10.1.2.3:${port}/ok`, policy: byDefault }), "refused: the receiver's address is not allowed", /10\.1\.2\.3/],
      [() => deliver('/fail'), 'answered HTTP 500', /^$/],
    ];
    for (const [delivery, message, detail] of cases) {
      const error = (await delivery().catch((e: unknown) => e)) as WebhookDeliveryError;
      expect(error).toBeInstanceOf(WebhookDeliveryError);
      expect(error.message).toBe(message);
      expect(error.message.replace(/HTTP \d{3}$/, '')).not.toMatch(NETWORK_DETAIL);
      expect(error.detail ?? '').toMatch(detail);
    }
  });
});
