import { EventEmitter, once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import { loadConfig, type Config } from '../config/config.js';
import { buildServer } from './server.js';
import { authorize } from './test-auth.js';
import { rawRequest, within } from './test-raw-http.js';

const BOUNDARY = '----gw';
const MULTIPART = { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` };
const filePart = (filename: string, body: string | Buffer, type = 'text/plain') =>
  Buffer.concat([
    Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="${filename}"\r\nContent-Type: ${type}\r\n\r\n`),
    Buffer.from(body),
    Buffer.from('\r\n'),
  ]);
const fieldPart = (name: string, value: string) => Buffer.from(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
const form = (...parts: Buffer[]) => Buffer.concat([...parts, Buffer.from(`--${BOUNDARY}--\r\n`)]);

type Outcome = { source: string; status: string; error?: { code: string } };
const outcomes = (results: Outcome[]) => results.map((r) => [r.source, r.status, r.error?.code]);

/** A log line of the listening server (pino JSON). */
interface LogLine {
  level: number;
  msg: string;
  code?: string;
}

/**
 * Collections, ingestion and search over HTTP. Run on the embedded store
 * (collections.test.ts) and on a PostgreSQL server (collections.int.test.ts).
 */
export function collectionsContract(target: () => Promise<{ store: Partial<Config>; schema?: string }>): void {
  let app: App;
  let server: FastifyInstance;
  // A second server on a real port, for uploads that stop or vanish mid-body; its log is captured.
  let listening: FastifyInstance;
  let port: number;
  let key: string;
  const logs = new EventEmitter();
  const logLines: LogLine[] = [];
  const uploads = new EventEmitter();

  beforeAll(async () => {
    const { store, schema } = await target();
    const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-coll-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
    app = await createApp({ ...base, ...store, uploadLimitBytes: 64 * 1024, uploadMaxFiles: 5 }, { lock: false, schema, logger: { error: () => undefined } });
    ({ key } = await app.auth.ensureLocalAdmin(undefined));
    server = authorize(await buildServer(app, { logger: false }), key);
    const stream = {
      write(line: string) {
        const entry = JSON.parse(line) as LogLine;
        logLines.push(entry);
        logs.emit('line', entry);
      },
    };
    listening = await buildServer(app, { logger: { level: 'info', stream } });
    listening.addHook('preHandler', async (request) => {
      if (request.method !== 'POST' || !request.url.endsWith('/documents')) return;
      // The test's client vanishes before the handler runs: wait until the server has seen it go.
      if (request.headers['x-test-hold-until-closed'])
        await new Promise((resolve) => (request.raw.destroyed ? resolve(undefined) : request.raw.once('close', resolve)));
      uploads.emit('handler');
    });
    await listening.listen({ port: 0, host: '127.0.0.1' });
    port = (listening.server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await listening?.close();
    await server?.close();
    await app?.close();
  });

  const post = (url: string, payload: unknown) => server.inject({ method: 'POST', url, payload: payload as object });
  const upload = async (collection: string, payload: Buffer) =>
    (await server.inject({ method: 'POST', url: `/v1/collections/${collection}/documents`, payload, headers: MULTIPART })).json().results as Outcome[];
  const documents = async (collection: string) =>
    ((await server.inject({ method: 'GET', url: `/v1/collections/${collection}/documents` })).json().documents as Array<{ source: string; status: string }>)
      .map((d) => [d.source, d.status])
      .sort();
  const rawHead = (collection: string, length: number) =>
    `POST /v1/collections/${collection}/documents HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\r\nContent-Type: ${MULTIPART['content-type']}\r\nContent-Length: ${length}\r\n\r\n`;

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
    const changed = await post('/v1/collections/kb/documents', {
      documents: [{ ...docs.documents[0], text: '# Refunds\n\nPayPal refunds are visible within 24 hours.' }],
    });
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
    const payload = form(
      fieldPart('metadata', '{"team":"support"}'),
      filePart(
        'warranty.html',
        '<html><body><nav>Home</nav><main><h1>Warranty</h1><p>Two-year limited warranty on electronics.</p></main></body></html>',
        'text/html',
      ),
      filePart('binary.txt', Buffer.from([0, 1, 2, 3, 0, 255, 254, 0, 0, 7])),
    );
    expect(outcomes(await upload('kb', payload))).toEqual([
      ['warranty.html', 'created', undefined],
      ['binary.txt', 'failed', 'INGEST_BINARY_CONTENT'],
    ]);
    // Alone, because a file cut at the limit has used up the request's limit too.
    expect(outcomes(await upload('kb', form(filePart('huge.txt', 'x'.repeat(70 * 1024)))))).toEqual([['huge.txt', 'failed', 'INGEST_FILE_TOO_LARGE']]);
    const hits = (await post('/v1/collections/kb/search', { query: 'warranty electronics', filters: { team: 'support' } })).json().hits;
    expect(hits[0]).toMatchObject({ source: 'warranty.html', title: 'Warranty' });
    expect(hits[0].text).not.toMatch(/Home/);
  });

  it("keeps a multipart file's folder: a/README.md and b/README.md are two documents", async () => {
    await post('/v1/collections', { name: 'folders' });
    const results = await upload(
      'folders',
      form(filePart('a/README.md', '# Alpha\n\nThe alpha service.'), filePart('b/README.md', '# Beta\n\nThe beta service.')),
    );
    expect(outcomes(results)).toEqual([
      ['a/README.md', 'created', undefined],
      ['b/README.md', 'created', undefined],
    ]);
    expect(await documents('folders')).toEqual([
      ['a/README.md', 'ready'],
      ['b/README.md', 'ready'],
    ]);
  });

  it('sanitises sources the same way for multipart file names and JSON documents', async () => {
    await post('/v1/collections', { name: 'named' });
    const given = ['../x.md', '/etc/passwd', 'C:\\x\\y.md', 'a/./b/../c.md', '\\\\?\\D:\\docs\\z.md'];
    const expected = ['x.md', 'etc/passwd', 'x/y.md', 'a/c.md', 'docs/z.md'];
    const viaJson = (await post('/v1/collections/named/documents', { documents: given.map((source) => ({ source, text: `text of ${source}` })) })).json()
      .results as Outcome[];
    // In a quoted header parameter a backslash is escaped as `\\` (busboy unescapes it).
    const viaMultipart = await upload('named', form(...given.map((name) => filePart(name.replaceAll('\\', '\\\\'), `text of ${name}`))));
    expect(viaJson.map((r) => r.source)).toEqual(expected);
    expect(viaMultipart.map((r) => r.source)).toEqual(expected);
    expect(viaMultipart.map((r) => r.status)).toEqual(['unchanged', 'unchanged', 'unchanged', 'unchanged', 'unchanged']);

    const refused = await post('/v1/collections/named/documents', {
      documents: [
        { source: 'ok.md', text: 'fine' },
        { source: 'red\u001b[31m.md', text: 'x' },
        { source: 'a/..', text: 'x' },
      ],
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.json().error.details.issues.map((i: { path: string }) => i.path)).toEqual(['body/documents/1/source', 'body/documents/2/source']);
    expect((await documents('named')).map(([source]) => source)).not.toContain('ok.md');
  });

  it('never lets one source silently replace another in one request: later duplicates fail with INGEST_DUPLICATE_SOURCE', async () => {
    await post('/v1/collections', { name: 'dups' });
    const multipart = await upload('dups', form(filePart('notes.md', 'Alpha notes about invoices.'), filePart('notes.md', 'Beta notes about shipping.')));
    expect(outcomes(multipart)).toEqual([
      ['notes.md', 'created', undefined],
      ['notes.md', 'failed', 'INGEST_DUPLICATE_SOURCE'],
    ]);
    const json = (
      await post('/v1/collections/dups/documents', {
        documents: [
          { source: 'faq.md', text: 'Gamma answers.' },
          { source: './faq.md', text: 'Delta answers.' },
        ],
      })
    ).json().results;
    expect(outcomes(json)).toEqual([
      ['faq.md', 'created', undefined],
      ['faq.md', 'failed', 'INGEST_DUPLICATE_SOURCE'],
    ]);
    // The first of each is what is stored, and the duplicate left no failed record behind.
    expect(await documents('dups')).toEqual([
      ['faq.md', 'ready'],
      ['notes.md', 'ready'],
    ]);
    const texts = (await post('/v1/collections/dups/search', { query: 'notes answers', k: 10 }))
      .json()
      .hits.map((h: { text: string }) => h.text)
      .join(' ');
    expect(texts).toMatch(/Alpha/);
    expect(texts).toMatch(/Gamma/);
    expect(texts).not.toMatch(/Beta|Delta/);
  });

  it('answers 400 for a form that ends before its closing boundary, ingesting none of it', async () => {
    await post('/v1/collections', { name: 'cut' });
    const whole = form(filePart('one.txt', 'the first file'), filePart('two.txt', 'the second file'));
    const response = await server.inject({
      method: 'POST',
      url: '/v1/collections/cut/documents',
      headers: MULTIPART,
      payload: whole.subarray(0, whole.length - 20),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().error.code).toBe('REQUEST_INVALID_BODY');
    expect(await documents('cut')).toEqual([]);
  });

  it('answers a part without Content-Disposition (skipped by the parser) even when it is large, instead of hanging (found by the fuzz suite)', async () => {
    await post('/v1/collections', { name: 'skipped' });
    for (const size of [17_000, 200_000]) {
      const payload = Buffer.from(`--${BOUNDARY}\r\nContent-Type: text/plain\r\n\r\n${'x'.repeat(size)}\r\n--${BOUNDARY}--\r\n`);
      const response = await within(
        server.inject({ method: 'POST', url: '/v1/collections/skipped/documents', headers: MULTIPART, payload }),
        10_000,
        `no answer for a ${size}-byte skipped part`,
      );
      expect(response.statusCode).toBe(400);
      expect(response.json().error.code).toBe('REQUEST_INVALID_BODY');
    }
  });

  it('stops reading an upload once its files pass the limit together: 413 before the rest is sent, nothing ingested', async () => {
    await post('/v1/collections', { name: 'bulk' });
    const files = [1, 2, 3].map((n) => filePart(`part-${n}.txt`, `part ${n} `.repeat(5 * 1024)));
    const body = form(...files);
    const request = await rawRequest(port, rawHead('bulk', body.length));
    // 2 × 40 KiB crosses 64 KiB; the third file and the closing line are never sent.
    await request.send(Buffer.concat(files.slice(0, 2)));
    const response = await within(request.response, 10_000, 'no answer before the rest of the body was sent');
    request.socket.destroy();
    expect(response.status).toBe(413);
    expect(JSON.parse(response.body).error).toMatchObject({ code: 'REQUEST_BODY_TOO_LARGE', details: { limit_bytes: 64 * 1024 } });
    expect(response.headers.connection).toBe('close');
    expect(await documents('bulk')).toEqual([]);
  });

  it('refuses more files than upload_max_files with 413 REQUEST_TOO_MANY_FILES, nothing ingested', async () => {
    await post('/v1/collections', { name: 'many' });
    const response = await server.inject({
      method: 'POST',
      url: '/v1/collections/many/documents',
      headers: MULTIPART,
      payload: form(...Array.from({ length: 6 }, (_, i) => filePart(`f${i}.txt`, `file number ${i}`))),
    });
    expect(response.statusCode).toBe(413);
    expect(response.json().error).toMatchObject({ code: 'REQUEST_TOO_MANY_FILES', details: { limit: 5 } });
    expect(await documents('many')).toEqual([]);
    expect(outcomes(await upload('many', form(...Array.from({ length: 5 }, (_, i) => filePart(`f${i}.txt`, `file number ${i}`)))))).toHaveLength(5);
  });

  it.each([
    ['mid-body', false],
    ['before its handler ran', true],
  ])('treats an upload the client abandons %s as a disconnect, not an unhandled error, and keeps answering', async (_when, early) => {
    const collection = early ? 'gone-early' : 'gone-mid-body';
    await post('/v1/collections', { name: collection });
    const first = filePart('first.txt', 'first file. '.repeat(1024));
    const body = form(fieldPart('metadata', '{"team":"x"}'), first, filePart('second.txt', 'second file. '.repeat(1024)));
    const settled = new Promise<LogLine>((resolve) => {
      const onLine = (line: LogLine) => {
        if (line.code === 'CLIENT_DISCONNECTED' || line.level >= 50) {
          logs.off('line', onLine);
          resolve(line);
        }
      };
      logs.on('line', onLine);
    });
    const started = once(uploads, 'handler');
    const head = rawHead(collection, body.length).replace('\r\n\r\n', early ? '\r\nX-Test-Hold-Until-Closed: 1\r\n\r\n' : '\r\n\r\n');
    const request = await rawRequest(port, head);
    await request.send(Buffer.concat([fieldPart('metadata', '{"team":"x"}'), first.subarray(0, first.length / 2)]));
    if (early) request.socket.destroy();
    await started;
    request.socket.destroy();
    const line = await within(settled, 10_000, 'the server logged nothing about the abandoned upload');
    expect(line).toMatchObject({ code: 'CLIENT_DISCONNECTED' });
    expect(logLines.filter((l) => l.level >= 50)).toEqual([]);
    const after = await fetch(`http://127.0.0.1:${port}/v1/collections/${collection}/documents`, { headers: { authorization: `Bearer ${key}` } });
    expect(after.status).toBe(200);
    expect((await after.json()).documents).toEqual([]);
  });

  it('answers from the collection with verified citations, abstains when the sources are silent, and records grounding', async () => {
    await post('/v1/collections', { name: 'qa' });
    await post('/v1/collections/qa/documents', {
      documents: [
        {
          source: 'refunds.md',
          text: '# Refunds\n\nCard refunds usually appear within 5 to 10 business days. PayPal refunds are usually visible within 24 hours.',
        },
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
