import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { createApp, type App } from '../../app/app.js';
import { hashKey } from '../../auth/keys.js';
import { ROLES, type Role } from '../../auth/principal.js';
import { loadConfig, type Config } from '../../config/config.js';
import { triageDefinition } from '../../tasks/test-fixtures.js';
import { startMockLlm } from '../../testing/index.js';
import { buildServer } from '../server.js';
import { routeInventory, type FuzzRoute } from './route-inventory.js';
import { startUpstreamGuard } from './upstream-guard.js';

/**
 * The server under fuzz, in-process: memory:// store, two fake model servers (one healthy,
 * one with seeded faults, so upstream failures are part of the traffic; each behind a guard
 * that refuses what real providers refuse, see upstream-guard.ts), jobs queued but not
 * worked (the fuzz is about the HTTP edge, and worked jobs would make answers depend on
 * timing), small upload limits so they are reached, and three tenants: the one the fuzzer
 * calls as, a foreign one whose ids it tries, and scratch ones the operator routes may wreck.
 */

/** Text planted in every foreign resource: a 2xx answer to the fuzz tenant that contains it leaked data. */
export const FOREIGN_MARKER = 'FZFOREIGN7Q3X';

/** Real ids the generators draw from, per kind of resource. */
export interface Fixtures {
  tasks: string[];
  /** Versions of those tasks. */
  versions: string[];
  collections: string[];
  documents: string[];
  runs: string[];
  jobs: string[];
  /** Finished jobs: the only ones whose event stream ends (a queued job's stream waits for ever). */
  finishedJobs: string[];
  /** Keys the fuzzer may revoke (never the ones it calls with). */
  scratchKeys: string[];
  /** Scratch collections and their documents, for DELETE. */
  scratchCollections: string[];
  scratchDocuments: string[];
  models: string[];
  /** Tenants the operator routes may disable, delete, key and limit. */
  scratchTenants: string[];
  scratchTenantKeys: string[];
  foreign: { tasks: string[]; collections: string[]; documents: string[]; runs: string[]; jobs: string[]; keys: string[] };
}

/** One line the server (or the app) logged at error level. */
export interface ErrorLogLine {
  source: 'server' | 'app';
  reqId?: string;
  msg: string;
  err?: string;
}

export interface FuzzTarget {
  server: FastifyInstance;
  app: App;
  routes: FuzzRoute[];
  fixtures: Fixtures;
  /** The fuzz tenant's keys by role (rate limits out of the way). */
  keys: Record<Role, string>;
  foreignKey: string;
  operatorKey: string;
  /** Every key secret that must never appear in an answer. */
  secrets: string[];
  /** Error-level log lines since the last drain. */
  drainErrorLogs(): ErrorLogLine[];
  close(): Promise<void>;
}

const OPERATOR_KEY = 'gwo_fuzz-operator-key-0123456789abcdefghijklmnopqrstu';
const FAST_KEY = { requestsPerMinute: 1_000_000, tokensPerMinute: 1_000_000_000 };

export async function startFuzzTarget(): Promise<FuzzTarget> {
  const healthy = await startMockLlm({ seed: 1 });
  const flaky = await startMockLlm({ seed: 2, faults: { error5xx: 0.15, rateLimit: 0.05, malformed: 0.1, schemaViolation: 0.1, truncated: 0.05 } });
  const guards = [await startUpstreamGuard(healthy.url), await startUpstreamGuard(flaky.url)];
  const config = fuzzConfig(guards[0].url, guards[1].url);
  const errorLogs: ErrorLogLine[] = [];
  const app = await createApp(config, {
    lock: false,
    logger: {
      error: (details, msg) => errorLogs.push({ source: 'app', msg, err: describe(details.err ?? details.error ?? details) }),
      warn: () => undefined,
    },
  });
  const sink = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) {
        if (!line) continue;
        let entry: { level: number; reqId?: string; msg?: string; err?: unknown };
        try {
          entry = JSON.parse(line);
        } catch {
          errorLogs.push({ source: 'server', msg: `a log line that is no JSON: ${line.slice(0, 200)}` });
          continue;
        }
        if (entry.level >= 50) errorLogs.push({ source: 'server', reqId: entry.reqId, msg: entry.msg ?? '', err: describe(entry.err) });
      }
      done();
    },
  });
  const routeTable: Array<{ method: string; url: string; role: Role }> = [];
  const operatorKeyHash = hashKey(OPERATOR_KEY);
  const server = await buildServer(app, { logger: { level: 'warn', stream: sink }, routeTable, operatorKeyHash });
  const routes = await routeInventory({ server, app, routeTable, operatorKeyHash });

  const keys = {} as Record<Role, string>;
  await app.auth.createTenant({ id: 'fz-main' });
  for (const role of ROLES) keys[role] = (await app.auth.createKey('fz-main', { role, ...FAST_KEY })).key;
  await app.auth.createTenant({ id: 'fz-foreign' });
  const foreignKey = (await app.auth.createKey('fz-foreign', { role: 'admin', ...FAST_KEY })).key;

  const fixtures = await seed({ server, app, admin: keys.admin, foreignKey });
  const drainErrorLogs = () => errorLogs.splice(0, errorLogs.length);
  drainErrorLogs();
  return {
    server,
    app,
    routes,
    fixtures,
    keys,
    foreignKey,
    operatorKey: OPERATOR_KEY,
    secrets: [...Object.values(keys), foreignKey, OPERATOR_KEY],
    drainErrorLogs,
    async close() {
      await server.close();
      await app.close();
      await Promise.all([...guards.map((g) => g.close()), healthy.close(), flaky.close()]);
    },
  };
}

/** The fuzz server's config; the two providers are the (guarded) mock model servers. */
function fuzzConfig(healthyUrl: string, flakyUrl: string): Config {
  const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-fuzz-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
  const provider = (name: string, url: string) => ({ name, type: 'openai-compatible' as const, base_url: url, native_structured_output: true });
  const model = (name: string, providerName: string) => ({ name, provider: providerName, price: { input_per_mtok: 1, output_per_mtok: 2 } });
  return {
    ...base,
    providers: { ...base.providers, healthy: provider('healthy', healthyUrl), flaky: provider('flaky', flakyUrl) },
    models: { ...base.models, 'healthy-model': model('healthy-model', 'healthy'), 'flaky-model': model('flaky-model', 'flaky') },
    routes: { default: ['healthy-model'], flaky: ['flaky-model'] },
    resilience: { ...base.resilience, retries: 0, backoff_base_ms: 1, attempt_timeout_ms: 5_000 },
    uploadLimitBytes: 64 * 1024,
    uploadMaxFiles: 4,
    jobs: { ...base.jobs, in_process: false },
  };
}

const docs = (source: string, text: string) => ({ documents: [{ source, text, metadata: { lang: 'en', year: 2024 } }] });
const input = { subject: 'Refund', body: 'Charged twice', customer: { name: 'Dana' } };

/** Creates the resources the generators name, through the API itself. */
async function seed(params: { server: FastifyInstance; app: App; admin: string; foreignKey: string }): Promise<Fixtures> {
  const { server, app } = params;
  const call = async (key: string, method: string, url: string, payload?: unknown, expected = [200, 201, 202]) => {
    const response = await server.inject({
      method: method as 'GET',
      url,
      headers: { authorization: `Bearer ${key}` },
      ...(payload === undefined ? {} : { payload: payload as object }),
    });
    if (!expected.includes(response.statusCode))
      throw new Error(`fuzz setup: ${method} ${url} answered ${response.statusCode}: ${response.body.slice(0, 300)}`);
    return response.json() as Record<string, any>;
  };
  const own = (method: string, url: string, payload?: unknown) => call(params.admin, method, url, payload);
  const foreign = (method: string, url: string, payload?: unknown) => call(params.foreignKey, method, url, payload);

  const versions = [
    (await own('POST', '/v1/tasks', triageDefinition({ name: 'triage', route: 'default' }))).version,
    (await own('POST', '/v1/tasks', triageDefinition({ name: 'triage-flaky', route: 'flaky' }))).version,
  ];
  const run = await own('POST', '/v1/tasks/triage/run', { input });
  await own('POST', '/v1/collections', { name: 'kb' });
  const kbDoc = await own('POST', '/v1/collections/kb/documents', docs('refunds.md', '# Refunds\n\nRefunds take five business days to reach the card.'));
  await own('POST', '/v1/collections', { name: 'scratch' });
  const scratchDocs = await own('POST', '/v1/collections/scratch/documents', {
    documents: [1, 2, 3].map((i) => ({ source: `s${i}.md`, text: `scratch document ${i}` })),
  });
  await own('POST', '/v1/collections', { name: 'scratch-2' });
  const queued = await own('POST', '/v1/tasks/triage/jobs', { input });
  const cancelled = await own('POST', '/v1/tasks/triage/jobs', { input });
  await own('DELETE', `/v1/jobs/${cancelled.job.id}`);
  const scratchKeys = [await own('POST', '/v1/keys', { role: 'viewer' }), await own('POST', '/v1/keys', { role: 'runner' })];

  await foreign('POST', '/v1/tasks', triageDefinition({ name: 'foreign-task', description: FOREIGN_MARKER, route: 'default' }));
  const foreignRun = await foreign('POST', '/v1/tasks/foreign-task/run', { input: { ...input, body: FOREIGN_MARKER } });
  await foreign('POST', '/v1/collections', { name: 'foreign-kb', description: FOREIGN_MARKER });
  const foreignDoc = await foreign('POST', '/v1/collections/foreign-kb/documents', docs('secret.md', `The vault code is ${FOREIGN_MARKER}.`));
  const foreignJob = await foreign('POST', '/v1/tasks/foreign-task/jobs', { input: { ...input, body: FOREIGN_MARKER } });
  const foreignKeyRecord = await foreign('POST', '/v1/keys', { role: 'viewer', name: FOREIGN_MARKER });

  const scratchTenants = ['fz-scratch-1', 'fz-scratch-2'];
  const scratchTenantKeys: string[] = [];
  for (const id of scratchTenants) {
    await app.auth.createTenant({ id });
    scratchTenantKeys.push((await app.auth.createKey(id, { role: 'viewer' })).record.id);
  }

  return {
    tasks: ['triage', 'triage-flaky'],
    versions,
    collections: ['kb'],
    documents: [kbDoc.results[0].document_id],
    runs: [run.run_id],
    jobs: [queued.job.id, cancelled.job.id],
    finishedJobs: [cancelled.job.id],
    scratchKeys: scratchKeys.map((k) => k.api_key.id),
    scratchCollections: ['scratch'],
    scratchDocuments: scratchDocs.results.map((r: { document_id: string }) => r.document_id),
    models: ['default', 'flaky', 'healthy-model', 'flaky-model', 'builtin'],
    scratchTenants,
    scratchTenantKeys,
    foreign: {
      tasks: ['foreign-task'],
      collections: ['foreign-kb'],
      documents: [foreignDoc.results[0].document_id],
      runs: [foreignRun.run_id],
      jobs: [foreignJob.job.id],
      keys: [foreignKeyRecord.api_key.id],
    },
  };
}

function describe(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === 'object' && value !== null && 'message' in value)
    return `${String((value as { type?: string }).type ?? 'Error')}: ${String((value as { message: unknown }).message)}`;
  return JSON.stringify(value)?.slice(0, 500);
}
