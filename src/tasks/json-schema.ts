import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule, { type FormatsPlugin } from 'ajv-formats';
import type { Issue } from '../kernel/errors.js';

/**
 * JSON Schema for task inputs and definitions (draft-07 / 2019 keywords Ajv supports).
 * One Ajv instance; validators are compiled once per schema object and cached.
 */

// ajv-formats is CommonJS; its default export arrives wrapped under NodeNext.
const addFormats = ((addFormatsModule as unknown as { default?: FormatsPlugin }).default ?? addFormatsModule) as FormatsPlugin;

const ajv = new Ajv({ allErrors: true, strict: false, validateSchema: true });
addFormats(ajv);

const cache = new WeakMap<object, ValidateFunction>();

/** Compiles (once) and returns a validator. Throws on an invalid schema: call schemaProblems first. */
export function compileSchema(schema: Record<string, unknown>): ValidateFunction {
  let validate = cache.get(schema);
  if (!validate) {
    validate = ajv.compile(schema);
    cache.set(schema, validate);
  }
  return validate;
}

/** Why a value is not a usable JSON Schema; empty when it is. */
export function schemaProblems(schema: Record<string, unknown>): string[] {
  if (!ajv.validateSchema(schema)) {
    return (ajv.errors ?? []).map((e) => `invalid JSON Schema: ${e.instancePath || '(root)'} ${e.message ?? ''}`.trim());
  }
  try {
    compileSchema(schema);
    return [];
  } catch (error) {
    return [`invalid JSON Schema: ${(error as Error).message}`];
  }
}

/** Validates a value; returns one issue per failure with a JSON Pointer path. */
export function validateValue(schema: Record<string, unknown>, value: unknown): Issue[] {
  const validate = compileSchema(schema);
  if (validate(value)) return [];
  return (validate.errors ?? []).map(toIssue);
}

function toIssue(error: ErrorObject): Issue {
  let path = error.instancePath || '/';
  let message = error.message ?? 'is invalid';
  if (error.keyword === 'required') {
    const missing = (error.params as { missingProperty: string }).missingProperty;
    path = `${error.instancePath}/${missing}`;
    message = 'is required';
  } else if (error.keyword === 'additionalProperties') {
    const extra = (error.params as { additionalProperty: string }).additionalProperty;
    path = `${error.instancePath}/${extra}`;
    message = 'is not allowed (unknown field)';
  } else if (error.keyword === 'enum') {
    message = `must be one of ${JSON.stringify((error.params as { allowedValues: unknown[] }).allowedValues)}`;
  }
  return { path, message };
}
