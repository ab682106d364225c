import fc from 'fast-check';

/**
 * Hostile values and the mutations that plant them into otherwise valid requests. Sizes are
 * bounded so a request costs milliseconds: the long string is 100 kB (a megabyte would spend
 * the time budget on a handful of requests), the deep body 10,000 levels.
 */

/** A property a hostile body tries to plant on Object.prototype; the oracle checks it never lands. */
export const POLLUTION_MARKER = 'fzPolluted';

const LONG = 100_000;

/** Hostile strings: NUL, lone surrogates, control characters, traversal, injection-shaped, long. */
export const hostileString: fc.Arbitrary<string> = fc.constantFrom(
  '',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  'x\ud800y',
  '\ufeff',
  '\u202e\u0041',
  '\r\n\r\nX-Injected: 1',
  '../../../etc/passwd',
  '..\\..\\windows',
  '%00',
  '%2e%2e%2f',
  "' OR 1=1 --",
  '$1; DROP TABLE runs',
  '{{constructor.constructor}}',
  '{{#a}}{{/b}}',
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'x'.repeat(LONG),
  '\u00e9'.repeat(LONG / 2),
  '😀'.repeat(1_000),
  ' ',
  'NaN',
  '-1',
  '1e308',
);

/** Numbers that break naive code: huge, negative, fractional, past 2^53, negative zero. */
export const hostileNumber: fc.Arbitrary<number> = fc.constantFrom(
  1e308,
  -1e308,
  -1,
  0,
  -0,
  0.5,
  2 ** 53,
  2 ** 53 + 2,
  -(2 ** 63),
  2 ** 31,
  2 ** 32,
  1e-320,
  123456789.123456789,
);

/** Any hostile JSON value, wrong types included. */
export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: hostileString },
  { weight: 3, arbitrary: hostileNumber },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, true, false, [], {}, [[[]]], [null], { '': '' }) },
  { weight: 1, arbitrary: fc.constant(nestedValue(65)) },
);

/** How to spoil a valid value; `at` picks the node (index into its nodes, depth first). */
export type Mutation =
  | { kind: 'replace'; at: number; value: unknown }
  | { kind: 'extra-field'; at: number; key: string; value: unknown }
  | { kind: 'drop-field'; at: number }
  | { kind: 'proto-key'; at: number; key: '__proto__' | 'constructor' | 'prototype' }
  | { kind: 'wrap-deep'; at: number; levels: number }
  | { kind: 'empty'; at: number };

export const mutationArbitrary: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('replace' as const), at: fc.nat(64), value: hostileValue }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('extra-field' as const),
      at: fc.nat(64),
      key: fc.oneof(
        fc.string({ maxLength: 8 }),
        hostileString.filter((s) => s.length < 100),
      ),
      value: hostileValue,
    }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('drop-field' as const), at: fc.nat(64) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('proto-key' as const),
      at: fc.nat(64),
      key: fc.constantFrom('__proto__' as const, 'constructor' as const, 'prototype' as const),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('wrap-deep' as const), at: fc.nat(64), levels: fc.constantFrom(63, 64, 65, 200) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('empty' as const), at: fc.nat(64) }) },
);

/** A copy of `value` with the mutation applied (the original is never changed: arbitraries share values). */
export function mutate(value: unknown, mutation: Mutation): unknown {
  const copy = structuredClone(value);
  const nodes = containers(copy);
  const target = nodes[mutation.at % Math.max(1, nodes.length)];
  if (target === undefined) return mutation.kind === 'replace' ? mutation.value : copy;
  const { parent, key } = target;
  const set = (v: unknown) => {
    if (parent === undefined) return v;
    (parent as Record<string, unknown>)[key] = v;
    return copy;
  };
  const node = parent === undefined ? copy : (parent as Record<string, unknown>)[key];
  switch (mutation.kind) {
    case 'replace':
      return set(mutation.value);
    case 'wrap-deep':
      return set(wrap(node, mutation.levels));
    case 'empty':
      return set(Array.isArray(node) ? [] : typeof node === 'string' ? '' : {});
    case 'drop-field': {
      if (isPlainObject(node)) {
        const keys = Object.keys(node);
        if (keys.length > 0) delete node[keys[mutation.at % keys.length]];
      }
      return copy;
    }
    case 'extra-field':
      if (isPlainObject(node)) defineOwn(node, mutation.key, mutation.value);
      return isPlainObject(node) ? copy : set({ [mutation.key]: mutation.value });
    case 'proto-key': {
      const planted = mutation.key === 'constructor' ? { prototype: { [POLLUTION_MARKER]: 1 } } : { [POLLUTION_MARKER]: 1 };
      if (isPlainObject(node)) defineOwn(node, mutation.key, planted);
      return copy;
    }
  }
}

/** An own, enumerable data property even for `__proto__`, so JSON.stringify writes the key. */
function defineOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every node, each with where it hangs (the root has no parent). */
function containers(root: unknown): Array<{ parent: unknown; key: string }> {
  const out: Array<{ parent: unknown; key: string }> = [{ parent: undefined, key: '' }];
  const walk = (node: unknown, depth: number) => {
    if (depth > 8 || node === null || typeof node !== 'object') return;
    for (const key of Object.keys(node)) {
      out.push({ parent: node, key });
      walk((node as Record<string, unknown>)[key], depth + 1);
    }
  };
  walk(root, 0);
  return out;
}

function wrap(value: unknown, levels: number): unknown {
  let out = value;
  for (let i = 0; i < levels; i++) out = i % 2 === 0 ? [out] : { d: out };
  return out;
}

/** `levels` nested arrays around a string, as a value. */
export function nestedValue(levels: number): unknown {
  let out: unknown = 'bottom';
  for (let i = 0; i < levels; i++) out = [out];
  return out;
}

/** Body texts no value can stand for: malformed, deep, duplicate or prototype keys, non-finite numbers. */
export const hostileJsonText: fc.Arbitrary<string> = fc.constantFrom(
  '',
  ' ',
  '{',
  '{"a":',
  'null',
  'true',
  '"string"',
  '[]',
  '0',
  '1e309',
  '-1e309',
  '{"a":1,"a":2}',
  `{"__proto__":{"${POLLUTION_MARKER}":1}}`,
  `{"constructor":{"prototype":{"${POLLUTION_MARKER}":1}}}`,
  '\ufeff{}',
  '{"a":"\\ud800"}',
  '{"a":"\\u0000"}',
  '{"a":NaN}',
  '{"a":Infinity}',
  "{'a':1}",
  '{"a":1}garbage',
  '[1,]',
  `${'['.repeat(65)}${']'.repeat(65)}`,
  `${'['.repeat(10_000)}${']'.repeat(10_000)}`,
  `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`,
  `${']'.repeat(100)}${'['.repeat(100)}`,
  `"${'\\\\'.repeat(1_000)}"`,
);

/** Raw bytes that are not UTF-8 (a lone surrogate encoded, an overlong slash, a stray continuation byte). */
export const invalidUtf8: fc.Arbitrary<Buffer> = fc.constantFrom(
  Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]),
  Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xc0, 0xaf, 0x22, 0x7d]),
  Buffer.from([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0x80, 0x22, 0x7d]),
  Buffer.from([0xff, 0xfe, 0x7b, 0x00, 0x7d, 0x00]),
);

/** Path segments as they go on the wire (already percent-encoded, or deliberately not). */
export const hostileSegment: fc.Arbitrary<string> = fc.constantFrom(
  '%00',
  'a%00b',
  '%2F',
  'a%2Fb',
  '%2e%2e',
  '..',
  '.',
  '%2e%2e%2f%2e%2e%2fkeys',
  '%ED%A0%80',
  '%C0%AF',
  '%761',
  '%25',
  '%252F',
  '%2500',
  '%',
  '%zz',
  '%E2%80%AE',
  'x'.repeat(101),
  'x'.repeat(5_000),
  '__proto__',
  'constructor',
  'A',
  '-',
  '%20',
  '+',
  ';x=1',
  'a?b',
  'run_%00',
);

/** Query strings (without `?`) that no schema expects. */
export const hostileQuery: fc.Arbitrary<string> = fc.constantFrom(
  'limit=1&limit=2',
  'limit=-1',
  'limit=0',
  'limit=1e308',
  'limit=0.5',
  'limit=9007199254740993',
  'limit=%00',
  'limit=',
  'limit',
  'before=%00',
  'before=a%00b',
  'after=%00',
  'after=x&after=y',
  '__proto__=1',
  `__proto__[${POLLUTION_MARKER}]=1`,
  'constructor[prototype][x]=1',
  'a[b][c]=1',
  'status=ok&status=error',
  'status=%ED%A0%80',
  'group_by=__proto__',
  'from=2025-02-30&to=2025-01-01',
  'from=99999-01-01',
  'from=-000001-01-01T00:00:00Z',
  'to=2025-01-01T00:00:00%2B99:99',
  'task=%2e%2e',
  `x=${'y'.repeat(10_000)}`,
  '%',
  '&&&',
  '=',
  'kind=%FF',
);
