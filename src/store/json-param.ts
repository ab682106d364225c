/**
 * PostgreSQL text and jsonb cannot hold NUL; one such string would fail the whole write (a
 * batch of runs, a job), so NULs become U+FFFD. In JSON text a NUL is the escape `\u0000` preceded by an
 * even number of backslashes (`\\u0000` is an escaped backslash followed by "u0000").
 */
export function withoutNul(json: string): string {
  return json.includes('\\u0000') ? json.replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd') : json;
}

/** A jsonb parameter: JSON text PostgreSQL accepts (NULs replaced), or null for undefined. */
export function jsonParam(value: unknown): string | null {
  return value === undefined ? null : withoutNul(JSON.stringify(value));
}
