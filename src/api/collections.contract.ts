import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { loadConfig, type Config } from '../config/config.js';
import { buildServer } from './server.js';
import { authorizeAsLocalAdmin } from './test-auth.js';

/**
 * Collections, ingestion and search over HTTP. Run on the embedded store
 * (collections.test.ts) and on a PostgreSQL server (collections.int.test.ts).
 */
export function collectionsContract(target: () => Promise<{ store: Partial<Config>; schema?: string }>): void {
  let app: App;
  let server: FastifyInstance;

  beforeAll(async () => {
    const { store, schema } = await target();
    const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-coll-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
    app = await createApp({ ...base, ...store, uploadLimitBytes: 64 * 1024 }, { lock: false, schema, logger: { error: () => undefined } });
    server = await authorizeAsLocalAdmin(app, await buildServer(app, { logger: false }));
  });
  afterAll(async () => {
    await server?.close();
    await app?.close();
  });

  const post = (url: string, payload: unknown) => server.inject({ method: 'POST', url, payload: payload as object });

  it('creates, lists, shows and deletes collections; names and embedders are checked', async () => {
    const created = await post('/v1/collections', { name: 'kb', description: 'support' });
    expect(created.statusCode).toBe(201);
    expect(created.json()).toMatchObject({ name: 'kb', embedder: expect.stringMatching(/^builtin:/), document_count: 0 });
    expect((await post('/v1/collections', { name: 'kb' })).json().error.code).toBe('COLLECTION_EXISTS');
    expect((await post('/v1/collections', { name: 'Bad Name' })).statusCode).toBe(400);
    expect((await post('/v1/collections', { name: 'other', embedder: 'nope' })).json().error.code).toBe('REQUEST_INVALID_BODY');
    expect((await server.inject({ method: 'GET', url: '/v1/collections' })).json().collections.map((c: { name: string }) => c.name)).toContain('kb');
    await post('/v1/collections', { name: 'temp' });
    expect((await server.inject({ method: 'DELETE', url: '/v1/collections/temp' })).statusCode).toBe(204);
    expect((await server.inject({ method: 'GET', url: '/v1/collections/temp' })).json().error.code).toBe('COLLECTION_NOT_FOUND');
  });

  it('ingests JSON text documents with per-document status, dedupes, replaces and deletes', async () => {
    const docs = {
      documents: [
        { source: 'refunds.md', text: '# Refunds\n\nCard refunds appear within 5 to 10 business days.', metadata: { team: 'billing' } },
        { source: 'shipping.txt', text: 'Express shipping takes one to two business days.', metadata: { team: 'logistics' } },
        { source: 'empty.md', text: '   ' },
      ],
    };
    const first = await post('/v1/collections/kb/documents', docs);
    expect(first.statusCode).toBe(200);
    const statuses = first.json().results.map((r: { source: string; status: string; error?: { code: string } }) => [r.source, r.status, r.error?.code]);
    expect(statuses).toEqual([
      ['refunds.md', 'created', undefined],
      ['shipping.txt', 'created', undefined],
      ['empty.md', 'failed', 'INGEST_EMPTY_DOCUMENT'],
    ]);
    const again = await post('/v1/collections/kb/documents', { documents: [docs.documents[0]] });
    expect(again.json().results[0].status).toBe('unchanged');
    const changed = await post('/v1/collections/kb/documents', { documents: [{ ...docs.documents[0], text: '# Refunds\n\nPayPal refunds are visible within 24 hours.' }] });
    expect(changed.json().results[0].status).toBe('replaced');

    const search = await post('/v1/collections/kb/search', { query: 'PayPal refund', k: 5 });
    expect(search.statusCode).toBe(200);
    const hits = search.json().hits;
    expect(hits[0]).toMatchObject({ source: 'refunds.md', heading_path: ['Refunds'] });
    expect(hits.map((h: { text: string }) => h.text).join(' ')).not.toMatch(/5 to 10 business days/);

    const filtered = await post('/v1/collections/kb/search', { query: 'business days', filters: { team: 'logistics' } });
    expect(filtered.json().hits.map((h: { source: string }) => h.source)).toEqual(['shipping.txt']);

    const list = (await server.inject({ method: 'GET', url: '/v1/collections/kb/documents' })).json().documents;
    const failed = list.find((d: { source: string }) => d.source === 'empty.md');
    expect(failed).toMatchObject({ status: 'failed', error: { code: 'INGEST_EMPTY_DOCUMENT' } });
    const shipping = list.find((d: { source: string }) => d.source === 'shipping.txt');
    expect((await server.inject({ method: 'DELETE', url: `/v1/collections/kb/documents/${shipping.id}` })).statusCode).toBe(204);
    const after = await post('/v1/collections/kb/search', { query: 'express shipping', k: 5 });
    expect(after.json().hits.map((h: { source: string }) => h.source)).not.toContain('shipping.txt');
  });

  it('takes multipart uploads; a file over the limit or unparsable fails alone', async () => {
    const boundary = '----gw';
    const part = (name: string, filename: string, type: string, body: string | Buffer) =>
      Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`), Buffer.from(body), Buffer.from('\r\n')]);
    const payload = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n{"team":"support"}\r\n`),
      part('file', 'warranty.html', 'text/html', '<html><body><nav>Home</nav><main><h1>Warranty</h1><p>Two-year limited warranty on electronics.</p></main></body></html>'),
      part('file', 'huge.txt', 'text/plain', 'x'.repeat(70 * 1024)),
      part('file', 'binary.txt', 'text/plain', Buffer.from([0, 1, 2, 3, 0, 255, 254, 0, 0, 7])),
      Buffer.from(`--${boundary}--\r\n`),
    ]);
    const response = await server.inject({ method: 'POST', url: '/v1/collections/kb/documents', payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } });
    expect(response.statusCode).toBe(200);
    expect(response.json().results.map((r: { source: string; status: string; error?: { code: string } }) => [r.source, r.status, r.error?.code])).toEqual([
      ['warranty.html', 'created', undefined],
      ['huge.txt', 'failed', 'INGEST_FILE_TOO_LARGE'],
      ['binary.txt', 'failed', 'INGEST_BINARY_CONTENT'],
    ]);
    const hits = (await post('/v1/collections/kb/search', { query: 'warranty electronics', filters: { team: 'support' } })).json().hits;
    expect(hits[0]).toMatchObject({ source: 'warranty.html', title: 'Warranty' });
    expect(hits[0].text).not.toMatch(/Home/);
  });

  it('answers from the collection with verified citations, abstains when the sources are silent, and records grounding', async () => {
    await post('/v1/collections', { name: 'qa' });
    await post('/v1/collections/qa/documents', {
      documents: [
        { source: 'refunds.md', text: '# Refunds\n\nCard refunds usually appear within 5 to 10 business days. PayPal refunds are usually visible within 24 hours.' },
        { source: 'security.md', text: '# Passwords\n\nThe password reset link is valid for 60 minutes and can be used once.' },
      ],
    });
    const answered = await post('/v1/ask', { question: 'How long is the password reset link valid?', collection: 'qa' });
    expect(answered.statusCode).toBe(200);
    const body = answered.json();
    expect(body).toMatchObject({ answerable: true, model: 'builtin-extractive', usage: { cost_usd: 0 } });
    expect(body.citations[0]).toMatchObject({ document: 'security.md', quote: expect.stringContaining('valid for 60 minutes') });
    expect(body.grounding).toMatchObject({ citations_verified: 1, citations_dropped: 0, abstained: false, ungrounded: false });

    const silent = (await post('/v1/ask', { question: 'What is the capital of Mongolia?', collection: 'qa' })).json();
    expect(silent).toMatchObject({ answerable: false, answer: '', citations: [] });
    expect(silent.grounding.abstained).toBe(true);

    const run = (await server.inject({ method: 'GET', url: `/v1/runs/${body.run_id}` })).json();
    expect(run).toMatchObject({ task: 'ask', status: 'ok', grounding: { citations_verified: 1 } });
    expect((await post('/v1/ask', { question: 'x', collection: 'nope' })).json().error.code).toBe('COLLECTION_NOT_FOUND');
    expect((await post('/v1/ask', { question: '', collection: 'qa' })).statusCode).toBe(400);
  });

  it('answers typed errors: unknown collection 404, bad search body 400, foreign embedder 409', async () => {
    expect((await post('/v1/collections/nope/search', { query: 'x' })).json().error.code).toBe('COLLECTION_NOT_FOUND');
    expect((await post('/v1/collections/nope/documents', { documents: [{ source: 'a.txt', text: 'a' }] })).json().error.code).toBe('COLLECTION_NOT_FOUND');
    expect((await post('/v1/collections/kb/search', { query: '' })).statusCode).toBe(400);
    expect((await post('/v1/collections/kb/search', { query: 'x', k: 1000 })).statusCode).toBe(400);
    expect((await post('/v1/collections/kb/documents', { documents: [{ source: 'a.txt', text: 'a', colour: 'red' }] })).statusCode).toBe(400);
    const mismatch = await post('/v1/collections/kb/search', { query: 'x', embedder: 'openai:text-embedding-3-small:1536' });
    expect(mismatch.statusCode).toBe(409);
    expect(mismatch.json().error.code).toBe('EMBEDDER_MISMATCH');
  });
}
