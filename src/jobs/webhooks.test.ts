import { createHmac } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isGroundworkError } from '../kernel/errors.js';
import { checkWebhookUrl, deliverWebhook, signWebhook, verifyWebhook, WebhookDeliveryError } from './webhooks.js';

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

describe('webhook URLs', () => {
  const self = { host: '127.0.0.1', port: 8080 };
  const reason = (url: string, at = self): string | undefined => {
    try {
      checkWebhookUrl(url, at);
      return undefined;
    } catch (error) {
      if (isGroundworkError(error) && error.code === 'WEBHOOK_URL_INVALID') return error.message;
      throw error;
    }
  };

  it('accept http(s) receivers, other local ports included', () => {
    expect(checkWebhookUrl('https://hooks.example.com/groundwork?x=1', self)).toBe('https://hooks.example.com/groundwork?x=1');
    expect(reason('http://127.0.0.1:9000/hook')).toBeUndefined();
    expect(reason('http://localhost:3000/hook')).toBeUndefined();
  });

  it('reject other schemes, relative or oversized URLs and credentials', () => {
    expect(reason('ftp://example.com/x')).toMatch(/http or https/);
    expect(reason('file:///etc/passwd')).toMatch(/http or https/);
    expect(reason('/hooks')).toMatch(/absolute/);
    expect(reason(`https://example.com/${'a'.repeat(2_100)}`)).toMatch(/longer/);
    expect(reason('https://user:secret@example.com/')).toMatch(/credentials/);
  });

  it('reject this server itself under any of its names', () => {
    for (const url of [
      'http://127.0.0.1:8080/v1/jobs',
      'http://localhost:8080/',
      'http://api.localhost:8080/',
      'http://127.1.2.3:8080/',
      'http://2130706433:8080/',
      'http://0x7f.1:8080/',
      'http://0.0.0.0:8080/',
      'http://[::1]:8080/',
      'http://[0:0:0:0:0:0:0:1]:8080/',
      'http://[::ffff:127.0.0.1]:8080/',
    ]) {
      expect(reason(url), url).toMatch(/this server itself/);
    }
    expect(reason('http://10.0.0.5:8080/', { host: '10.0.0.5', port: 8080 })).toMatch(/this server itself/);
    expect(reason('http://localhost/', { host: '0.0.0.0', port: 80 })).toMatch(/this server itself/);
    expect(reason('https://localhost/', { host: '0.0.0.0', port: 443 })).toMatch(/this server itself/);
  });
});

describe('webhook delivery', () => {
  let server: Server;
  let base: string;
  const seen: Array<{ signature: string | undefined; body: string }> = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let raw = '';
      req.on('data', (chunk) => (raw += chunk));
      req.on('end', () => {
        seen.push({ signature: req.headers['groundwork-signature'] as string | undefined, body: raw });
        if (req.url === '/ok') res.writeHead(204).end();
        else if (req.url === '/redirect') res.writeHead(302, { location: '/ok' }).end();
        else if (req.url === '/slow') setTimeout(() => res.writeHead(200).end(), 1_000);
        else res.writeHead(500).end('no');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('posts the signed body and resolves with a 2xx status', async () => {
    await expect(deliverWebhook({ url: `${base}/ok`, secret, rawBody: body, timeoutMs: 2_000 })).resolves.toBe(204);
    const last = seen.at(-1)!;
    expect(last.body).toBe(body);
    expect(verifyWebhook(secret, last.signature, last.body)).toBe(true);
  });

  it('fails on a non-2xx answer, a redirect (never followed) and a timeout', async () => {
    await expect(deliverWebhook({ url: `${base}/fail`, secret, rawBody: body, timeoutMs: 2_000 })).rejects.toMatchObject({ status: 500, message: 'answered HTTP 500' });
    const before = seen.length;
    await expect(deliverWebhook({ url: `${base}/redirect`, secret, rawBody: body, timeoutMs: 2_000 })).rejects.toMatchObject({ status: 302 });
    expect(seen.length).toBe(before + 1);
    const slow = deliverWebhook({ url: `${base}/slow`, secret, rawBody: body, timeoutMs: 200 });
    await expect(slow).rejects.toBeInstanceOf(WebhookDeliveryError);
    await expect(slow).rejects.toThrow(/no answer within 200 ms/);
  });
});
