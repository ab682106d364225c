import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../api/server.js';
import { createApp, type App } from '../../app/app.js';
import { createLocalApi } from '../../app/local-api.js';
import { createClient } from '../../client/client.js';
import { loadConfig } from '../../config/config.js';
import { collectFiles } from './collections.js';

/**
 * `groundwork ingest` names a file the same way whichever path it takes: in-process (no server
 * owns the data folder) or over HTTP to a running server (multipart file names).
 */

let root: string;
let app: App;
let server: FastifyInstance;
let baseUrl: string;
let key: string;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'gw-cli-ingest-'));
  for (const [path, text] of [
    ['docs/travel.md', '# Travel\n\nBook trains two weeks ahead.'],
    ['docs/guides/README.md', '# Guides\n\nHow we write guides.'],
    ['docs/.hidden.md', 'skipped'],
    ['work/README.md', '# Work\n\nThe current sprint.'],
    ['work/sub/README.md', '# Sub\n\nA sub-project.'],
  ]) {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  const config = loadConfig({ env: {}, cwd: root, overrides: { dataDir: 'memory://', logLevel: 'silent' } });
  app = await createApp(config, { lock: false, logger: { error: () => undefined } });
  ({ key } = await app.auth.ensureLocalAdmin(undefined));
  server = await buildServer(app, { logger: false });
  await server.listen({ port: 0, host: '127.0.0.1' });
  baseUrl = `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await server?.close();
  await app?.close();
});

describe('collectFiles', () => {
  it('gives each file its path relative to the working folder, never climbing out', () => {
    const files = collectFiles(['../docs', 'README.md'], join(root, 'work'));
    expect(files.map((f) => f.source)).toEqual(['docs/guides/README.md', 'docs/travel.md', 'README.md']);
    expect(files.map((f) => f.path)).toEqual([join(root, 'docs/guides/README.md'), join(root, 'docs/travel.md'), join(root, 'work/README.md')]);
  });

  it('gives the sources the server keeps, over HTTP and in-process alike', async () => {
    const files = collectFiles(['../docs', 'README.md'], join(root, 'work'));
    const uploads = files.map((f) => ({ source: f.source, bytes: new Uint8Array(readFileSync(f.path)) }));
    const http = createClient({ baseUrl, apiKey: key });
    await http.createCollection({ name: 'cli' });
    const overHttp = await http.ingestFiles('cli', uploads);
    expect(overHttp.map((r) => [r.source, r.status])).toEqual(files.map((f) => [f.source, 'created']));
    // The same files in-process are the same documents: unchanged, not new ones.
    const inProcess = await createLocalApi(app).ingestFiles('cli', uploads);
    expect(inProcess.map((r) => [r.source, r.status])).toEqual(files.map((f) => [f.source, 'unchanged']));
  });

  it('refuses two files that would be stored under one source instead of letting one replace the other', () => {
    expect(() => collectFiles(['../README.md', 'README.md'], join(root, 'work/sub'))).toThrow(/would both be stored as "README.md"/);
    // The same file named twice is one file.
    expect(collectFiles(['travel.md', '../docs/travel.md'], join(root, 'docs')).map((f) => f.source)).toEqual(['travel.md']);
  });
});
