import fc from 'fast-check';
import { bodyArbitraries, type Body } from './body-arbitrary.js';
import type { Fixtures } from './fuzz-target.js';
import { hostileQuery, hostileSegment, hostileString } from './hostile.js';
import {
  callerArbitraries,
  contentTypeArbitrary,
  encodeSegment,
  extraHeadersArbitrary,
  pathSpellingArbitrary,
  spellPath,
  type Caller,
  type CallerKeys,
  type PathSpelling,
} from './request-parts.js';
import type { FuzzRoute, RouteParam } from './route-inventory.js';
import { schemaArbitrary } from './schema-arbitrary.js';

/** One generated HTTP request, ready for `server.inject`. */
export interface FuzzRequest {
  /** `METHOD /path/{template}` of the route it was generated for. */
  route: string;
  /** The route's own method; `method` differs when the method was the part spoiled. */
  routeMethod: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  payload?: string | Buffer;
  caller: Caller;
  /** The request names the faulty model server, so a typed 502/503/504 is a fair answer. */
  upstreamFaults: boolean;
  /** The path needs a key (an API key under /v1, the operator key under /operator). */
  needsKey: boolean;
}

/** What the request generators are built from. */
export interface RequestContext extends CallerKeys {
  fixtures: Fixtures;
}

/** Requests for every route (equal weight) plus a few for paths no route serves. */
export function requestArbitrary(routes: FuzzRoute[], context: RequestContext): fc.Arbitrary<FuzzRequest> {
  return fc.oneof(...routes.map((route) => routeRequestArbitrary(route, context)), unroutedArbitrary(context));
}

/** A request's parts; each has a valid and a hostile arbitrary. */
interface Parts {
  params: string[];
  query: string;
  body: Body;
  contentType: string | undefined;
  headers: Record<string, string>;
  caller: Caller;
  spelling: PathSpelling;
  method: string;
}

type PartArbitraries = { [K in keyof Parts]: { valid: fc.Arbitrary<Parts[K]>; hostile?: fc.Arbitrary<Parts[K]> } };

/**
 * Most requests spoil one part and keep the others valid, so they get past the checks in front
 * of the one under attack (a hostile body behind a bad key only ever tests the key), and a
 * finding names its cause; a quarter are valid throughout and some spoil everything at once.
 */
function routeRequestArbitrary(route: FuzzRoute, context: RequestContext): fc.Arbitrary<FuzzRequest> {
  const id = `${route.method} ${route.path}`;
  const parts = partArbitraries(route, context);
  const pick = (focus: Array<keyof Parts> | 'all') =>
    fc.record(
      Object.fromEntries(
        (Object.keys(parts) as Array<keyof Parts>).map((name) => {
          const { valid, hostile } = parts[name];
          if (!hostile || (focus !== 'all' && !focus.includes(name))) return [name, valid];
          return [name, focus === 'all' ? fc.oneof(valid, hostile) : hostile];
        }),
      ) as { [K in keyof Parts]: fc.Arbitrary<Parts[K]> },
    );
  const variants: Array<fc.WeightedArbitrary<Parts>> = [{ weight: 6, arbitrary: pick([]) }];
  const focused: Array<[keyof Parts, number]> = [
    ['body', 6],
    ['params', 3],
    ['query', 1],
    ['contentType', 1],
    ['headers', 1],
    ['caller', 3],
    ['spelling', 1],
    ['method', 1],
  ];
  for (const [name, weight] of focused) if (parts[name].hostile) variants.push({ weight, arbitrary: pick([name]) });
  variants.push({ weight: 2, arbitrary: pick('all') });
  return fc.oneof(...variants).map(({ params, query, body, contentType, headers, caller, spelling, method }) => {
    let i = 0;
    const path = route.path.replace(/\{[^}]+\}/g, () => params[i++] ?? '');
    const url = `${spellPath(path, spelling)}${query ? `?${query}` : ''}`;
    return assemble({
      route: id,
      routeMethod: route.method,
      method,
      url,
      body,
      contentType,
      headers,
      caller,
      needsKey: route.auth.kind !== 'public' && needsKey(url),
    });
  });
}

function partArbitraries(route: FuzzRoute, context: RequestContext): PartArbitraries {
  const pathParams = route.params.filter((p) => p.in === 'path');
  const callers = callerArbitraries(route.auth, context);
  const hasBody = route.body !== undefined || (route.method === 'POST' && route.path === '/v1/tasks');
  const prefixed = route.path.startsWith('/v1/') || route.path.startsWith('/operator/');
  return {
    params: {
      valid: fc.tuple(...pathParams.map((p) => paramArbitrary(route, p, context.fixtures, 'valid'))),
      hostile: pathParams.length === 0 ? undefined : fc.tuple(...pathParams.map((p) => paramArbitrary(route, p, context.fixtures, 'any'))),
    },
    query: queryArbitraries(route, context.fixtures),
    body: bodyArbitraries(route, context.fixtures),
    contentType: { valid: fc.constant('application/json'), hostile: hasBody ? contentTypeArbitrary : undefined },
    headers: { valid: fc.constant({}), hostile: extraHeadersArbitrary },
    caller: callers,
    spelling: { valid: fc.constant<PathSpelling>('plain'), hostile: prefixed ? pathSpellingArbitrary : undefined },
    method: { valid: fc.constant(route.method), hostile: fc.constantFrom('PUT', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', route.method === 'GET' ? 'POST' : 'GET') },
  };
}

function assemble(parts: {
  route: string;
  routeMethod?: string;
  method: string;
  url: string;
  body: Body;
  contentType: string | undefined;
  headers: Record<string, string>;
  caller: Caller;
  needsKey: boolean;
}): FuzzRequest {
  const headers: Record<string, string> = { ...parts.headers };
  if (parts.caller.authorization !== undefined) headers.authorization = parts.caller.authorization;
  let payload: string | Buffer | undefined;
  const body = parts.body;
  if (body.kind === 'multipart') {
    headers['content-type'] = body.contentType;
    payload = body.payload;
  } else if (body.kind !== 'none') {
    payload = body.kind === 'json' ? (JSON.stringify(body.value) ?? 'null') : body.kind === 'text' ? body.text : body.bytes;
    if (parts.contentType !== undefined) headers['content-type'] = parts.contentType;
  }
  const text = `${parts.url} ${typeof payload === 'string' ? payload : ''}`;
  // Tasks the fuzzer pushed itself may run on the faulty route too; only the fixture `triage` is known healthy.
  const pushedTask = /\/tasks\/[^/]+\/run/.test(parts.url) && !parts.url.includes('/tasks/triage/');
  return {
    route: parts.route,
    routeMethod: parts.routeMethod ?? parts.method,
    method: parts.method,
    url: parts.url,
    headers,
    payload,
    caller: parts.caller,
    upstreamFaults: /flaky/.test(text) || pushedTask,
    needsKey: parts.needsKey,
  };
}

/** Path values: real ids of the fuzz tenant ('valid'), or those mixed with foreign ids, schema-valid strangers and hostile segments. */
function paramArbitrary(route: FuzzRoute, param: RouteParam, fixtures: Fixtures, mode: 'valid' | 'any'): fc.Arbitrary<string> {
  const { own, foreign } = pools(route, param.name, fixtures);
  const stranger = (schemaArbitrary(param.schema) as fc.Arbitrary<unknown>).map((v) => encodeSegment(String(v)));
  const real = own.length > 0 ? fc.constantFrom(...own).map(encodeSegment) : stranger;
  if (mode === 'valid') return real;
  const options: Array<fc.WeightedArbitrary<string>> = [
    { weight: 2, arbitrary: real },
    { weight: 2, arbitrary: stranger },
    { weight: 3, arbitrary: hostileSegment },
    { weight: 1, arbitrary: hostileString.filter((v) => v.length < 1_000).map(encodeSegment) },
  ];
  if (foreign.length > 0) options.push({ weight: 2, arbitrary: fc.constantFrom(...foreign).map(encodeSegment) });
  return fc.oneof(...options);
}

/** Which real ids a path parameter takes: destructive routes only get scratch resources. */
function pools(route: FuzzRoute, name: string, f: Fixtures): { own: string[]; foreign: string[] } {
  const path = route.path;
  const destructive = route.method === 'DELETE';
  if (path.startsWith('/operator/')) {
    if (name === 'id') return { own: f.scratchTenants, foreign: [] };
    if (name === 'keyId') return { own: f.scratchTenantKeys, foreign: f.foreign.keys };
    return { own: [], foreign: [] };
  }
  if (name === 'name') return { own: f.tasks, foreign: f.foreign.tasks };
  if (name === 'collection') {
    if (destructive) return { own: f.scratchCollections, foreign: f.foreign.collections };
    // Ingestion only into scratch-2 (never deleted), so the collection the searches read stays small.
    if (route.method === 'POST' && /documents|jobs/.test(path)) return { own: ['scratch-2'], foreign: f.foreign.collections };
    return { own: [...f.collections, 'scratch'], foreign: f.foreign.collections };
  }
  const parent = path.split('/').at(-2);
  const byParent: Record<string, () => { own: string[]; foreign: string[] }> = {
    runs: () => ({ own: f.runs, foreign: f.foreign.runs }),
    documents: () => ({ own: destructive ? f.scratchDocuments : [...f.documents, ...f.scratchDocuments], foreign: f.foreign.documents }),
    keys: () => ({ own: f.scratchKeys, foreign: f.foreign.keys }),
    jobs: () => ({ own: f.jobs, foreign: f.foreign.jobs }),
    models: () => ({ own: f.models, foreign: [] }),
  };
  // A queued job's event stream waits for the job to finish; only finished jobs are followed.
  if (path.endsWith('/events')) return { own: f.finishedJobs, foreign: f.foreign.jobs };
  return byParent[parent ?? '']?.() ?? { own: [], foreign: [] };
}

/** Query values that find something: real cursors, task names, dates. */
function queryHints(fixtures: Fixtures): Record<string, fc.Arbitrary<unknown>> {
  const date = fc.constantFrom('2025-01-01', '2025-01-31T00:00:00Z', new Date().toISOString().slice(0, 10), '2030-12-31T23:59:59+02:00');
  return {
    from: date,
    to: date,
    task: fc.constantFrom(...fixtures.tasks),
    before: fc.constantFrom(...fixtures.runs, ...fixtures.jobs),
    after: fc.constantFrom(...fixtures.documents, ...fixtures.scratchDocuments),
  };
}

function queryArbitraries(route: FuzzRoute, fixtures: Fixtures): { valid: fc.Arbitrary<string>; hostile: fc.Arbitrary<string> } {
  const query = route.params.filter((p) => p.in === 'query');
  if (query.length === 0) return { valid: fc.constant(''), hostile: hostileQuery };
  const hinted = queryHints(fixtures);
  const valid = fc
    .record(
      Object.fromEntries(
        query.map((p) => [
          p.name,
          p.name in hinted
            ? fc.oneof({ weight: 3, arbitrary: hinted[p.name] }, { weight: 1, arbitrary: schemaArbitrary(p.schema) })
            : schemaArbitrary(p.schema),
        ]),
      ),
      { requiredKeys: [] },
    )
    .map((values) =>
      Object.entries(values)
        .map(([k, v]) => `${k}=${encodeSegment(String(v))}`)
        .join('&'),
    );
  const hostileParam = fc
    .tuple(fc.constantFrom(...query.map((p) => p.name)), fc.oneof(hostileString.filter((v) => v.length < 20_000).map(encodeSegment), hostileSegment))
    .map(([k, v]) => `${k}=${v}`);
  return { valid, hostile: fc.oneof(hostileQuery, hostileParam, hostileParam) };
}

/** Paths that no route serves, under /v1, /operator and elsewhere. */
function unroutedArbitrary(context: RequestContext): fc.Arbitrary<FuzzRequest> {
  const path = fc.oneof(
    fc.constantFrom(
      '/v1',
      '/v1/',
      '/v1/nope',
      '/v1/tasks/triage/nope',
      '/%76%31/keys',
      '/v1/%2e%2e/healthz',
      '/operator',
      '/operator/nope',
      '/v2/tasks',
      '/',
      '/%',
      '/..%2f..%2fetc',
      '/docs/json',
      '/openapi.json',
    ),
    hostileSegment.map((s) => `/v1/${s}`),
  );
  return fc
    .record({
      path,
      caller: fc.oneof(...Object.values(callerArbitraries({ kind: 'key', role: 'viewer' }, context))),
      method: fc.constantFrom('GET', 'POST', 'DELETE', 'PUT'),
    })
    .map(({ path: url, caller, method }) =>
      assemble({
        route: 'unrouted',
        method,
        url,
        body: method === 'POST' || method === 'PUT' ? { kind: 'json', value: {} } : { kind: 'none' },
        contentType: 'application/json',
        headers: {},
        caller,
        needsKey: needsKey(url),
      }),
    );
}

/**
 * Whether the path, as it reaches the router, is under /v1 or /operator. inject resolves dot
 * segments the way WHATWG URLs do (`/v1/%2e%2e/healthz` is sent as `/healthz`), so the path is
 * normalised first, then decoded the way the router decodes it.
 */
function needsKey(url: string): boolean {
  let path = new URL(url.split('?')[0], 'http://fuzz').pathname;
  try {
    path = decodeURIComponent(path);
  } catch {
    // Malformed escapes: the router refuses those itself.
  }
  return /^\/(v1|operator)(\/|$)/.test(path);
}
