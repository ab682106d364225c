import fc from 'fast-check';
import { ROLES, type Role } from '../../auth/principal.js';
import { POLLUTION_MARKER } from './hostile.js';
import type { RouteAuth } from './route-inventory.js';

/** Who a generated request claims to be, and the Authorization header that says so. */
export interface Caller {
  kind: 'allowed' | 'below' | 'none' | 'junk' | 'wrong-kind';
  /** Set for API keys of the fuzz tenant. */
  role?: Role;
  authorization?: string;
}

/** What the generators need to name callers. */
export interface CallerKeys {
  keys: Record<Role, string>;
  operatorKey: string;
}

/** Authorization values that must never get through: malformed, truncated, padded, other schemes. */
function junkAuthorizations(key: string): string[] {
  return [
    'Bearer',
    'Bearer ',
    'Basic dXNlcjpwYXNz',
    'Bearer gwk_',
    `Bearer gwk_00000000_${'a'.repeat(43)}`,
    `Bearer ${'x'.repeat(10_000)}`,
    `Bearer ${key}x`,
    `Bearer ${key.slice(0, -1)}`,
    key,
    `Bearer ${key}, Bearer ${key}`,
    `Token ${key}`,
    `Bearer ${key.toUpperCase()}`,
    'Bearer %00',
    `Bearer ${key}\u00e9`,
  ];
}

/** Callers for a route: valid ones (a key of its role or above), and the ones it must refuse. */
export function callerArbitraries(auth: RouteAuth, keys: CallerKeys): { valid: fc.Arbitrary<Caller>; hostile: fc.Arbitrary<Caller> } {
  const bearer = (key: string) => `Bearer ${key}`;
  const none = fc.constant<Caller>({ kind: 'none' });
  const junk = (key: string) => fc.constantFrom(...junkAuthorizations(key)).map((a): Caller => ({ kind: 'junk', authorization: a }));
  if (auth.kind === 'public') return { valid: none, hostile: junk(keys.keys.admin) };
  if (auth.kind === 'operator') {
    return {
      valid: fc.constant<Caller>({ kind: 'allowed', authorization: bearer(keys.operatorKey) }),
      hostile: fc.oneof(none, junk(keys.operatorKey), fc.constant<Caller>({ kind: 'wrong-kind', authorization: bearer(keys.keys.admin) })),
    };
  }
  const at = ROLES.indexOf(auth.role);
  const below = ROLES.slice(0, at);
  const refused: Array<fc.Arbitrary<Caller>> = [
    none,
    junk(keys.keys.admin),
    fc.constant<Caller>({ kind: 'wrong-kind', authorization: bearer(keys.operatorKey) }),
  ];
  if (below.length > 0) refused.push(fc.constantFrom(...below).map((role): Caller => ({ kind: 'below', role, authorization: bearer(keys.keys[role]) })));
  return {
    valid: fc.constantFrom(...ROLES.slice(at)).map((role): Caller => ({ kind: 'allowed', role, authorization: bearer(keys.keys[role]) })),
    hostile: fc.oneof(...refused),
  };
}

/** Optional headers: request ids, idempotency keys, accept, encodings, and headers that must not choose a tenant. */
export const extraHeadersArbitrary: fc.Arbitrary<Record<string, string>> = fc
  .record(
    {
      'x-request-id': fc.constantFrom('fz-req-1', 'x'.repeat(65), 'x'.repeat(10_000), 'a b', '\u00e4', '../../x', '<script>', '%00', ''),
      'idempotency-key': fc.constantFrom(
        'fz-idem-1',
        'fz-idem-2',
        '',
        ' ',
        'x'.repeat(255),
        'x'.repeat(256),
        '\u00e4',
        'a\tb',
        '00000000-0000-4000-8000-000000000000',
        '%00',
      ),
      accept: fc.constantFrom('text/event-stream', 'application/xml', '*/*;q=0', 'application/json', ''),
      'content-encoding': fc.constantFrom('gzip', 'br', 'identity', 'deflate, gzip'),
      'x-tenant-id': fc.constantFrom('fz-foreign', 'default'),
      'x-forwarded-for': fc.constantFrom('127.0.0.1', '::1, 10.0.0.1'),
      [`x-${POLLUTION_MARKER}`]: fc.constant('1'),
    },
    { requiredKeys: [] },
  )
  .map((headers) => Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined)) as Record<string, string>);

/** Content types for a JSON body the ways clients get them wrong (or rightly, differently spelt). */
export const contentTypeArbitrary: fc.Arbitrary<string | undefined> = fc.constantFrom<string | undefined>(
  undefined,
  'application/json; charset=utf-8',
  'application/json;charset=UTF-16',
  'application/json; charset=latin1',
  'APPLICATION/JSON',
  'application/json ; charset=utf-8',
  'application/json, text/plain',
  'application/vnd.api+json',
  'application/json-patch+json',
  'text/plain',
  'text/json',
  'application/x-www-form-urlencoded',
  'multipart/form-data',
  'multipart/form-data; boundary=',
  'application/octet-stream',
  '',
  '*/*',
  'application/json; boundary=x; charset=utf-8; charset=ascii',
);

/** Ways to spell the path prefix: the router decodes some of them to the real route. */
export type PathSpelling = 'plain' | 'encoded-v' | 'encoded-v1' | 'double-slash' | 'trailing-slash' | 'upper' | 'dot-segment' | 'encoded-slash';

/** The other spellings (`plain` is the valid one). */
export const pathSpellingArbitrary: fc.Arbitrary<PathSpelling> = fc.constantFrom<PathSpelling>(
  'encoded-v',
  'encoded-v1',
  'double-slash',
  'trailing-slash',
  'upper',
  'dot-segment',
  'encoded-slash',
);

/** The path spelled as chosen (only the leading segment and the end change). */
export function spellPath(path: string, spelling: PathSpelling): string {
  const [, first = '', rest = ''] = /^\/([^/]*)(.*)$/.exec(path) ?? [];
  switch (spelling) {
    case 'plain':
      return path;
    case 'encoded-v':
      return `/%${first.charCodeAt(0).toString(16)}${first.slice(1)}${rest}`;
    case 'encoded-v1':
      return `/${[...first].map((c) => `%${c.charCodeAt(0).toString(16)}`).join('')}${rest}`;
    case 'double-slash':
      return `/${path}`;
    case 'trailing-slash':
      return `${path}/`;
    case 'upper':
      return `/${first.toUpperCase()}${rest}`;
    case 'dot-segment':
      return `/${first}/.${rest}`;
    case 'encoded-slash':
      return `/${first}${rest.replace('/', '%2F')}`;
  }
}

/** Percent-encodes every byte of the UTF-8 form except unreserved characters (never throws, unlike encodeURIComponent on lone surrogates). */
export function encodeSegment(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9_.~-]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
