import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../api/server.js';
import { loadConfig } from '../config/config.js';
import { createApp, type App } from './app.js';
import { serverLoggerOptions } from './server-logger.js';

/** The server's own log options (as `serve` uses them), writing to lines this test reads. */

let app: App;
let server: FastifyInstance;
const lines: string[] = [];

beforeAll(async () => {
  const config = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-log-')), overrides: { dataDir: 'memory://', logLevel: 'info' } });
  app = await createApp(config, { lock: false, logger: { error: () => undefined } });
  server = await buildServer(app, { logger: { ...serverLoggerOptions('info'), stream: { write: (line: string) => lines.push(line) } } });
});
afterAll(async () => {
  await server.close();
  await app.close();
});

const entries = () => lines.map((line) => JSON.parse(line) as { msg: string; req?: Record<string, unknown>; res?: { statusCode: number } });

describe('server request logs', () => {
  it('never carry the query string or a credential header', async () => {
    lines.length = 0;
    const response = await server.inject({
      method: 'GET',
      url: '/v1/tasks?api_key=gwk_secret&limit=5',
      headers: { 'x-api-key': 'gwk_header_secret', cookie: 'session=cookie_secret', 'proxy-authorization': 'Basic proxy_secret' },
    });
    expect(response.statusCode).toBe(401);
    const unknown = await server.inject({ method: 'GET', url: '/nowhere?token=gwk_secret#frag', headers: { authorization: 'Bearer gwk_bearer_secret' } });
    expect(unknown.statusCode).toBe(404);

    const logged = entries();
    // Both requests were logged, coming in and going out, with what an operator needs.
    expect(logged.filter((e) => e.msg === 'incoming request').map((e) => e.req)).toEqual([
      { method: 'GET', path: '/v1/tasks', id: expect.stringMatching(/^req_/), remoteAddress: '127.0.0.1' },
      { method: 'GET', path: '/nowhere', id: expect.stringMatching(/^req_/), remoteAddress: '127.0.0.1' },
    ]);
    expect(logged.filter((e) => e.msg === 'request completed').map((e) => e.res?.statusCode)).toEqual([401, 404]);
    for (const line of lines) {
      expect(line).not.toMatch(/secret/);
      expect(line).not.toContain('?');
    }
  });
});
