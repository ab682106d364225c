/**
 * Deterministic example instances for JSON Schemas. The mock model server answers structured-output
 * requests with these, so the same schema must always give the same, schema-valid value: tests and
 * benchmarks compare runs byte for byte.
 *
 * Best effort by design: `pattern`, `not`, `if/then/else` and remote `$ref`s are ignored, because a
 * fake model that is right for the schemas people actually send is worth more than a full solver.
 */

type SchemaObject = { [key: string]: unknown };

interface Walk {
  root: unknown;
  depth: number;
  /** Index among sibling array items, so `uniqueItems` arrays get distinct values. */
  variant: number;
}

/** Past this depth optional properties are skipped, so recursive schemas terminate. */
const OPTIONAL_DEPTH = 6;
/** Past this depth we give up and return null (only reachable through required self-references). */
const MAX_DEPTH = 32;

/** A deterministic, schema-valid instance of `schema` (a parsed JSON Schema). */
export function exampleFromSchema(schema: unknown): unknown {
  return generate(schema, { root: schema, depth: 0, variant: 0 });
}

/**
 * Follows local `$ref`s (`#`, `#/$defs/x`, `#/definitions/x`, any JSON pointer into the root).
 * Exported because the mock's schema-violation fault needs the same view of the schema.
 */
export function resolveSchema(schema: unknown, root: unknown): SchemaObject | boolean {
  let current = schema;
  for (let hops = 0; hops < MAX_DEPTH; hops++) {
    if (!isObject(current)) return typeof current === 'boolean' ? current : {};
    const ref = current.$ref;
    if (typeof ref !== 'string') return current;
    current = followPointer(root, ref);
  }
  return {};
}

function followPointer(root: unknown, ref: string): unknown {
  if (ref === '#') return root;
  if (!ref.startsWith('#/')) return {};
  let node: unknown = root;
  for (const raw of ref.slice(2).split('/')) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(node) && !Array.isArray(node)) return {};
    node = (node as SchemaObject)[key];
  }
  return node ?? {};
}

function generate(input: unknown, walk: Walk): unknown {
  if (walk.depth > MAX_DEPTH) return null;
  const schema = resolveSchema(input, walk.root);
  if (typeof schema === 'boolean') return schema ? 'example' : null;
  if ('const' in schema) return schema.const;
  if (Array.isArray(schema.enum) && schema.enum.length > 0) {
    return schema.enum[walk.variant % schema.enum.length];
  }
  const merged = mergeCombinators(schema, walk.root);
  if (merged !== schema) return generate(merged, walk);

  switch (pickType(schema)) {
    case 'null':
      return null;
    case 'boolean':
      return walk.variant % 2 === 0;
    case 'integer':
      return numberFor(schema, walk.variant, true);
    case 'number':
      return numberFor(schema, walk.variant, false);
    case 'string':
      return stringFor(schema, walk.variant);
    case 'array':
      return arrayFor(schema, walk);
    case 'object':
      return objectFor(schema, walk);
    default:
      return 'example';
  }
}

/** allOf is merged; anyOf/oneOf take their first non-null branch, merged with the sibling keywords. */
function mergeCombinators(schema: SchemaObject, root: unknown): SchemaObject {
  const { allOf, anyOf, oneOf, ...rest } = schema;
  const branches: unknown[] = [];
  if (Array.isArray(allOf)) branches.push(...allOf);
  for (const choice of [anyOf, oneOf]) {
    if (Array.isArray(choice) && choice.length > 0) branches.push(firstNonNull(choice, root));
  }
  if (branches.length === 0) return schema;
  let out: SchemaObject = rest;
  for (const branch of branches) {
    const resolved = resolveSchema(branch, root);
    if (typeof resolved === 'object') out = mergeTwo(out, mergeCombinators(resolved, root));
  }
  return out;
}

/** `anyOf: [{type: 'null'}, X]` is how many generators spell "nullable X"; a null example says nothing. */
function firstNonNull(branches: unknown[], root: unknown): unknown {
  const isNull = (b: unknown): boolean => {
    const r = resolveSchema(b, root);
    return typeof r === 'object' && r.type === 'null';
  };
  return branches.find((b) => !isNull(b)) ?? branches[0];
}

function mergeTwo(a: SchemaObject, b: SchemaObject): SchemaObject {
  const out: SchemaObject = { ...a, ...b };
  if (isObject(a.properties) && isObject(b.properties)) {
    out.properties = { ...a.properties, ...b.properties };
  }
  if (Array.isArray(a.required) && Array.isArray(b.required)) {
    out.required = [...new Set([...a.required, ...b.required])];
  }
  return out;
}

function pickType(schema: SchemaObject): string | undefined {
  const type = schema.type;
  if (typeof type === 'string') return type;
  if (Array.isArray(type)) return type.find((t) => t !== 'null') ?? type[0];
  if ('properties' in schema || 'required' in schema || 'additionalProperties' in schema) return 'object';
  if ('items' in schema || 'prefixItems' in schema || 'minItems' in schema) return 'array';
  if ('minLength' in schema || 'maxLength' in schema || 'format' in schema) return 'string';
  if ('minimum' in schema || 'maximum' in schema || 'multipleOf' in schema) return 'number';
  return undefined;
}

function numberFor(schema: SchemaObject, variant: number, integer: boolean): number {
  const min = num(schema.minimum);
  const max = num(schema.maximum);
  // Draft 2020-12 states exclusive bounds as numbers, draft-04 as booleans beside minimum/maximum.
  const exMin = num(schema.exclusiveMinimum) ?? (schema.exclusiveMinimum === true ? min : undefined);
  const exMax = num(schema.exclusiveMaximum) ?? (schema.exclusiveMaximum === true ? max : undefined);
  const lower = largest(
    min === undefined ? undefined : integer ? Math.ceil(min) : min,
    exMin === undefined ? undefined : integer ? Math.floor(exMin) + 1 : exMin + 1,
  );
  const upper = smallest(
    max === undefined ? undefined : integer ? Math.floor(max) : max,
    exMax === undefined ? undefined : integer ? Math.ceil(exMax) - 1 : exMax - 1,
  );
  let value = (lower ?? (upper !== undefined ? Math.min(0, upper) : 0)) + variant;
  if (upper !== undefined && value > upper) value = upper;
  if (!integer && lower !== undefined && upper !== undefined && lower > upper) {
    // A gap narrower than our step of 1: the midpoint of the raw bounds is inside it.
    value = ((exMin ?? min ?? 0) + (exMax ?? max ?? 0)) / 2;
  }
  const multipleOf = num(schema.multipleOf);
  if (multipleOf !== undefined && multipleOf > 0) {
    let k = Math.ceil(value / multipleOf);
    if (upper !== undefined && k * multipleOf > upper) k = Math.floor(upper / multipleOf);
    value = k * multipleOf;
  }
  return value;
}

function largest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.max(a, b);
}

function smallest(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined ? b : b === undefined ? a : Math.min(a, b);
}

const FORMAT_EXAMPLES: Record<string, (variant: number) => string> = {
  'date-time': (v) => `2024-01-${pad2(1 + (v % 28))}T12:00:00Z`,
  date: (v) => `2024-01-${pad2(1 + (v % 28))}`,
  time: (v) => `12:00:${pad2(v % 60)}Z`,
  email: (v) => (v === 0 ? 'user@example.com' : `user${v}@example.com`),
  uri: (v) => (v === 0 ? 'https://example.com/' : `https://example.com/${v}`),
  url: (v) => (v === 0 ? 'https://example.com/' : `https://example.com/${v}`),
  uuid: (v) => `00000000-0000-4000-8000-${String(v).padStart(12, '0')}`,
  hostname: (v) => (v === 0 ? 'example.com' : `host${v}.example.com`),
  ipv4: (v) => `192.0.2.${v % 256}`,
  ipv6: (v) => `2001:db8::${(v % 0xffff).toString(16)}`,
};

function stringFor(schema: SchemaObject, variant: number): string {
  const format = typeof schema.format === 'string' ? FORMAT_EXAMPLES[schema.format] : undefined;
  let value = format ? format(variant) : variant === 0 ? 'example' : `example-${variant}`;
  const minLength = num(schema.minLength) ?? 0;
  const maxLength = num(schema.maxLength);
  // Lengths count code points, as JSON Schema does; our examples are ASCII so .length is exact.
  if (value.length < minLength) value = value.padEnd(minLength, 'x');
  if (maxLength !== undefined && value.length > maxLength) {
    // Keep the variant suffix so uniqueItems stays satisfied when the string must be short.
    const suffix = variant === 0 ? '' : String(variant);
    value = suffix.length <= maxLength ? value.slice(0, maxLength - suffix.length) + suffix : value.slice(0, maxLength);
  }
  return value;
}

function arrayFor(schema: SchemaObject, walk: Walk): unknown[] {
  const tuple = Array.isArray(schema.prefixItems) ? schema.prefixItems : Array.isArray(schema.items) ? schema.items : [];
  const rest = Array.isArray(schema.items) ? schema.additionalItems : schema.items;
  const minItems = num(schema.minItems) ?? 0;
  const maxItems = num(schema.maxItems) ?? Infinity;
  // One item by default looks like real model output; deep down we stay minimal to terminate.
  const wanted = walk.depth < OPTIONAL_DEPTH ? Math.max(minItems, tuple.length, 1) : Math.max(minItems, tuple.length);
  const count = Math.min(wanted, maxItems, rest === false ? tuple.length : Infinity);
  const out: unknown[] = [];
  for (let i = 0; i < count; i++) {
    const itemSchema = i < tuple.length ? tuple[i] : i === 0 && schema.contains !== undefined ? schema.contains : rest;
    out.push(generate(itemSchema ?? {}, { root: walk.root, depth: walk.depth + 1, variant: i }));
  }
  return out;
}

function objectFor(schema: SchemaObject, walk: Walk): Record<string, unknown> {
  const properties = isObject(schema.properties) ? schema.properties : {};
  const required = Array.isArray(schema.required) ? schema.required.filter((k): k is string => typeof k === 'string') : [];
  const maxProperties = num(schema.maxProperties) ?? Infinity;
  const includeOptional = walk.depth < OPTIONAL_DEPTH && required.length < maxProperties;
  const child = { root: walk.root, depth: walk.depth + 1, variant: 0 };
  const extraSchema = isObject(schema.additionalProperties) ? schema.additionalProperties : {};
  const out: Record<string, unknown> = {};
  let optionalBudget = maxProperties - required.length;
  for (const key of Object.keys(properties)) {
    const isRequired = required.includes(key);
    if (!isRequired && (!includeOptional || optionalBudget <= 0)) continue;
    if (!isRequired) optionalBudget--;
    out[key] = generate(properties[key], child);
  }
  for (const key of required) {
    if (!(key in out)) out[key] = generate(extraSchema, child);
  }
  const minProperties = num(schema.minProperties) ?? 0;
  for (let i = 0; Object.keys(out).length < minProperties && schema.additionalProperties !== false; i++) {
    out[`extra${i}`] = generate(extraSchema, child);
  }
  return out;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function isObject(value: unknown): value is SchemaObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
