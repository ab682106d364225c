import fc from 'fast-check';
import { resolveSchema } from '../../testing/json-schema-instance.js';
import type { JsonSchema } from './route-inventory.js';

/**
 * fast-check arbitraries for values a JSON Schema accepts (as the OpenAPI document states them:
 * zod's output, draft 2020-12). "Valid-ish": the common keywords are honoured, so most values
 * pass validation and reach the handler; the hostile mutations come on top (hostile.ts).
 * Sizes are kept small (a request must cost milliseconds) and nesting is bounded.
 */

const MAX_DEPTH = 5;
/** Longest generated string when the schema allows more; long strings are a hostile value of their own. */
const SHORT = 24;

type Schema = Record<string, unknown>;

/** An arbitrary of values valid for `schema` (best effort: `not`, `if/then/else` are ignored). */
export function schemaArbitrary(schema: JsonSchema, root: JsonSchema = schema, depth = 0): fc.Arbitrary<unknown> {
  const resolved = resolveSchema(schema, root);
  if (typeof resolved === 'boolean') return resolved ? anyJson(depth) : fc.constant(null);
  if (depth > MAX_DEPTH) return fc.constant(null);
  if ('const' in resolved) return fc.constant(resolved.const);
  if (Array.isArray(resolved.enum) && resolved.enum.length > 0) return fc.constantFrom(...resolved.enum);
  for (const key of ['anyOf', 'oneOf'] as const) {
    const branches = resolved[key];
    if (Array.isArray(branches) && branches.length > 0) return fc.oneof(...branches.map((b) => schemaArbitrary(b as JsonSchema, root, depth)));
  }
  if (Array.isArray(resolved.allOf)) {
    const merged = resolved.allOf.reduce<Schema>((acc, part) => ({ ...acc, ...(resolveSchema(part, root) as Schema) }), { ...resolved, allOf: undefined });
    delete merged.allOf;
    return schemaArbitrary(merged, root, depth);
  }
  const type = Array.isArray(resolved.type) ? resolved.type : resolved.type === undefined ? [inferType(resolved)] : [resolved.type];
  return fc.oneof(...type.map((t) => typed(String(t), resolved, root, depth)));
}

function typed(type: string, schema: Schema, root: JsonSchema, depth: number): fc.Arbitrary<unknown> {
  switch (type) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
      return integerFor(schema);
    case 'number':
      return numberFor(schema);
    case 'string':
      return stringFor(schema);
    case 'array':
      return arrayFor(schema, root, depth);
    case 'object':
      return objectFor(schema, root, depth);
    default:
      return anyJson(depth);
  }
}

function inferType(schema: Schema): string {
  if ('properties' in schema || 'additionalProperties' in schema || 'required' in schema) return 'object';
  if ('items' in schema || 'minItems' in schema) return 'array';
  if ('pattern' in schema || 'minLength' in schema || 'maxLength' in schema || 'format' in schema) return 'string';
  if ('minimum' in schema || 'maximum' in schema) return 'number';
  return 'any';
}

function bound(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function integerFor(schema: Schema): fc.Arbitrary<number> {
  const exMin = bound(schema.exclusiveMinimum);
  const exMax = bound(schema.exclusiveMaximum);
  const min = Math.max(bound(schema.minimum) ?? -1_000, exMin === undefined ? -Infinity : Math.floor(exMin) + 1, -1_000_000);
  const max = Math.min(bound(schema.maximum) ?? 1_000, exMax === undefined ? Infinity : Math.ceil(exMax) - 1, 1_000_000);
  return min > max ? fc.constant(min) : fc.integer({ min: Math.ceil(min), max: Math.floor(max) });
}

function numberFor(schema: Schema): fc.Arbitrary<number> {
  const min = bound(schema.minimum) ?? bound(schema.exclusiveMinimum) ?? -1_000;
  const max = bound(schema.maximum) ?? bound(schema.exclusiveMaximum) ?? 1_000;
  return fc.double({
    min,
    max,
    noNaN: true,
    noDefaultInfinity: true,
    minExcluded: schema.exclusiveMinimum !== undefined,
    maxExcluded: schema.exclusiveMaximum !== undefined,
  });
}

function stringFor(schema: Schema): fc.Arbitrary<string> {
  const minLength = bound(schema.minLength) ?? 0;
  const maxLength = Math.max(minLength, Math.min(bound(schema.maxLength) ?? SHORT, minLength + SHORT));
  if (schema.format === 'date-time')
    return fc.date({ min: new Date('2020-01-01T00:00:00Z'), max: new Date('2100-01-01T00:00:00Z'), noInvalidDate: true }).map((d) => d.toISOString());
  if (typeof schema.pattern === 'string') {
    try {
      return fc.stringMatching(new RegExp(schema.pattern)).filter((s) => s.length >= minLength && s.length <= (bound(schema.maxLength) ?? Infinity));
    } catch {
      // A pattern fast-check cannot generate from: plain strings, the validator will say no.
    }
  }
  return fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength, maxLength }) },
    { weight: 1, arbitrary: fc.string({ unit: 'grapheme', minLength, maxLength }) },
  );
}

function arrayFor(schema: Schema, root: JsonSchema, depth: number): fc.Arbitrary<unknown[]> {
  const minLength = bound(schema.minItems) ?? 0;
  const maxLength = Math.max(minLength, Math.min(bound(schema.maxItems) ?? 3, minLength + 3));
  const items = schema.items;
  if (Array.isArray(schema.prefixItems)) return fc.tuple(...schema.prefixItems.map((s) => schemaArbitrary(s as JsonSchema, root, depth + 1)));
  const item = items === undefined || items === true ? anyJson(depth + 1) : schemaArbitrary(items as JsonSchema, root, depth + 1);
  return fc.array(item, { minLength, maxLength });
}

function objectFor(schema: Schema, root: JsonSchema, depth: number): fc.Arbitrary<Record<string, unknown>> {
  const properties = (schema.properties ?? {}) as Record<string, JsonSchema>;
  const required = new Set(Array.isArray(schema.required) ? (schema.required as string[]) : []);
  const known = fc.record(Object.fromEntries(Object.entries(properties).map(([key, value]) => [key, schemaArbitrary(value, root, depth + 1)])), {
    requiredKeys: [...required].filter((k) => k in properties),
  });
  const extra = schema.additionalProperties;
  if (extra === false || extra === undefined) return known;
  // Open maps (records, loose objects): a few more keys, named as propertyNames allows.
  const keyArb =
    schema.propertyNames && typeof schema.propertyNames === 'object'
      ? (stringFor(schema.propertyNames as Schema) as fc.Arbitrary<string>)
      : fc.string({ maxLength: 12 });
  const valueArb = extra === true || Object.keys(extra as object).length === 0 ? anyJson(depth + 1) : schemaArbitrary(extra as JsonSchema, root, depth + 1);
  return fc
    .tuple(
      known,
      fc.dictionary(
        keyArb.filter((k) => !(k in properties)),
        valueArb,
        { maxKeys: 3 },
      ),
    )
    .map(([a, b]) => ({ ...b, ...a }));
}

/** Any small JSON value (for `{}` schemas). */
export function anyJson(depth = 0): fc.Arbitrary<unknown> {
  return fc.jsonValue({ maxDepth: Math.max(0, 2 - Math.floor(depth / 2)) });
}
