import { GroundworkError } from '../kernel/errors.js';
import type { MetadataFilter } from './ports.js';

/**
 * Metadata filters, evaluated in process against each document's metadata (the same object
 * stored on its chunks). Semantics are those of `metadata @> '{"key": value}'` in SQL: a
 * scalar matches an equal scalar or an array that contains it; a list of values matches any
 * of them (OR); all keys must match (AND). retrieval.test.ts checks the two agree.
 */

type Scalar = string | number | boolean;

export interface CompiledFilter {
  matches(metadata: Record<string, unknown>): boolean;
}

export function compileFilter(filter: MetadataFilter | undefined): CompiledFilter | undefined {
  if (filter === undefined) return undefined;
  const clauses: Array<[string, Scalar[]]> = [];
  for (const [key, value] of Object.entries(filter)) {
    const values = Array.isArray(value) ? value : [value];
    for (const item of values) {
      if (!isScalar(item)) {
        throw new GroundworkError('REQUEST_INVALID_BODY', `filter "${key}" must be a string, number or boolean, or a list of them`, {
          details: { issues: [{ path: `filters/${key}`, message: 'expected a scalar or a list of scalars' }] },
        });
      }
    }
    clauses.push([key, values]);
  }
  if (clauses.length === 0) return undefined;
  return {
    matches(metadata) {
      for (const [key, values] of clauses) {
        if (!Object.prototype.hasOwnProperty.call(metadata, key)) return false;
        const actual = metadata[key];
        if (!values.some((value) => contains(actual, value))) return false;
      }
      return true;
    },
  };
}

function contains(actual: unknown, value: Scalar): boolean {
  if (Array.isArray(actual)) return actual.some((item) => item === value);
  return actual === value;
}

function isScalar(value: unknown): value is Scalar {
  return typeof value === 'string' || typeof value === 'boolean' || (typeof value === 'number' && Number.isFinite(value));
}
