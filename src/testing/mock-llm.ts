/**
 * A FAKE OpenAI-compatible model server for tests and benchmarks; never a provider to ship with.
 * Plain `node:http` keeps its own cost near zero (the overhead benchmark measures ours against it),
 * and a seeded PRNG makes every fault reproducible from the seed and the request sequence.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  FAULT_HEADER_VALUES,
  faultOverride,
  faultThresholds,
  latencyOverride,
  mulberry32,
  pickFault,
  type MockFault,
  type MockFaultRates,
  type MockOutcome,
} from './mock-llm-faults.js';
import {
  estimateTokens,
  malformedContent,
  planContent,
  promptChars,
  schemaViolationContent,
  truncatedContent,
  type MockChatRequest,
  type PlannedContent,
} from './mock-llm-content.js';
import { completionBody, errorBody, later, parseRequest, readBody, sendError, sendJson, streamBody, type MockReply } from './mock-llm-wire.js';
import { embeddingsBody, malformedEmbeddingsBody, parseEmbeddingRequest, type MockEmbeddingRequest } from './mock-llm-embeddings.js';

export type { MockFaultRates, MockOutcome } from './mock-llm-faults.js';
export type { MockChatMessage, MockChatRequest } from './mock-llm-content.js';
export type { MockEmbeddingRequest } from './mock-llm-embeddings.js';

/** Options for the fake model server; every field has a test-friendly default. */
export interface MockLlmOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** PRNG seed for faults and latency; default 1. */
  seed?: number;
  /** Added before every reply; a fixed delay when minMs === maxMs. Default 0. */
  latency?: { minMs: number; maxMs: number };
  faults?: MockFaultRates;
  /** Sent as `Retry-After` with every 429; default 1. */
  retryAfterSeconds?: number;
  /** How long a hang lasts before a normal 200; default: until the client disconnects. */
  hangMs?: number;
  /** Scripted reply content (an object is sent as JSON); default: schema example or plain text. */
  respond?: (request: MockChatRequest) => string | object;
  /** Model ids listed by GET /v1/models; default ['mock-llm']. */
  models?: string[];
  /** Length of the vectors POST /v1/embeddings returns (unless a request asks for `dimensions`); default 64. */
  embeddingDimensions?: number;
}

/**
 * Requests seen (chat completions and embeddings, which share the fault draw), and how each one
 * ended; `embeddings` counts the embeddings requests among them. Content faults (schemaViolation,
 * truncated) have no meaning for embeddings: those draws answer normally and count as ok.
 */
export interface MockStats {
  total: number;
  embeddings: number;
  outcomes: Record<MockOutcome, number>;
}

/** A running fake model server. */
export interface MockLlm {
  /** Base URL for OpenAI clients, ending in /v1. */
  url: string;
  port: number;
  stats(): MockStats;
  /** Zeroes the stats and re-seeds, so the same requests replay the same faults. */
  reset(): void;
  close(): Promise<void>;
}

const SERVER_ERROR_STATUSES = [500, 502, 503] as const;
/** Faults in the reply's body rather than its status or timing; each endpoint says which it can show. */
const CONTENT_FAULTS: ReadonlySet<MockFault> = new Set(['malformed', 'schemaViolation', 'truncated']);
const EMBEDDING_CONTENT_FAULTS: ReadonlySet<MockFault> = new Set(['malformed']);

/** Starts the fake model server; resolves once it is listening. */
export async function startMockLlm(options: MockLlmOptions = {}): Promise<MockLlm> {
  const host = options.host ?? '127.0.0.1';
  const seed = options.seed ?? 1;
  const thresholds = faultThresholds(options.faults);
  const minMs = options.latency?.minMs ?? 0;
  const maxMs = options.latency?.maxMs ?? minMs;
  if (!(minMs >= 0 && maxMs >= minMs)) throw new RangeError('mock-llm: latency needs 0 <= minMs <= maxMs');
  const retryAfter = String(options.retryAfterSeconds ?? 1);
  const embeddingDimensions = options.embeddingDimensions ?? 64;
  if (!Number.isInteger(embeddingDimensions) || embeddingDimensions < 1) {
    throw new RangeError('mock-llm: embeddingDimensions must be a positive integer');
  }
  const modelsBody = JSON.stringify({
    object: 'list',
    data: (options.models ?? ['mock-llm']).map((id) => ({ id, object: 'model', created: 0, owned_by: 'groundwork-mock' })),
  });

  // Separate streams, so changing the latency range never changes which requests fault.
  let faultRandom = mulberry32(seed);
  let latencyRandom = mulberry32(seed ^ 0x9e3779b9);
  let stats = emptyStats();
  // Per-kind occurrence counters rotate each fault through its variants deterministically.
  let seen = { error5xx: 0, malformed: 0, schemaViolation: 0, completions: 0 };

  /** The fault and latency machinery both endpoints share; `answer` writes a reply (or a content fault). */
  const handleFaulty = <T>(
    req: IncomingMessage,
    res: ServerResponse,
    parse: (raw: string) => T | string,
    answer: (res: ServerResponse, request: T, fault: MockFault | undefined) => void,
    /** The content faults this endpoint can show; a draw of another one answers normally. */
    shows: ReadonlySet<MockFault>,
  ): void => {
    // Draw before anything can fail, so request n always gets draw n whatever happened before.
    const drawnFault = pickFault(faultRandom(), thresholds);
    const drawnLatency = minMs === maxMs ? minMs : minMs + Math.floor(latencyRandom() * (maxMs - minMs + 1));
    stats.total++;
    readBody(req, (raw) => {
      const request = parse(raw);
      const fault = faultOverride(req.headers['x-mock-fault']);
      const latency = latencyOverride(req.headers['x-mock-latency-ms']);
      if (typeof request === 'string' || fault === null || latency === null) {
        stats.outcomes.badRequest++;
        const problem =
          typeof request === 'string'
            ? request
            : fault === null
              ? `x-mock-fault must be one of ${Object.keys(FAULT_HEADER_VALUES).join('|')}`
              : 'x-mock-latency-ms must be a non-negative integer';
        sendError(res, 400, problem, 'invalid_request_error');
        return;
      }
      const chosen: MockFault | undefined = fault === 'none' ? undefined : (fault ?? drawnFault);
      const outcome = chosen !== undefined && CONTENT_FAULTS.has(chosen) && !shows.has(chosen) ? undefined : chosen;
      stats.outcomes[outcome ?? 'ok']++;
      const reply = (): void => {
        if (res.destroyed) return;
        if (outcome === 'error5xx') {
          const status = SERVER_ERROR_STATUSES[seen.error5xx++ % SERVER_ERROR_STATUSES.length];
          sendError(res, status, `mock-llm injected a ${status} server error`, 'server_error');
        } else if (outcome === 'rateLimit') {
          res.setHeader('retry-after', retryAfter);
          sendJson(res, 429, errorBody('mock-llm injected a rate limit: retry later', 'requests', 'rate_limit_exceeded'));
        } else answer(res, request, outcome);
      };
      if (outcome === 'hang') {
        // No hangMs: never answer; the socket closes when the client gives up or we shut down.
        if (options.hangMs !== undefined)
          later(res, options.hangMs, () => {
            if (!res.destroyed) answer(res, request, undefined);
          });
        return;
      }
      const delay = latency ?? drawnLatency;
      if (delay > 0) later(res, delay, reply);
      else reply();
    });
  };

  const respond = (res: ServerResponse, request: MockChatRequest, fault: MockFault | undefined): void => {
    let planned: PlannedContent;
    try {
      planned = planContent(request, options.respond);
    } catch (error) {
      sendError(res, 500, `mock-llm respond() threw: ${(error as Error)?.message ?? String(error)}`, 'server_error');
      return;
    }
    let content = planned.text;
    let finishReason: 'stop' | 'length' = 'stop';
    if (fault === 'malformed') content = malformedContent(planned, seen.malformed++);
    else if (fault === 'schemaViolation') content = schemaViolationContent(planned, seen.schemaViolation++);
    else if (fault === 'truncated') {
      content = truncatedContent(planned);
      finishReason = 'length';
    }
    const maxTokens = request.max_completion_tokens ?? request.max_tokens;
    if (typeof maxTokens === 'number' && maxTokens >= 0 && estimateTokens(content.length) > maxTokens) {
      content = content.slice(0, maxTokens * 4);
      finishReason = 'length';
    }
    const promptTokens = estimateTokens(promptChars(request));
    const completionTokens = estimateTokens(content.length);
    const reply: MockReply = {
      id: `chatcmpl-mock-${++seen.completions}`,
      created: Math.floor(Date.now() / 1000),
      model: typeof request.model === 'string' ? request.model : 'mock-llm',
      content,
      finishReason,
      usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
    };
    if (request.stream === true) {
      const body = streamBody(reply, request.stream_options?.include_usage === true);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    sendJson(res, 200, completionBody(reply));
  };

  const handleCompletion = (req: IncomingMessage, res: ServerResponse): void => handleFaulty(req, res, parseRequest, respond, CONTENT_FAULTS);

  const answerEmbeddings = (res: ServerResponse, request: MockEmbeddingRequest, fault: MockFault | undefined): void => {
    const build = fault === 'malformed' ? malformedEmbeddingsBody : embeddingsBody;
    sendJson(res, 200, build(request, embeddingDimensions));
  };
  const handleEmbeddings = (req: IncomingMessage, res: ServerResponse): void => {
    stats.embeddings++;
    handleFaulty(req, res, parseEmbeddingRequest, answerEmbeddings, EMBEDDING_CONTENT_FAULTS);
  };

  const server = createServer((req, res) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    if (req.method === 'POST' && path === '/v1/chat/completions') return handleCompletion(req, res);
    if (req.method === 'POST' && path === '/v1/embeddings') return handleEmbeddings(req, res);
    if (req.method === 'GET' && path === '/v1/models') return sendJson(res, 200, modelsBody);
    if (req.method === 'GET' && path === '/_mock/stats') return sendJson(res, 200, JSON.stringify(stats));
    if (req.method === 'POST' && path === '/_mock/reset') {
      reset();
      return sendJson(res, 200, '{"ok":true}');
    }
    sendError(res, 404, `Invalid URL (${req.method} ${path})`, 'invalid_request_error', 'not_found');
  });
  // Clients keep connections open between benchmark iterations; don't drop them mid-run.
  server.keepAliveTimeout = 60_000;

  const reset = (): void => {
    faultRandom = mulberry32(seed);
    latencyRandom = mulberry32(seed ^ 0x9e3779b9);
    stats = emptyStats();
    seen = { error5xx: 0, malformed: 0, schemaViolation: 0, completions: 0 };
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${urlHost(host)}:${port}/v1`,
    port,
    stats: () => structuredClone(stats),
    reset,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        // Hanging requests and idle keep-alive sockets would otherwise hold close() open forever.
        server.closeAllConnections();
      }),
  };
}

function emptyStats(): MockStats {
  return {
    total: 0,
    embeddings: 0,
    outcomes: { ok: 0, error5xx: 0, rateLimit: 0, hang: 0, malformed: 0, schemaViolation: 0, truncated: 0, badRequest: 0 },
  };
}

function urlHost(host: string): string {
  if (host === '0.0.0.0') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}
