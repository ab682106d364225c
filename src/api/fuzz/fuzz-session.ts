import fc from 'fast-check';
import type { FuzzTarget } from './fuzz-target.js';
import { checkAnswer, runIdsOf, type Answer, type Problem } from './oracle.js';
import { requestArbitrary, type FuzzRequest } from './request-arbitrary.js';

/**
 * The fuzz loop: fast-check generates requests from the routes' schemas, each is sent with
 * `server.inject`, and the oracle judges the answer, the run it names and the server's log.
 * A property run fails only on a problem not seen before, so fast-check shrinks it to a small
 * request; then the loop records the finding and goes on with the next seed, so one run
 * collects every distinct problem instead of stopping at the first. Seeded and counted in
 * requests (not time) so the same seed sends the same requests.
 */

/** One distinct problem, with the smallest request fast-check found for it. */
export interface Finding extends Problem {
  request: { method: string; url: string; headers: Record<string, string>; body?: string };
  answer: { status: number; body: string };
  /** Times it was seen (the shrinking replays included). */
  seen: number;
  /** Requests sent before it was first seen. */
  firstAt: number;
  minimised: boolean;
}

export interface FuzzOptions {
  seed: number;
  /** Property runs (generated requests) in all. */
  runs: number;
  /** Stop starting new runs after this time (ms since epoch); the long run sets it. */
  deadline?: number;
  /** Requests one shrink may send; past it the finding keeps the smallest request so far. */
  shrinkBudget?: number;
  /** Longest one request may take before it is a finding of its own. */
  requestTimeoutMs?: number;
  /** Property runs per fast-check call when a deadline is set. */
  chunk?: number;
  onFinding?(finding: Finding): void;
}

export interface FuzzReport {
  seed: number;
  /** Generated requests sent (shrinking included). */
  requests: number;
  /** Follow-up reads of recorded runs. */
  runChecks: number;
  findings: Finding[];
  elapsedMs: number;
  /** Requests per route id, to show every route was reached. */
  perRoute: Record<string, number>;
  /** Answers per status, and per route and status (how deep the requests got). */
  statuses: Record<string, number>;
  routeStatuses: Record<string, Record<string, number>>;
  /** The first answer per route and status, for reading what the generators reach. */
  samples: Record<string, string>;
}

export async function runFuzz(target: FuzzTarget, options: FuzzOptions): Promise<FuzzReport> {
  const started = Date.now();
  const arbitrary = requestArbitrary(target.routes, { fixtures: target.fixtures, keys: target.keys, operatorKey: target.operatorKey });
  const findings = new Map<string, Finding>();
  const report: FuzzReport = {
    seed: options.seed,
    requests: 0,
    runChecks: 0,
    findings: [],
    elapsedMs: 0,
    perRoute: {},
    statuses: {},
    routeStatuses: {},
    samples: {},
  };
  const shrinkBudget = options.shrinkBudget ?? 150;
  const state = { shrinking: undefined as string | undefined, shrinkSpent: 0 };

  const property = fc.asyncProperty(arbitrary, async (request) => {
    if (state.shrinking !== undefined && state.shrinkSpent++ >= shrinkBudget) return true;
    if (options.deadline !== undefined && Date.now() >= options.deadline) return true;
    const { problems, answer } = await probe(target, request, options.requestTimeoutMs ?? 10_000, report);
    if (state.shrinking !== undefined) {
      const again = problems.find((p) => p.signature === state.shrinking);
      if (!again) return true;
      const finding = findings.get(again.signature)!;
      finding.seen++;
      // fast-check only offers smaller candidates while shrinking: the latest failure is the smallest.
      Object.assign(finding, { request: describeRequest(request), answer: describeAnswer(answer), detail: again.detail, minimised: true });
      return false;
    }
    let fresh: string | undefined;
    for (const problem of problems) {
      const known = findings.get(problem.signature);
      if (known) {
        known.seen++;
        continue;
      }
      const finding: Finding = {
        ...problem,
        request: describeRequest(request),
        answer: describeAnswer(answer),
        seen: 1,
        firstAt: report.requests,
        minimised: false,
      };
      findings.set(problem.signature, finding);
      // A hang is recorded as it came: shrinking it would wait out the timeout at every step.
      if (fresh === undefined && problem.check !== 'no-answer') fresh = problem.signature;
      else options.onFinding?.(finding);
    }
    if (fresh === undefined) return true;
    state.shrinking = fresh;
    state.shrinkSpent = 0;
    return false;
  });

  let seed = options.seed;
  let remaining = options.runs;
  while (remaining > 0 && (options.deadline === undefined || Date.now() < options.deadline)) {
    const numRuns = options.deadline === undefined ? remaining : Math.min(remaining, options.chunk ?? 200);
    state.shrinking = undefined;
    const result = await fc.check(property, { seed, numRuns, endOnFailure: false });
    remaining -= result.failed ? result.numRuns : numRuns;
    if (result.failed && state.shrinking) options.onFinding?.(findings.get(state.shrinking)!);
    // The next stretch gets a seed of its own, derived from this one: the same start, the same walk.
    seed = (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ (report.requests + 1)) | 0;
  }
  report.findings = [...findings.values()];
  report.elapsedMs = Date.now() - started;
  return report;
}

/** Sends one request and judges everything it left behind. */
async function probe(target: FuzzTarget, request: FuzzRequest, timeoutMs: number, report: FuzzReport): Promise<{ problems: Problem[]; answer: Answer }> {
  report.requests++;
  report.perRoute[request.route] = (report.perRoute[request.route] ?? 0) + 1;
  const problems: Problem[] = [];
  const add = (check: string, key: string, detail: string) => problems.push({ check, signature: `${check} | ${request.route} | ${key}`, detail });
  const answer = await send(target, request, timeoutMs);
  if ('unsendable' in answer) return { problems, answer: { status: 0, headers: {}, body: answer.unsendable } };
  if ('failed' in answer) {
    add(answer.failed, answer.failed, answer.detail);
    return { problems, answer: { status: 0, headers: {}, body: answer.detail } };
  }
  report.statuses[answer.status] = (report.statuses[answer.status] ?? 0) + 1;
  const perStatus = (report.routeStatuses[request.route] ??= {});
  perStatus[answer.status] = (perStatus[answer.status] ?? 0) + 1;
  report.samples[`${request.route} ${answer.status}`] ??=
    `${request.method} ${excerpt(request.url)} ${excerpt(typeof request.payload === 'string' ? request.payload : '')} → ${excerpt(answer.body)}`;
  const { problems: found, parsed } = checkAnswer(request, answer, target.secrets);
  problems.push(...found);
  const runIds = runIdsOf(answer, parsed);
  if (runIds.length > 0) {
    await target.app.runBatcher.flush();
    for (const id of runIds) {
      report.runChecks++;
      const run = await target.server.inject({
        method: 'GET',
        url: `/v1/runs/${encodeURIComponent(id)}`,
        headers: { authorization: `Bearer ${target.keys.viewer}` },
      });
      if (run.statusCode !== 200)
        add(
          'run-not-recorded',
          String(answer.status),
          `answer ${answer.status} names run ${id}; GET /v1/runs/${id} answered ${run.statusCode}: ${run.body.slice(0, 200)}`,
        );
    }
  }
  for (const line of target.drainErrorLogs()) {
    add(
      'error-log',
      `${line.source} ${line.msg}`,
      `${line.source} logged "${line.msg}"${line.err ? `: ${line.err}` : ''}${line.reqId ? ` (request ${line.reqId})` : ''}`,
    );
  }
  return { problems, answer };
}

type Sent = Answer | { unsendable: string } | { failed: string; detail: string };

async function send(target: FuzzTarget, request: FuzzRequest, timeoutMs: number): Promise<Sent> {
  const abort = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  try {
    const response = await Promise.race([
      target.server.inject({ method: request.method as 'GET', url: request.url, headers: request.headers, payload: request.payload, signal: abort.signal }),
      timeout,
    ]);
    if (response === 'timeout') {
      abort.abort();
      return { failed: 'no-answer', detail: `no answer within ${timeoutMs} ms` };
    }
    return { status: response.statusCode, headers: response.headers, body: response.body };
  } catch (error) {
    const err = error as NodeJS.ErrnoException;
    // Node refuses to put some header values on the wire at all: no server would ever see them.
    if (err.code === 'ERR_INVALID_CHAR' || err.code === 'ERR_INVALID_HTTP_TOKEN' || err.code === 'ERR_HTTP_INVALID_HEADER_VALUE')
      return { unsendable: err.message };
    return { failed: 'inject-error', detail: `${err.name}: ${err.message}` };
  } finally {
    clearTimeout(timer);
  }
}

const EXCERPT = 400;
/** Bodies are shown longer: a shrunk task definition is ~650 characters and its one bad field may be at the end. */
const BODY_EXCERPT = 2_000;

function describeRequest(request: FuzzRequest): Finding['request'] {
  const headers = Object.fromEntries(
    Object.entries(request.headers).map(([k, v]) => [k, excerpt(k === 'authorization' ? v.replace(/gw[ko]_\S+/g, (key) => `${key.slice(0, 8)}…`) : v)]),
  );
  const body =
    request.payload === undefined
      ? undefined
      : excerpt(
          typeof request.payload === 'string' ? request.payload : `<${request.payload.length} bytes> ${request.payload.toString('latin1')}`,
          BODY_EXCERPT,
        );
  return { method: request.method, url: excerpt(request.url), headers, body };
}

function describeAnswer(answer: Answer): Finding['answer'] {
  return { status: answer.status, body: excerpt(answer.body) };
}

/** Long hostile values shown as their start and length, so a report stays readable. */
function excerpt(text: string, limit = EXCERPT): string {
  return text.length <= limit ? text : `${text.slice(0, limit)}… (${text.length} chars)`;
}
