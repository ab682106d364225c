import { mkdtempSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../config/config.js';
import { openStore, type Store } from '../store/index.js';
import { createJobService, type JobService } from './job-service.js';
import { presentJob } from '../api/job-presenter.js';
import type { HostResolver } from './webhook-target.js';
import type { Job } from './types.js';

/**
 * Webhook deliveries as a tenant sees them on the job (PGlite, a real queue): the address
 * policy holds at delivery against the address actually connected, and the stored failure
 * names a class of failure, never the network detail (which goes to the server log).
 */

const tenantId = 'acme';
const documents = [{ source: 'a.txt', text: 'hello' }];

describe('job webhook delivery', () => {
  let store: Store;
  let jobs: JobService;
  let receiver: Server;
  let port: number;
  let closedPort: number;
  let received = 0;
  const warnings: Array<Record<string, unknown>> = [];
  // rebind.example.com answers a public address first (the check at creation), then loopback.
  const lookups = new Map<string, number>();
  const resolveHost: HostResolver = async (hostname) => {
    const seen = lookups.get(hostname) ?? 0;
    lookups.set(hostname, seen + 1);
    if (hostname === 'rebind.example.com') return [{ address: seen === 0 ? '93.184.216.34' : '127.0.0.1', family: 4 }];
    if (hostname === 'closed.internal') return [{ address: '127.0.0.1', family: 4 }];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  };

  beforeAll(async () => {
    receiver = createServer((_req, res) => {
      received++;
      res.writeHead(200).end();
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    port = (receiver.address() as AddressInfo).port;
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));

    const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-webhooks-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
    store = await openStore({ dataDir: 'memory://', lock: false });
    jobs = createJobService({
      db: store.db,
      jobs: { ...base.jobs, poll_interval_ms: 100, webhook_max_attempts: 1, webhook_timeout_ms: 2_000, webhook_allow: ['closed.internal'] },
      queueSchema: 'groundwork_boss',
      self: { host: '127.0.0.1', port: 18_080 },
      runs: store.runs,
      resolveTask: () => Promise.reject(new Error('no tasks here')),
      checkCollection: async () => undefined,
      checkEval: () => Promise.reject(new Error('no evals here')),
      webhookSecret: async () => 'whsec_test',
      presentJob,
      logger: { error: () => undefined, warn: (details) => void warnings.push(details) },
      resolveHost,
    });
    await jobs.start({
      runTaskAs: () => Promise.reject(new Error('no tasks here')),
      ingest: async () => [],
      runEval: () => Promise.reject(new Error('no evals here')),
    });
  }, 60_000);

  afterAll(async () => {
    await jobs?.close();
    await store?.close();
    await new Promise<void>((resolve) => receiver?.close(() => resolve()));
  });

  async function deliveryOutcome(id: string): Promise<Job> {
    const deadline = Date.now() + 20_000;
    for (;;) {
      const job = await jobs.get(tenantId, id);
      if (job.webhook && job.webhook.status !== 'pending') return job;
      if (Date.now() > deadline) throw new Error(`webhook of ${id} still pending: ${JSON.stringify(job)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** The log line of the job's failed delivery (written just after the job's webhook state). */
  async function warningFor(id: string): Promise<Record<string, unknown>> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const warning = warnings.find((w) => w.job_id === id);
      if (warning) return warning;
      if (Date.now() > deadline) throw new Error(`no warning logged for ${id}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  it('refuses at delivery a name that resolved to a public address at creation and to loopback since (DNS rebinding)', async () => {
    const url = `http://rebind.example.com:${port}/hook`;
    const job = await jobs.enqueueIngest(tenantId, { collection: 'docs', documents, webhookUrl: url });
    expect(job.webhookUrl).toBe(url);
    const done = await deliveryOutcome(job.id);
    expect(done).toMatchObject({
      status: 'succeeded',
      webhook: { status: 'failed', attempts: 1, lastError: "refused: the receiver's address is not allowed" },
    });
    expect(done.webhook?.lastStatus).toBeUndefined();
    expect(received).toBe(0);
    expect(lookups.get('rebind.example.com')).toBe(2);
    // What the tenant reads names no address or port; the log keeps them for the operator.
    expect(JSON.stringify(presentJob(done).webhook)).not.toMatch(/127\.0\.0\.1|93\.184|:\d{2,5}\b|port/);
    expect(await warningFor(job.id)).toMatchObject({ error: "refused: the receiver's address is not allowed", reason: expect.stringContaining('127.0.0.1') });
  });

  it('stores a class of failure for a receiver that is not listening, not its address, port or errno', async () => {
    const job = await jobs.enqueueIngest(tenantId, { collection: 'docs', documents, webhookUrl: `http://closed.internal:${closedPort}/hook` });
    const done = await deliveryOutcome(job.id);
    expect(done.webhook).toMatchObject({ status: 'failed', lastError: 'could not connect' });
    expect(JSON.stringify(presentJob(done).webhook)).not.toMatch(new RegExp(`127\\.0\\.0\\.1|${closedPort}|ECONNREFUSED`));
    expect(await warningFor(job.id)).toMatchObject({ reason: expect.stringMatching(/ECONNREFUSED/) });
  });
});
