import fc from 'fast-check';
import { triageDefinition } from '../../tasks/test-fixtures.js';
import type { Fixtures } from './fuzz-target.js';
import { hostileJsonText, hostileValue, invalidUtf8, mutate, mutationArbitrary } from './hostile.js';
import { multipartArbitrary, validMultipartArbitrary } from './multipart-body.js';
import type { FuzzRoute, JsonSchema } from './route-inventory.js';
import { schemaArbitrary } from './schema-arbitrary.js';

/**
 * Request bodies per route: valid ones from the route's schema (with hints that name real
 * things, so they reach the handler's work), and hostile ones: those values mutated, malformed
 * or deep JSON text, bytes that are not UTF-8, and for uploads broken multipart forms.
 */

/** A body as it goes on the wire. */
export type Body =
  | { kind: 'none' }
  | { kind: 'json'; value: unknown }
  | { kind: 'text'; text: string }
  | { kind: 'bytes'; bytes: Buffer }
  | { kind: 'multipart'; contentType: string; payload: Buffer };

/** Names that a lookup in a plain object finds on its prototype (`routes['constructor']` is a function). */
const PROTOTYPE_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty'];

/** A hint that drops the property: optional fields that mostly miss (a random version is a 404). */
const OMIT = Symbol('omit');

/** Property-specific values that make schema-valid bodies reach deeper (real names, policy-relevant URLs). */
function hints(route: FuzzRoute, fixtures: Fixtures): Record<string, fc.Arbitrary<unknown>> {
  const mostlyOmitted = (arbitrary: fc.Arbitrary<unknown>) => fc.oneof({ weight: 3, arbitrary: fc.constant(OMIT) }, { weight: 1, arbitrary });
  const out: Record<string, fc.Arbitrary<unknown>> = {
    webhook_url: mostlyOmitted(
      fc.constantFrom(
        'http://127.0.0.1:9/hook',
        'http://localhost/',
        'http://[::1]/',
        'http://169.254.169.254/latest/meta-data',
        'http://10.0.0.1/',
        'http://0x7f000001/',
        'http://2130706433/',
        'http://[::ffff:127.0.0.1]/',
        'https://hook.invalid/x',
        'http://user:pw@hook.invalid/',
        'ftp://hook.invalid/',
        'javascript:alert(1)',
        'http://hook.invalid:99999/',
        '',
        'http://8.8.8.8/hook',
        'https://[2001:4860:4860::8888]/hook',
      ),
    ),
    model: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...fixtures.models) },
      { weight: 1, arbitrary: fc.constantFrom('nope', 'foreign-task', ...PROTOTYPE_NAMES) },
    ),
    embedder: mostlyOmitted(fc.constantFrom('builtin', 'healthy-model', 'nope', ...PROTOTYPE_NAMES)),
    collection: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(...fixtures.collections) },
      { weight: 1, arbitrary: fc.constantFrom(...fixtures.foreign.collections, 'scratch') },
    ),
    role: fc.constantFrom('viewer', 'runner', 'developer', 'admin'),
    version: mostlyOmitted(fc.constantFrom(...fixtures.versions)),
    expires_at: mostlyOmitted(fc.constantFrom('2099-01-01T00:00:00Z', '2000-01-01T00:00:00Z')),
  };
  if (/\/v1\/tasks\/\{name\}\/(run|jobs)$/.test(route.path)) out.input = schemaArbitrary(triageDefinition().input_schema as JsonSchema);
  if (route.path === '/operator/tenants')
    out.id = fc.oneof(
      { weight: 3, arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/) },
      { weight: 1, arbitrary: fc.constantFrom(...fixtures.scratchTenants) },
    );
  if (route.path === '/v1/embeddings')
    out.input = fc.oneof(fc.string({ maxLength: 40 }), fc.array(fc.string({ maxLength: 40 }), { minLength: 1, maxLength: 3 }));
  if (route.path === '/v1/embeddings' || route.path === '/v1/chat/completions') out.dimensions = mostlyOmitted(fc.integer({ min: 1, max: 64 }));
  return out;
}

/** Valid and hostile bodies for a route (`none` where it takes none; hostile ones are sent anyway). */
export function bodyArbitraries(route: FuzzRoute, fixtures: Fixtures): { valid: fc.Arbitrary<Body>; hostile: fc.Arbitrary<Body> } {
  const json = (value: unknown): Body => ({ kind: 'json', value });
  const raw: Array<fc.Arbitrary<Body>> = [
    hostileJsonText.map((text): Body => ({ kind: 'text', text })),
    hostileValue.map(json),
    invalidUtf8.map((bytes): Body => ({ kind: 'bytes', bytes })),
  ];
  const pushesTasks = route.method === 'POST' && route.path === '/v1/tasks';
  if (!route.body && !pushesTasks) return { valid: fc.constant<Body>({ kind: 'none' }), hostile: fc.oneof(...raw, schemaArbitrary({}).map(json)) };
  const valid = pushesTasks ? taskDefinitionArbitrary() : withHints(route.body!, hints(route, fixtures));
  const spoiled = fc.tuple(valid, fc.array(mutationArbitrary, { minLength: 1, maxLength: 2 })).map(([value, mutations]) => mutations.reduce(mutate, value));
  const hostile: Array<fc.WeightedArbitrary<Body>> = [{ weight: 6, arbitrary: spoiled.map(json) }, ...raw.map((arbitrary) => ({ weight: 1, arbitrary }))];
  if (route.multipart) hostile.push({ weight: 4, arbitrary: multipartArbitrary.map((m): Body => ({ kind: 'multipart', ...m })) });
  const validBody: fc.Arbitrary<Body> = route.multipart
    ? fc.oneof(
        valid.map(json),
        validMultipartArbitrary.map((m): Body => ({ kind: 'multipart', ...m })),
      )
    : valid.map(json);
  return { valid: validBody, hostile: fc.oneof(...hostile) };
}

/** The schema's values with hinted properties replaced half of the time by a hint. */
function withHints(schema: JsonSchema, hinted: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<unknown> {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const keys = Object.keys(properties).filter((k) => k in hinted);
  if (keys.length === 0) return schemaArbitrary(schema);
  const overrides = fc.record(Object.fromEntries(keys.map((k) => [k, fc.option(hinted[k], { nil: undefined, freq: 5 })])), { requiredKeys: keys });
  return fc.tuple(schemaArbitrary(schema), overrides).map(([value, over]) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return value;
    const out = { ...(value as Record<string, unknown>) };
    for (const [k, v] of Object.entries(over)) {
      if (v === OMIT) delete out[k];
      else if (v !== undefined) out[k] = v;
    }
    return out;
  });
}

/** Task definitions that push: the fixture with a generated name, route and prompt (some templates Mustache refuses). */
function taskDefinitionArbitrary(): fc.Arbitrary<unknown> {
  return fc
    .record({
      name: fc.stringMatching(/^[a-z0-9][a-z0-9-]{0,20}$/),
      route: fc.oneof({ weight: 5, arbitrary: fc.constantFrom('default', 'flaky') }, { weight: 1, arbitrary: fc.constantFrom('nope', '', ...PROTOTYPE_NAMES) }),
      user: fc.oneof(
        { weight: 5, arbitrary: fc.constantFrom('{{subject}}', '{{#tags}}{{label}}{{/tags}}', '{{{body}}}', '{{=<% %>=}}<% subject %>') },
        { weight: 1, arbitrary: fc.constantFrom('{{#a}}{{/b}}', '{{> partial}}', '{{nope}}', '', '{{#subject}}'.repeat(200)) },
      ),
    })
    .map(({ name, route, user }) => ({ ...triageDefinition({ name, route }), prompt: { system: 'You triage.', user } }));
}
