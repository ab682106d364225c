/**
 * JSON Schema → the subset node-llama-cpp's GBNF grammar builder understands (see
 * toGrammarSchema). Pure functions; the provider caches the grammars built from them.
 */
import type { GbnfJsonSchema } from 'node-llama-cpp';
import type { JsonSchema } from '../spec.js';

export const ANY_JSON: GbnfJsonSchema = {
  oneOf: [{ type: ['string', 'number', 'boolean', 'null'] }, { type: 'array' }, { type: 'object', additionalProperties: true }],
};
const GRAMMAR_FORMATS = new Set(['date-time', 'date', 'time']);

/**
 * Rewrites a JSON Schema into the subset node-llama-cpp's grammar understands. Unsupported
 * keywords are dropped (the grammar then allows a superset; the structured-output wrapper
 * validates against the real schema). Notable behaviour of the grammar:
 * - every declared property is emitted (its `required` is ignored) — still schema-valid;
 * - `additionalProperties` defaults to false — we keep that unless the object declares no properties;
 * - string `format` other than date-time/date/time would force an empty string, so it is dropped;
 * - pattern, minimum/maximum, multipleOf, allOf (beyond one branch), not, if/then/else are not enforced;
 * - anyOf and oneOf both become an alternation.
 */
export function toGrammarSchema(schema: JsonSchema): GbnfJsonSchema {
  const defs: Record<string, GbnfJsonSchema> = {};
  const rawDefs = { ...asRecord(schema.definitions), ...asRecord(schema.$defs) };
  for (const [name, def] of Object.entries(rawDefs)) defs[name] = convert(def, rawDefs);
  const root = convert(schema, rawDefs);
  if (Object.keys(defs).length === 0) return root;
  const carriesDefs = 'oneOf' in root || '$ref' in root || ('type' in root && (root.type === 'object' || root.type === 'array'));
  return (carriesDefs ? { ...root, $defs: defs } : { oneOf: [root], $defs: defs }) as GbnfJsonSchema;
}

function convert(node: unknown, defs: Record<string, unknown>): GbnfJsonSchema {
  const s = asRecord(node);
  if (s === undefined) return ANY_JSON; // `true`, `false` or junk: leave it to validation
  const converted = convertNode(s, defs);
  return s.nullable === true ? { oneOf: [converted, { type: 'null' }] } : converted;
}

function convertNode(s: Record<string, unknown>, defs: Record<string, unknown>): GbnfJsonSchema {
  if (typeof s.$ref === 'string') {
    const name = /^#\/(?:\$defs|definitions)\/(.+)$/.exec(s.$ref)?.[1];
    return name !== undefined && name in defs ? ({ $ref: `#/$defs/${name}` } as GbnfJsonSchema) : ANY_JSON;
  }
  if ('const' in s) return isPrimitive(s.const) ? { const: s.const } : ANY_JSON;
  if (Array.isArray(s.enum)) return s.enum.every(isPrimitive) ? { enum: s.enum } : ANY_JSON;

  const structural = s.type !== undefined || s.properties !== undefined || s.items !== undefined;
  const alternatives = Array.isArray(s.anyOf) ? s.anyOf : Array.isArray(s.oneOf) ? s.oneOf : undefined;
  if (alternatives && !structural) return { oneOf: alternatives.map((alt) => convert(alt, defs)) };
  if (Array.isArray(s.allOf) && !structural) return s.allOf.length === 1 ? convert(s.allOf[0], defs) : ANY_JSON;

  if (Array.isArray(s.type)) {
    const branches = s.type.map((type) => convertNode({ ...s, type, nullable: undefined }, defs));
    return branches.length === 1 ? branches[0] : { oneOf: branches };
  }
  const type = s.type ?? (s.properties !== undefined ? 'object' : s.items !== undefined ? 'array' : undefined);
  switch (type) {
    case 'string': {
      if (typeof s.format === 'string' && GRAMMAR_FORMATS.has(s.format)) {
        return { type: 'string', format: s.format as 'date-time' | 'date' | 'time' };
      }
      return { type: 'string', ...pickNumbers(s, ['minLength', 'maxLength']) };
    }
    case 'number':
    case 'integer':
    case 'boolean':
    case 'null':
      return { type: type as 'number' | 'integer' | 'boolean' | 'null' };
    case 'object': {
      const properties = Object.fromEntries(Object.entries(asRecord(s.properties) ?? {}).map(([key, value]) => [key, convert(value, defs)]));
      const declaresNone = Object.keys(properties).length === 0;
      const additional =
        s.additionalProperties === false ? false : asRecord(s.additionalProperties) !== undefined ? convert(s.additionalProperties, defs) : declaresNone;
      return {
        type: 'object',
        properties,
        additionalProperties: additional,
        ...(additional === false ? {} : pickNumbers(s, ['minProperties', 'maxProperties'])),
      } as GbnfJsonSchema;
    }
    case 'array': {
      const tuple = Array.isArray(s.prefixItems) ? s.prefixItems : Array.isArray(s.items) ? s.items : undefined;
      const items = !Array.isArray(s.items) && asRecord(s.items) !== undefined ? convert(s.items, defs) : undefined;
      return {
        type: 'array',
        ...(items ? { items } : {}),
        ...(tuple ? { prefixItems: tuple.map((item) => convert(item, defs)) } : {}),
        ...pickNumbers(s, ['minItems', 'maxItems']),
      } as GbnfJsonSchema;
    }
    default:
      return ANY_JSON;
  }
}

function pickNumbers(s: Record<string, unknown>, keys: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of keys) {
    const value = s[key];
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0) out[key] = value;
  }
  return out;
}

function isPrimitive(value: unknown): value is string | number | boolean | null {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value);
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}
