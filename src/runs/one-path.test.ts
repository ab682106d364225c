import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createApp, type App } from '../app/app.js';
import type { Principal } from '../auth/principal.js';
import { loadConfig, type Config } from '../config/config.js';
import { Cancellation } from '../kernel/cancellation.js';
import { DEFAULT_TENANT, type AttemptRecord } from '../store/ports.js';

/**
 * One run path: the same faults, served in the same order, through a task run, `ask`, a
 * chat completion and a streamed chat completion give the same attempt records and the same
 * failover decisions, because all four go through one router and one set of wrappers.
 *
 * Route "drill": tier 0 (provider a) answers 429 with Retry-After, then 500; tier 1 (b) hangs
 * past the attempt timeout, then answers 200 with a body that is not a valid answer; tier 2 (c)
 * answers. With one retry per tier: two attempts on a, two on b, one on c. No randomness.
 */

type Fault = '429' | '500' | 'hang' | 'garbage' | 'ok';
const SCRIPT: Record<string, Fault[]> = { a: ['429', '500'], b: ['hang', 'garbage'], c: ['ok'] };

const POLICY = 'Refunds are issued within 14 days of a return. Shipping is free over 50 euros.';
const ASK_ANSWER = {
  answer: 'Within 14 days.',
  citations: [{ source: 1, quote: 'Refunds are issued within 14 days of a return.' }],
  answerable: true,
  confidence: 0.9,
};
const TASK_ANSWER = { category: 'billing', summary: 'Duplicate charge.' };

interface Upstream {
  url: string;
  server: Server;
  /** Faults left to serve, in order. */
  queue: Fault[];
}

async function scriptedUpstream(): Promise<Upstream> {
  const upstream: Upstream = { url: '', server: createServer(), queue: [] };
  upstream.server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk) => (body += chunk));
    req.on('end', () => serve(upstream.queue.shift() ?? 'ok', body, res));
  });
  await new Promise<void>((resolve) => upstream.server.listen(0, '127.0.0.1', resolve));
  upstream.url = `http://127.0.0.1:${(upstream.server.address() as AddressInfo).port}/v1`;
  return upstream;
}

function serve(fault: Fault, body: string, res: ServerResponse): void {
  const request = JSON.parse(body) as { stream?: boolean };
  switch (fault) {
    case '429':
      res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' }).end('{"error":{"message":"slow down"}}');
      return;
    case '500':
      res.writeHead(500, { 'content-type': 'application/json' }).end('{"error":{"message":"upstream exploded"}}');
      return;
    case 'hang':
      return; // never answers; the attempt timeout ends it
    case 'garbage':
      res
        .writeHead(200, { 'content-type': request.stream ? 'text/event-stream' : 'application/json' })
        .end(request.stream ? 'data: {"choi' : '{"id":"x","choices":[');
      return;
    case 'ok': {
      // The same upstream serves every caller: the grounded ask, the task, and chat.
      const content = JSON.stringify(body.includes('Refunds are issued') ? ASK_ANSWER : TASK_ANSWER);
      const usage = { prompt_tokens: 20, completion_tokens: 8, total_tokens: 28 };
      if (!request.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          JSON.stringify({
            id: 'cmpl-1',
            object: 'chat.completion',
            created: 1,
            model: 'c-id',
            choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
            usage,
          }),
        );
        return;
      }
      const event = (data: unknown) => `data: ${JSON.stringify(data)}\n\n`;
      const chunk = (delta: object, finish: string | null) => ({
        id: 'cmpl-1',
        object: 'chat.completion.chunk',
        created: 1,
        model: 'c-id',
        choices: [{ index: 0, delta, finish_reason: finish }],
      });
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(
        event(chunk({ role: 'assistant', content }, null)) +
          event(chunk({}, 'stop')) +
          event({ id: 'cmpl-1', object: 'chat.completion.chunk', created: 1, model: 'c-id', choices: [], usage }) +
          'data: [DONE]\n\n',
      );
    }
  }
}

const PRINCIPAL: Principal = { tenantId: DEFAULT_TENANT, keyId: 'key_drill', role: 'runner' };
const upstreams: Record<string, Upstream> = {};
let app: App;

beforeAll(async () => {
  for (const name of Object.keys(SCRIPT)) upstreams[name] = await scriptedUpstream();
  const base = loadConfig({ env: {}, cwd: mkdtempSync(join(tmpdir(), 'gw-one-path-')), overrides: { dataDir: 'memory://', logLevel: 'silent' } });
  const config: Config = {
    ...base,
    providers: {
      ...base.providers,
      ...Object.fromEntries(
        Object.entries(upstreams).map(([name, u]) => [
          name,
          { name, type: 'openai-compatible' as const, base_url: u.url, native_structured_output: true, api_key: `sk-${name}` },
        ]),
      ),
    },
    models: {
      ...base.models,
      ...Object.fromEntries(
        Object.keys(upstreams).map((name) => [
          `${name}-model`,
          { name: `${name}-model`, provider: name, id: `${name}-id`, price: { input_per_mtok: 1, output_per_mtok: 2 } },
        ]),
      ),
    },
    routes: { drill: ['a-model', 'b-model', 'c-model'] },
    ask: { ...base.ask, route: ['a-model', 'b-model', 'c-model'] },
    // One retry per tier, a 300 ms attempt timeout, Retry-After capped at 5 ms; a breaker that never opens here.
    resilience: {
      ...base.resilience,
      retries: 1,
      backoff_base_ms: 1,
      backoff_max_ms: 2,
      retry_after_cap_ms: 5,
      attempt_timeout_ms: 300,
      breaker_window: 1_000,
      breaker_min_calls: 1_000,
    },
  };
  app = await createApp(config, { lock: false, logger: { error: () => undefined, warn: () => undefined } });
  await app.tasks.push(DEFAULT_TENANT, [
    {
      name: 'triage',
      description: 'Triage a support ticket.',
      input_schema: { type: 'object', required: ['body'], properties: { body: { type: 'string' } } },
      output_schema: {
        type: 'object',
        additionalProperties: false,
        required: ['category', 'summary'],
        properties: { category: { type: 'string' }, summary: { type: 'string' } },
      },
      prompt: { system: 'Triage the ticket.', user: '{{body}}' },
      route: 'drill',
      limits: { timeout_ms: 30_000, max_output_tokens: 1_024 },
    },
  ]);
  await app.retrieval.createCollection(DEFAULT_TENANT, { name: 'policies' });
  await app.ingest(DEFAULT_TENANT, 'policies', [{ source: 'refunds.md', bytes: Buffer.from(`# Refunds\n\n${POLICY}\n`) }]);
});

afterAll(async () => {
  await app?.close();
  for (const upstream of Object.values(upstreams)) {
    upstream.server.closeAllConnections();
    await new Promise((resolve) => upstream.server.close(resolve));
  }
});

beforeEach(() => {
  for (const [name, faults] of Object.entries(SCRIPT)) upstreams[name].queue = [...faults];
});

const chatBody = { model: 'drill', messages: [{ role: 'user', content: 'My card was charged twice.' }], max_tokens: 50 };

/** Each path's run: its id and whether the answer came through. */
const paths: Record<string, () => Promise<{ runId: string; answered: boolean }>> = {
  task: async () => {
    const outcome = await app.runTaskAs(PRINCIPAL, {
      tenantId: DEFAULT_TENANT,
      task: await app.tasks.resolve(DEFAULT_TENANT, 'triage'),
      input: { body: 'My card was charged twice.' },
    });
    return { runId: outcome.runId, answered: (outcome.output as { category?: string }).category === 'billing' };
  },
  ask: async () => {
    const outcome = await app.askAs(PRINCIPAL, { question: 'Within how many days are refunds issued?', collection: 'policies' });
    return { runId: outcome.runId, answered: (outcome.output as { answer?: string }).answer === 'Within 14 days.' };
  },
  chat: async () => {
    const reply = await app.gateway.chatCompletions({ principal: PRINCIPAL, body: chatBody, disconnect: new Cancellation() });
    return { runId: reply.runId, answered: reply.type === 'json' && reply.body.includes('Duplicate charge') };
  },
  'streaming chat': async () => {
    const reply = await app.gateway.chatCompletions({ principal: PRINCIPAL, body: { ...chatBody, stream: true }, disconnect: new Cancellation() });
    if (reply.type !== 'stream') throw new Error('expected a stream');
    let sent = '';
    await reply.pipe({ open: () => undefined, write: (text) => void (sent += text), end: () => undefined });
    return { runId: reply.runId, answered: sent.includes('Duplicate charge') && sent.endsWith('data: [DONE]\n\n') };
  },
};

/** What must be the same on every path: which tier, model and outcome each attempt had, and where the run escalated. */
const decisions = (attempts: AttemptRecord[]) =>
  attempts.map((a) => ({ seq: a.seq, tier: a.tier, model: a.model, provider: a.provider, outcome: a.outcome, escalated: a.escalationReason !== undefined }));

const EXPECTED = [
  { seq: 1, tier: 0, model: 'a-model', provider: 'a', outcome: 'rate_limited', escalated: false },
  { seq: 2, tier: 0, model: 'a-model', provider: 'a', outcome: 'provider_error', escalated: false },
  { seq: 3, tier: 1, model: 'b-model', provider: 'b', outcome: 'timeout', escalated: true },
  { seq: 4, tier: 1, model: 'b-model', provider: 'b', outcome: 'provider_error', escalated: false },
  { seq: 5, tier: 2, model: 'c-model', provider: 'c', outcome: 'ok', escalated: true },
];

describe('one run path: 429 + Retry-After and 500 on tier 0, a hang and a malformed answer on tier 1, an answer on tier 2', () => {
  for (const [name, run] of Object.entries(paths)) {
    it(`${name}: retries, fails over and records every attempt the same way`, async () => {
      const { runId, answered } = await run();
      expect(answered).toBe(true);
      const record = await app.runs.get(DEFAULT_TENANT, runId);
      expect(record).toMatchObject({ status: 'ok', model: 'c-model', degraded: true, keyId: 'key_drill' });
      expect(decisions(record!.attempts)).toEqual(EXPECTED);
      expect(record!.attempts[2].escalationReason).toMatch(/^tier 0 \(a-model\): provider_error: /);
      expect(record!.attempts[4].escalationReason).toMatch(/^tier 1 \(b-model\): provider_error: /);
      // One cost sum: the run's totals are its attempts' (only the answer reported usage here).
      expect(record!.costUsd).toBeCloseTo(
        record!.attempts.reduce((sum, a) => sum + a.costUsd, 0),
        12,
      );
      expect(record!.attempts[4]).toMatchObject({ inputTokens: 20, outputTokens: 8 });
      for (const name of Object.keys(SCRIPT)) expect(upstreams[name].queue).toEqual([]);
    });
  }
});
