import { MAX_JSON_DEPTH } from '../kernel/json.js';

/**
 * Values on their way into PostgreSQL text and jsonb. A value that cannot be stored as it is
 * (a NUL, which text and jsonb cannot hold; a lone UTF-16 surrogate, which jsonb refuses; a
 * value nested too deeply or cyclic, which JSON.stringify cannot write) is stored with the
 * offending part replaced, never dropped: one such value must not fail the write of a run, a
 * job or a batch of other tenants' runs.
 */

/** What stands in for a part of a value that could not be stored. */
export const UNSTORABLE_MARKER = '[groundwork: not stored: nested too deeply or not serialisable]';

// In JSON text an escape is `\uXXXX` preceded by an even number of backslashes (`\\u0000` is an
// escaped backslash followed by "u0000"). NUL and lone surrogates (JSON.stringify escapes those,
// while it writes well-formed pairs as characters) become U+FFFD.
const BAD_ESCAPE = /(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/g;

/** JSON text PostgreSQL's jsonb accepts: NUL and lone-surrogate escapes replaced by U+FFFD. */
export function storableJsonText(json: string): string {
  return json.includes('\\u') ? json.replace(BAD_ESCAPE, '$1\\ufffd') : json;
}

/** A jsonb parameter: JSON text PostgreSQL accepts, or null for undefined. Never throws. */
export function jsonParam(value: unknown): string | null {
  if (value === undefined) return null;
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch {
    // Too deep for the serialiser (RangeError), cyclic or a BigInt (TypeError): store what can be.
    json = JSON.stringify(storableValue(value));
  }
  return json === undefined ? null : storableJsonText(json);
}

/** Text PostgreSQL accepts: NULs replaced by U+FFFD (lone surrogates are replaced by the UTF-8 encoder). */
export function storableText(value: string): string {
  return value.includes('\u0000') ? value.replaceAll('\u0000', '\ufffd') : value;
}

/** Query parameters with every NUL in a string (or an array of strings) replaced, so no text parameter can fail a statement. */
export function storableParams(params: unknown[] | undefined): unknown[] | undefined {
  if (!params) return params;
  let copy: unknown[] | undefined;
  for (let i = 0; i < params.length; i++) {
    const value = params[i];
    let clean: unknown = value;
    if (typeof value === 'string') clean = storableText(value);
    else if (Array.isArray(value) && value.some((v) => typeof v === 'string' && v.includes('\u0000')))
      clean = value.map((v) => (typeof v === 'string' ? storableText(v) : v));
    if (clean !== value) (copy ??= [...params])[i] = clean;
  }
  return copy ?? params;
}

/**
 * A copy of `value` that JSON.stringify can write: parts deeper than MAX_JSON_DEPTH, cycles,
 * BigInts and functions replaced by UNSTORABLE_MARKER. Iterative, so any depth is safe.
 */
export function storableValue(value: unknown, maxDepth: number = MAX_JSON_DEPTH): unknown {
  const root: { value: unknown } = { value: undefined };
  const stack: Array<{ source: unknown; assign: (v: unknown) => void; depth: number; ancestors: Set<object> }> = [
    { source: value, assign: (v) => (root.value = v), depth: 0, ancestors: new Set() },
  ];
  while (stack.length > 0) {
    const { source, assign, depth, ancestors } = stack.pop()!;
    if (source === null || typeof source === 'string' || typeof source === 'boolean') {
      assign(source);
    } else if (typeof source === 'number') {
      assign(Number.isFinite(source) ? source : null);
    } else if (typeof source === 'object') {
      if (depth >= maxDepth || ancestors.has(source)) {
        assign(UNSTORABLE_MARKER);
        continue;
      }
      const toJson = (source as { toJSON?: unknown }).toJSON;
      if (typeof toJson === 'function') {
        // Dates and the like: store what JSON.stringify would.
        stack.push({ source: (toJson as () => unknown).call(source), assign, depth, ancestors });
        continue;
      }
      const withThis = new Set(ancestors).add(source);
      if (Array.isArray(source)) {
        const copy: unknown[] = new Array(source.length).fill(null);
        assign(copy);
        source.forEach((child, i) =>
          stack.push({ source: child, assign: (v) => (copy[i] = v === undefined ? null : v), depth: depth + 1, ancestors: withThis }),
        );
      } else {
        const copy: Record<string, unknown> = {};
        assign(copy);
        for (const [key, child] of Object.entries(source)) {
          stack.push({
            source: child,
            assign: (v) => v !== undefined && Object.defineProperty(copy, key, { value: v, enumerable: true, writable: true, configurable: true }),
            depth: depth + 1,
            ancestors: withThis,
          });
        }
      }
    } else if (source === undefined) {
      assign(undefined);
    } else {
      // bigint, function, symbol
      assign(UNSTORABLE_MARKER);
    }
  }
  return root.value;
}
