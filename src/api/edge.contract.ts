import { mkdtempSync } from 'node:fs';
import { connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { loadConfig, type Config } from '../config/config.js';
import { ERROR_CODES } from '../kernel/errors.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { buildServer } from './server.js';
import type { StoreUnderTest } from './api.contract.js';
import { authorize, tenantWithKey } from './test-auth.js';

/**
 * Promises at the HTTP edge (issue 9 items 1, 2, 4, 8, 12), on both stores (edge.test.ts,
 * edge.int.test.ts): deep bodies refused on every route, NULs in ids and cursors answered with a
 * typed 400, authentication decided on the matched route before the body is read, slow
 * clients cut, and no internal network detail in any error body.
 */

/** JSON text of `levels` nested arrays around a string. */
export function nested(levels: number): string {
  return `${'['.repeat(levels)}"bottom"${']'.repeat(levels)}`;
}

export function edgeContract(storeUnderTest: () => Promise<StoreUnderTest>): void {
  let healthy: MockLlm;
  let app: App;
  let server: FastifyInstance;
  let key: string;
  let tenantId: string;
  const logLines: string[] = [];
  let deadPort: number;

  beforeAll(async () => {
    const target = await storeUnderTest();
    healthy = await startMockLlm({ seed: 1 });
    // A port nobody listens on: a provider there is "connection refused".
    const probe = await import('node:net').then((net) => net.createServer().listen(0, '127.0.0.1'));
    await new Promise((resolve) => probe.once('listening', resolve));
    deadPort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-edge-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
    const config: Config = {
      ...base,
      ...target.store,
      providers: {
        ...base.providers,
        healthy: { name: 'healthy', type: 'openai-compatible', base_url: healthy.url, native_structured_output: true },
        dead: { name: 'dead', type: 'openai-compatible', base_url: `http://127.0.0.1:${deadPort}/v1`, native_structured_output: true },
      },
      models: {
        ...base.models,
        'healthy-model': { name: 'healthy-model', provider: 'healthy', price: { input_per_mtok: 1, output_per_mtok: 2 } },
        'dead-model': { name: 'dead-model', provider: 'dead', price: { input_per_mtok: 1, output_per_mtok: 2 } },
      },
      routes: { default: ['healthy-model'], dead: ['dead-model'] },
      resilience: { ...base.resilience, retries: 0, attempt_timeout_ms: 2_000 },
    };
    app = await createApp(config, { lock: false, schema: target.schema, logger: { error: () => undefined } });
    const sink = new Writable({
      write(chunk, _encoding, done) {
        logLines.push(String(chunk));
        done();
      },
    });
    server = await buildServer(app, { logger: { level: 'info', stream: sink } });
    ({ key, tenantId } = await tenantWithKey(app, 'admin'));
    authorize(server, key);
    for (const [name, route] of [
      ['triage', 'default'],
      ['triage-dead', 'dead'],
    ]) {
      expect((await server.inject({ method: 'POST', url: '/v1/tasks', payload: triageDefinition({ name, route }) })).statusCode).toBe(201);
    }
    expect((await server.inject({ method: 'POST', url: '/v1/collections', payload: { name: 'kb' } })).statusCode).toBe(201);
  });

  afterAll(async () => {
    await server?.close();
    await app?.close();
    await healthy?.close();
  });

  const json = (body: string) => ({ headers: { 'content-type': 'application/json' }, payload: body });

  describe('bodies nested deeper than 64 levels', () => {
    const deepRoutes: Array<[string, string, (deep: string) => string]> = [
      ['POST', '/v1/tasks/triage/run', (deep) => `{"input":{"subject":"s","body":"b","tags":${deep}}}`],
      ['POST', '/v1/tasks/triage/jobs', (deep) => `{"input":{"subject":"s","body":"b","tags":${deep}}}`],
      ['POST', '/v1/chat/completions', (deep) => `{"model":"default","messages":[{"role":"user","content":"hi"}],"metadata":${deep}}`],
      ['POST', '/v1/embeddings', (deep) => `{"model":"builtin","input":"hi","user":${deep}}`],
      ['POST', '/v1/ask', (deep) => `{"question":"q","collection":"kb","filters":{"a":${deep}}}`],
      ['POST', '/v1/tasks', (deep) => `{"name":"deep","input_schema":${deep}}`],
      ['POST', '/v1/collections', (deep) => `{"name":"deep","description":${deep}}`],
      ['POST', '/v1/collections/kb/documents', (deep) => `{"documents":[{"source":"a.md","text":"x","metadata":{"m":${deep}}}]}`],
      ['POST', '/v1/keys', (deep) => `{"role":"viewer","name":${deep}}`],
    ];

    it.each(deepRoutes)('%s %s: 400 REQUEST_TOO_DEEP, never a 5xx (10,000 levels and 65)', async (method, url, body) => {
      for (const levels of [10_000, 65]) {
        const response = await server.inject({ method: method as 'POST', url, ...json(body(nested(levels))) });
        expect(response.statusCode, `${levels} levels`).toBe(400);
        expect(response.json().error).toMatchObject({ code: 'REQUEST_TOO_DEEP', details: { max_depth: 64 } });
      }
    });

    it('lets a chat body at the limit through, and records its run', async () => {
      // The body's own object is level 1, metadata's value level 2: 62 more arrays reach 64.
      const response = await server.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        ...json(`{"model":"default","messages":[{"role":"user","content":"hi"}],"metadata":${nested(62)}}`),
      });
      expect(response.statusCode).toBe(200);
      await app.runBatcher.flush();
      const run = await server.inject({ method: 'GET', url: `/v1/runs/${response.headers['x-groundwork-run-id']}` });
      expect(run.statusCode).toBe(200);
      expect(run.json()).toMatchObject({ status: 'ok', task: 'chat.completions' });
    });
  });

  describe('NUL characters', () => {
    const nulUrls: Array<[string, string, string]> = [
      ['GET', '/v1/runs/run_%00x', 'path'],
      ['GET', '/v1/runs?before=%00', 'query/before'],
      ['GET', '/v1/jobs/job_%00', 'path'],
      ['GET', '/v1/jobs/job_%00/events', 'path'],
      ['DELETE', '/v1/keys/key_%00', 'path'],
      ['GET', '/v1/collections/kb/documents/doc_%00', 'path'],
      ['DELETE', '/v1/collections/kb/documents/doc_%00', 'path'],
      ['GET', '/v1/collections/kb/documents?after=%00', 'query/after'],
      ['GET', '/v1/tasks/tri%00age', 'path'],
    ];

    it.each(nulUrls)('%s %s: a typed 400 naming %s', async (method, url, where) => {
      const response = await server.inject({ method: method as 'GET', url });
      expect(response.statusCode).toBe(400);
      expect(response.json().error).toMatchObject({ code: 'REQUEST_INVALID_BODY', details: { issues: [{ path: where }] } });
    });

    it('stores NULs in text fields safely (collection description, key name, task description) instead of failing with a 500', async () => {
      const collection = await server.inject({ method: 'POST', url: '/v1/collections', payload: { name: 'nul', description: 'a\u0000b' } });
      expect(collection.statusCode).toBe(201);
      expect(collection.json().description).toBe('a\ufffdb');
      const created = await server.inject({ method: 'POST', url: '/v1/keys', payload: { role: 'viewer', name: 'k\u0000ey' } });
      expect(created.statusCode).toBe(201);
      expect(created.json().api_key.name).toBe('k\ufffdey');
      const task = await server.inject({ method: 'POST', url: '/v1/tasks', payload: triageDefinition({ name: 'nul-task', description: 'd\u0000e' }) });
      expect(task.statusCode).toBe(201);
      const documents = await server.inject({
        method: 'POST',
        url: '/v1/collections/kb/documents',
        payload: { documents: [{ source: 'x\u0000y.md', text: 'hello there' }] },
      });
      expect(documents.statusCode).toBeLessThan(500);
    });

    it('accepts a lone surrogate and a NUL in a job input and a task input, and records them', async () => {
      const input = { subject: 'lone \ud800 surrogate', body: 'nul \u0000 here' };
      const job = await server.inject({ method: 'POST', url: '/v1/tasks/triage/jobs', payload: { input } });
      expect(job.statusCode).toBe(202);
      const read = await server.inject({ method: 'GET', url: `/v1/jobs/${job.json().job.id}` });
      expect(read.statusCode).toBe(200);
      const run = await server.inject({ method: 'POST', url: '/v1/tasks/triage/run', payload: { input } });
      expect(run.statusCode).toBe(200);
      const stored = await server.inject({ method: 'GET', url: `/v1/runs/${run.json().run_id}` });
      expect(stored.json().input).toEqual({ subject: 'lone \ufffd surrogate', body: 'nul \ufffd here' });
    });

    it('records a gateway run whose messages carry a lone surrogate, with its usage', async () => {
      const response = await server.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        payload: { model: 'default', messages: [{ role: 'user', content: 'hi \ud800' }] },
      });
      expect(response.statusCode).toBe(200);
      await app.runBatcher.flush();
      const run = await server.inject({ method: 'GET', url: `/v1/runs/${response.headers['x-groundwork-run-id']}` });
      expect(run.statusCode).toBe(200);
      expect(run.json().input.messages[0].content).toBe('hi \ufffd');
      expect(run.json().usage.input_tokens).toBeGreaterThan(0);
    });
  });

  describe('authentication on the matched route', () => {
    it('treats a percent-encoded /v1 path like the plain one: 401 without a key, rate-limit headers with one', async () => {
      const anonymous = await server.inject({ method: 'GET', url: '/%761/tasks', headers: { authorization: '' } });
      expect(anonymous.statusCode).toBe(401);
      expect(anonymous.json().error.code).toBe('AUTH_REQUIRED');
      const keyed = await server.inject({ method: 'GET', url: '/%761/tasks' });
      expect(keyed.statusCode).toBe(200);
      expect(keyed.headers['x-ratelimit-limit']).toBeDefined();
      const unknown = await server.inject({ method: 'GET', url: '/%761/nothing-here', headers: { authorization: '' } });
      expect(unknown.statusCode).toBe(401);
    });

    it('refuses an anonymous upload before reading its body, and closes the connection', async () => {
      const url = await server.listen({ port: 0, host: '127.0.0.1' });
      const { port } = new URL(url);
      const socket = connect(Number(port), '127.0.0.1');
      const total = 57 * 1024 * 1024;
      let sent = 0;
      const answer = new Promise<string>((resolve) => {
        let text = '';
        socket.on('data', (chunk) => (text += String(chunk)));
        socket.on('close', () => resolve(text));
        socket.on('error', () => resolve(text));
      });
      socket.write(
        `POST /%761/collections/kb/documents HTTP/1.1\r\nhost: x\r\ncontent-type: multipart/form-data; boundary=b\r\ncontent-length: ${total}\r\n\r\n`,
      );
      // Send 1 MiB of the 57 MiB, then wait: the answer must come without the rest.
      const chunk = Buffer.alloc(64 * 1024, 'a');
      for (let i = 0; i < 16; i++) {
        socket.write(chunk);
        sent += chunk.length;
      }
      const text = await answer;
      expect(text).toMatch(/^HTTP\/1\.1 401/);
      expect(text.toLowerCase()).toContain('connection: close');
      expect(sent).toBeLessThan(total);
    });
  });

  describe("the router's own refusals", () => {
    it('answers malformed percent-encoding and over-long path segments with a typed 400 and a request id', async () => {
      for (const url of ['/%', '/v1/runs/%E0%A4%A', `/v1/runs/${'x'.repeat(150)}`, `/v1/collections/${'x'.repeat(150)}/documents`]) {
        const response = await server.inject({ method: 'GET', url });
        expect(response.statusCode, url).toBe(400);
        expect(response.json().error).toMatchObject({ code: 'REQUEST_INVALID_BODY', details: { issues: [{ path: 'path' }] } });
        expect(response.headers['x-request-id']).toMatch(/^req_/);
      }
    });
  });

  describe('request ids', () => {
    it('keeps a short plain x-request-id and replaces anything else', async () => {
      const plain = await server.inject({ method: 'GET', url: '/v1/tasks', headers: { 'x-request-id': 'abc-123.DEF_4:5' } });
      expect(plain.headers['x-request-id']).toBe('abc-123.DEF_4:5');
      for (const bad of ['x'.repeat(65), 'has space', 'new\\nline', '<script>']) {
        const response = await server.inject({ method: 'GET', url: '/v1/tasks', headers: { 'x-request-id': bad } });
        expect(response.headers['x-request-id']).toMatch(/^req_/);
      }
    });
  });

  describe('internal detail', () => {
    it('says in words which provider failed and how; the address stays in the log under the request id', async () => {
      const bodies: string[] = [];
      const task = await server.inject({
        method: 'POST',
        url: '/v1/tasks/triage-dead/run',
        headers: { 'x-request-id': 'dead-task-1' },
        payload: { input: { subject: 's', body: 'b' } },
      });
      const chat = await server.inject({
        method: 'POST',
        url: '/v1/chat/completions',
        headers: { 'x-request-id': 'dead-chat-1' },
        payload: { model: 'dead', messages: [{ role: 'user', content: 'hi' }] },
      });
      for (const response of [task, chat]) {
        expect(response.statusCode).toBeGreaterThanOrEqual(500);
        expect(response.body).toMatch(/could not reach dead: connection refused/);
        bodies.push(response.body);
        await app.runBatcher.flush();
        const run = await server.inject({ method: 'GET', url: `/v1/runs/${response.json().error.run_id ?? response.headers['x-groundwork-run-id']}` });
        bodies.push(run.body);
      }
      for (const body of bodies) {
        expect(body).not.toContain(String(deadPort));
        expect(body).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
      }
      const detail = logLines.filter((line) => line.includes('ECONNREFUSED') && line.includes(String(deadPort)));
      expect(detail.some((line) => line.includes('"reqId":"dead-task-1"'))).toBe(true);
      expect(detail.some((line) => line.includes('"reqId":"dead-chat-1"'))).toBe(true);
    });

    it('every error code answered is a registered one', async () => {
      for (const url of ['/v1/runs/nope', '/v1/nothing', '/v1/tasks/nope']) {
        const code = (await server.inject({ method: 'GET', url })).json().error.code;
        expect(Object.keys(ERROR_CODES)).toContain(code);
      }
      expect(tenantId).toBeTruthy();
    });
  });
}
