import { mkdtempSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { loadConfig } from '../config/config.js';
import { buildServer } from './server.js';
import { tenantWithKey } from './test-auth.js';

/**
 * Issue 9 item 8: a client sending one byte every 5 s held a connection for 420 s. With the
 * http timeouts (here shortened to 1 s) slow heads, slow bodies and idle keep-alive
 * connections are closed. Bounds are generous (the check runs every second), never exact.
 */

let app: App;
let server: FastifyInstance;
let port: number;
let key: string;

beforeAll(async () => {
  const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-slow-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
  app = await createApp(
    { ...base, http: { headers_timeout_ms: 1_000, request_timeout_ms: 1_000, keep_alive_timeout_ms: 300 } },
    { lock: false, logger: { error: () => undefined } },
  );
  server = await buildServer(app, { logger: false });
  ({ key } = await tenantWithKey(app, 'admin'));
  port = Number(new URL(await server.listen({ port: 0, host: '127.0.0.1' })).port);
});

afterAll(async () => {
  await server?.close();
  await app?.close();
});

/** Opens a connection, dribbles `parts` one every 200 ms, and resolves with how long the server kept it open and what it said. */
function dribble(parts: string[]): Promise<{ ms: number; answer: string }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    let i = 0;
    const timer = setInterval(() => {
      if (i < parts.length && !socket.destroyed) socket.write(parts[i++]);
    }, 200);
    socket.on('data', (chunk) => (answer += String(chunk)));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ ms: performance.now() - started, answer });
    });
  });
}

describe('slow clients', () => {
  it('cuts a client that sends its request head a byte at a time', async () => {
    const head = 'GET /healthz HTTP/1.1\r\nhost: x\r\nx-slow: ' + 'a'.repeat(200);
    const { ms } = await dribble(head.split(''));
    expect(ms).toBeLessThan(5_000);
  });

  it('cuts a client that sends its body a byte at a time (408)', async () => {
    const head = `POST /v1/tasks HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${key}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n`;
    const { ms, answer } = await dribble([head, ...'{"a":"'.split(''), ...'x'.repeat(100).split('')]);
    expect(ms).toBeLessThan(5_000);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
  });

  it('closes an idle keep-alive connection after keep_alive_timeout_ms', async () => {
    const { ms, answer } = await dribble(['GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n']);
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(ms).toBeLessThan(3_000);
  });
});
