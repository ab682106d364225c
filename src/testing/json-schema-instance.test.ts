import { Ajv } from 'ajv';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule, { type FormatsPlugin } from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { exampleFromSchema } from './json-schema-instance.js';

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext.
const addFormats = ((addFormatsModule as unknown as { default?: FormatsPlugin }).default ?? addFormatsModule) as FormatsPlugin;
const draft07 = new Ajv({ strict: false });
const draft2020 = new Ajv2020({ strict: false });
addFormats(draft07);
addFormats(draft2020);

function expectValid(schema: Record<string, unknown>, ajv: Ajv | Ajv2020 = draft07): unknown {
  const instance = exampleFromSchema(schema);
  const validate = ajv.compile(schema);
  expect(validate(instance), JSON.stringify({ instance, errors: validate.errors })).toBe(true);
  return instance;
}

const ticketSchema = {
  type: 'object',
  properties: {
    category: { type: 'string', enum: ['billing', 'technical', 'other'] },
    priority: { type: 'integer', minimum: 1, maximum: 5 },
    summary: { type: 'string', minLength: 20, maxLength: 40 },
    tags: { type: 'array', items: { type: 'string' }, minItems: 3, uniqueItems: true },
    confidence: { type: 'number', exclusiveMinimum: 0, exclusiveMaximum: 1 },
    urgent: { type: 'boolean' },
    reporter: { type: 'object', properties: { email: { type: 'string', format: 'email' } }, required: ['email'] },
    link: { type: 'string', format: 'uri' },
    openedAt: { type: 'string', format: 'date-time' },
  },
  required: ['category', 'priority', 'summary', 'tags', 'confidence', 'urgent', 'reporter'],
  additionalProperties: false,
};

describe('exampleFromSchema', () => {
  it('gives a valid instance of a realistic structured-output schema', () => {
    const instance = expectValid(ticketSchema) as Record<string, unknown>;
    expect(instance.category).toBe('billing'); // enum → first value
    expect(instance.priority).toBe(1);
    expect((instance.tags as string[]).length).toBe(3);
  });

  it('is deterministic: the same schema always gives the same instance', () => {
    expect(JSON.stringify(exampleFromSchema(ticketSchema))).toBe(JSON.stringify(exampleFromSchema(structuredClone(ticketSchema))));
  });

  it('follows local $refs into $defs and definitions, including recursive ones', () => {
    expectValid({
      type: 'object',
      properties: { owner: { $ref: '#/definitions/person' }, team: { type: 'array', items: { $ref: '#/definitions/person' }, minItems: 2 } },
      required: ['owner', 'team'],
      definitions: { person: { type: 'object', properties: { name: { type: 'string' }, age: { type: 'integer', minimum: 18 } }, required: ['name', 'age'] } },
    });
    const tree = expectValid(
      {
        $defs: {
          node: {
            type: 'object',
            properties: { value: { type: 'integer' }, children: { type: 'array', items: { $ref: '#/$defs/node' } } },
            required: ['value'],
          },
        },
        $ref: '#/$defs/node',
      },
      draft2020,
    );
    expect(tree).toMatchObject({ value: 0 });
  });

  it('handles const, nullable types, anyOf/oneOf (first non-null branch) and allOf', () => {
    const instance = expectValid({
      type: 'object',
      properties: {
        kind: { const: 'refund' },
        note: { type: ['string', 'null'], maxLength: 3 },
        amount: { anyOf: [{ type: 'null' }, { type: 'number', minimum: 10.5 }] },
        shape: { oneOf: [{ type: 'object', properties: { r: { type: 'number' } }, required: ['r'] }, { type: 'string' }] },
        merged: {
          allOf: [
            { type: 'object', properties: { a: { type: 'string' } }, required: ['a'] },
            { properties: { b: { type: 'integer' } }, required: ['b'] },
          ],
        },
      },
      required: ['kind', 'note', 'amount', 'shape', 'merged'],
    }) as Record<string, unknown>;
    expect(instance).toMatchObject({ kind: 'refund', note: 'exa', amount: 10.5, shape: { r: 0 }, merged: { a: 'example', b: 0 } });
  });

  it('respects numeric bounds, multipleOf and draft-04 style exclusive flags', () => {
    expectValid({ type: 'integer', minimum: 7, multipleOf: 5 });
    expectValid({ type: 'integer', exclusiveMaximum: -3 });
    expectValid({ type: 'number', exclusiveMinimum: 0.1, exclusiveMaximum: 0.2 });
    expect(exampleFromSchema({ type: 'number', minimum: 2, maximum: 2 })).toBe(2);
  });

  it('fills string formats and length limits', () => {
    for (const format of ['date', 'time', 'uuid', 'ipv4', 'ipv6', 'hostname']) expectValid({ type: 'string', format });
    expect(exampleFromSchema({ type: 'string', minLength: 12 })).toHaveLength(12);
  });

  it('handles tuples, unique items and maxItems', () => {
    expectValid({ type: 'array', prefixItems: [{ type: 'string' }, { type: 'integer' }], items: false }, draft2020);
    expectValid({ type: 'array', items: { enum: ['a', 'b', 'c'] }, minItems: 3, uniqueItems: true });
    expectValid({ type: 'array', items: { type: 'boolean' }, minItems: 2, uniqueItems: true });
    expect(exampleFromSchema({ type: 'array', items: { type: 'string' }, maxItems: 0 })).toEqual([]);
  });

  it('honours minProperties and maxProperties', () => {
    expectValid({ type: 'object', minProperties: 2, additionalProperties: { type: 'integer' } });
    expectValid({ type: 'object', properties: { a: { type: 'string' }, b: { type: 'string' } }, required: ['b'], maxProperties: 1 });
  });
});
