import { ERROR_CODES, type ErrorCode } from '../../kernel/errors.js';
import { jsonTextTooDeep } from '../../kernel/json.js';
import { FOREIGN_MARKER } from './fuzz-target.js';
import { POLLUTION_MARKER } from './hostile.js';
import type { FuzzRequest } from './request-arbitrary.js';

/**
 * What every answer must be, whatever was asked: no 500 (and a 502/503/504 only as a typed
 * upstream failure of a request that named the faulty model server), every error the one JSON
 * shape with a registered code whose status it carries, no stack trace or secret in any body,
 * no other tenant's data in a success, nothing past a missing or insufficient key, a plain
 * request id, Object.prototype untouched.
 */

/** One broken promise; `signature` groups repeats of the same problem. */
export interface Problem {
  check: string;
  signature: string;
  detail: string;
}

/** An answer as the oracle sees it. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

/** Upstream failures a model route may answer with when its provider misbehaves. */
const UPSTREAM_CODES = new Set<ErrorCode>(['MODEL_ALL_TIERS_FAILED', 'MODEL_UNAVAILABLE', 'MODEL_DEADLINE_EXCEEDED', 'EMBEDDER_UNAVAILABLE', 'JOB_TIMEOUT']);

const STACK_PATTERNS: Array<[string, RegExp]> = [
  ['stack frame', /\bat [^\s"]+ \([^()"]*:\d+:\d+\)/],
  ['stack frame', /\bat (?:file:\/\/)?\/[^\s"]+:\d+:\d+/],
  ['source reference', /\.(?:ts|js|mjs|cjs):\d+(?::\d+)?/],
  ['node_modules path', /node_modules/],
];

/** A body's run ids: the answer's own, an error's, and the gateway header. */
export function runIdsOf(answer: Answer, parsed: unknown): string[] {
  const ids = new Set<string>();
  const header = answer.headers['x-groundwork-run-id'];
  if (typeof header === 'string' && header) ids.add(header);
  if (parsed && typeof parsed === 'object') {
    const body = parsed as { run_id?: unknown; error?: { run_id?: unknown } };
    if (typeof body.run_id === 'string') ids.add(body.run_id);
    if (typeof body.error?.run_id === 'string') ids.add(body.error.run_id);
  }
  return [...ids];
}

export function checkAnswer(request: FuzzRequest, answer: Answer, secrets: string[]): { problems: Problem[]; parsed: unknown } {
  const problems: Problem[] = [];
  // Problems of a route carry its id; those of the edge (router, parsers) are one finding for all routes.
  const add = (check: string, key: string, detail: string, perRoute = true) =>
    problems.push({ check, signature: perRoute ? `${check} | ${request.route} | ${key}` : `${check} | ${key}`, detail });
  const contentType = String(answer.headers['content-type'] ?? '');
  let parsed: unknown;
  if (/json/.test(contentType) && answer.body.length > 0) {
    try {
      parsed = JSON.parse(answer.body);
    } catch {
      add('unparseable-json', String(answer.status), `content-type ${contentType} but the body is no JSON: ${answer.body.slice(0, 200)}`);
    }
  }
  const code = errorCodeOf(parsed);
  const rawCode = String(
    (parsed as { error?: { code?: unknown }; code?: unknown } | undefined)?.error?.code ?? (parsed as { code?: unknown } | undefined)?.code ?? '-',
  );

  if (answer.status >= 500) {
    const upstreamOk = request.upstreamFaults && [502, 503, 504].includes(answer.status) && code !== undefined && UPSTREAM_CODES.has(code);
    if (!upstreamOk) add('server-error', `${answer.status} ${code ?? '-'}`, `answered ${answer.status} ${code ?? ''}: ${answer.body.slice(0, 300)}`);
  }
  const isError = answer.status >= 400;
  if (isError && request.method !== 'HEAD') {
    if (!/^application\/json/.test(contentType))
      add('error-shape', `${answer.status} ${contentType}`, `error answered as ${contentType || 'no content type'}: ${answer.body.slice(0, 200)}`);
    else if (!validErrorBody(parsed))
      add('error-shape', `${answer.status} ${rawCode}`, `error body is not { error: { code, message, details } }: ${answer.body.slice(0, 300)}`, false);
    else if (code === undefined) add('error-code', `${answer.status} ${rawCode}`, `unregistered error code: ${answer.body.slice(0, 200)}`, false);
    else if (ERROR_CODES[code].httpStatus !== answer.status)
      add('error-status', `${answer.status} ${code}`, `${code} is registered as ${ERROR_CODES[code].httpStatus}, answered ${answer.status}`, false);
  }
  for (const [what, pattern] of STACK_PATTERNS) {
    const match = pattern.exec(answer.body);
    // An answer may echo what it was sent (a name, a query): only text the request did not carry counts.
    if (match && !echoes(request, match[0]))
      add(
        'stack-trace',
        `${answer.status} ${rawCode} ${what}`,
        `${what} in the body: …${answer.body.slice(Math.max(0, match.index - 80), match.index + 120)}…`,
      );
  }
  for (const secret of secrets)
    if (answer.body.includes(secret)) add('secret-in-body', secret.slice(0, 8), `an API/operator key secret is in the body (${answer.status})`);
  // (Operators act on every tenant by design; the fuzz tenant's keys must never see another's data.)
  if (answer.status < 300 && !request.url.startsWith('/operator') && answer.body.includes(FOREIGN_MARKER))
    add('cross-tenant', String(answer.status), `another tenant's data in a ${answer.status} answer: ${answer.body.slice(0, 200)}`);
  // A key below the route's role is judged on that route only (another method may be another route, open to it).
  const judged = request.caller.kind !== 'allowed' && (request.caller.kind !== 'below' || request.method === request.routeMethod);
  if (request.needsKey && judged && answer.status < 400) {
    add('auth-bypass', `${request.caller.kind} ${answer.status}`, `a ${request.caller.kind} caller (${request.caller.role ?? 'no role'}) got ${answer.status}`);
  }
  for (const promise of promisesAtTheEdge(request, answer)) add(promise.check, String(answer.status), promise.detail, promise.check !== 'nul-in-url');
  const requestId = answer.headers['x-request-id'];
  // (HEAD answers are the GET's, checked on GET; their empty bodies would only blur the key.)
  if (request.method !== 'HEAD' && typeof requestId !== 'string')
    add('request-id', `missing ${answer.status} ${rawCode}`, 'no x-request-id in the answer', false);
  else if (typeof requestId === 'string' && !/^[A-Za-z0-9._:-]{1,64}$/.test(requestId))
    add('request-id', 'unsafe', `x-request-id answered as ${JSON.stringify(requestId).slice(0, 100)}`, false);
  if (POLLUTION_MARKER in Object.prototype || Object.keys(Object.prototype).length > 0) {
    add('prototype-pollution', Object.keys(Object.prototype).join(','), `Object.prototype gained ${Object.keys(Object.prototype).join(', ')}`);
    for (const key of Object.keys(Object.prototype)) delete (Object.prototype as Record<string, unknown>)[key];
  }
  return { problems, parsed };
}

/** The URL as inject sends it: dot segments resolved the WHATWG way (`/a/%00/..` is sent as `/a/`). */
function sentUrl(url: string): string {
  const parsed = new URL(url, 'http://fuzz');
  return `${parsed.pathname}${parsed.search}`;
}

function echoes(request: FuzzRequest, text: string): boolean {
  const sent = `${safeDecode(request.url)} ${typeof request.payload === 'string' ? request.payload : (request.payload?.toString('utf8') ?? '')}`;
  return sent.includes(text) || sent.includes(JSON.stringify(text).slice(1, -1));
}

function safeDecode(url: string): string {
  try {
    return decodeURIComponent(url);
  } catch {
    return url;
  }
}

function errorCodeOf(parsed: unknown): ErrorCode | undefined {
  const code = (parsed as { error?: { code?: unknown } } | undefined)?.error?.code;
  return typeof code === 'string' && code in ERROR_CODES ? (code as ErrorCode) : undefined;
}

function validErrorBody(parsed: unknown): boolean {
  const error = (parsed as { error?: unknown } | undefined)?.error as Record<string, unknown> | undefined;
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof error.code === 'string' &&
    typeof error.message === 'string' &&
    typeof error.details === 'object' &&
    error.details !== null &&
    !Array.isArray(error.details)
  );
}

/** Webhook receivers the address policy lets through (public addresses); every other one must be refused. */
const PUBLIC_WEBHOOK = /^https?:\/\/(?:8\.8\.8\.8|\[2001:4860:4860::8888\])\//;

/**
 * Promises of issue 9 that a status alone shows: a JSON body nested deeper than 64 levels never
 * gets through, a NUL anywhere in the URL is a 400, and no job is accepted with a webhook the
 * address policy refuses.
 */
function promisesAtTheEdge(request: FuzzRequest, answer: Answer): Array<Omit<Problem, 'signature'>> {
  const out: Array<Omit<Problem, 'signature'>> = [];
  const contentType = request.headers['content-type'] ?? '';
  const text = typeof request.payload === 'string' ? request.payload : undefined;
  // (GET and HEAD bodies are never read, so never parsed: nothing to refuse.)
  const read = request.method !== 'GET' && request.method !== 'HEAD';
  if (answer.status < 300 && read && text !== undefined && /json/i.test(contentType) && jsonTextTooDeep(text)) {
    out.push({ check: 'deep-body-accepted', detail: `a body nested deeper than 64 levels was answered ${answer.status}` });
  }
  if (/%00/i.test(sentUrl(request.url)) && ![400, 414].includes(answer.status)) {
    out.push({ check: 'nul-in-url', detail: `a URL with %00 was answered ${answer.status}, not 400: ${answer.body.slice(0, 200)}` });
  }
  if (answer.status < 300 && text !== undefined && request.route.endsWith('/jobs')) {
    let webhook: unknown;
    try {
      webhook = (JSON.parse(text) as { webhook_url?: unknown } | null)?.webhook_url;
    } catch {
      // Not JSON: nothing to judge.
    }
    if (typeof webhook === 'string' && !PUBLIC_WEBHOOK.test(webhook))
      out.push({ check: 'webhook-policy', detail: `a job was accepted (${answer.status}) with webhook_url ${JSON.stringify(webhook).slice(0, 200)}` });
  }
  return out;
}
