/**
 * Secrets out of anything printed: walks a value (a config, a log object) and returns a copy
 * with every credential replaced by a marker. Walking the whole value rather than listing
 * fields means a URL or header added to the config later is covered without anyone
 * remembering to add it here.
 */

/** What a secret is replaced with. */
export const REDACTED = '***';

// Field, header and query-parameter names whose values are credentials: api_key, x-api-key,
// authorization, proxy-authorization, cookie, x-auth-token, client_secret, password, ?key=…,
// X-Amz-Signature…
const SECRET_NAME =
  /(^|[-_.])(authorization|key|(api|access|subscription|private|secret)[-_]?key|secret|password|passwd|pwd|token|cookie|credentials?|signature)([-_.]|$)/i;

/**
 * A copy of `value` with (1) the string value of every field whose name looks secret replaced,
 * and (2) in every URL-shaped string, the user-info password and secret-looking query
 * parameters replaced. Names ending in `_env` hold the name of a variable, not its value.
 */
export function redactSecrets(value: unknown, name?: string): unknown {
  if (typeof value === 'string') return name !== undefined && isSecretName(name) ? REDACTED : redactUrl(value);
  if (Array.isArray(value)) return value.map((item) => redactSecrets(item, name));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, redactSecrets(item, key)]));
  }
  return value;
}

function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name) && !/_env$/i.test(name);
}

/** The URL with its password and secret query values masked; any other string unchanged. */
function redactUrl(text: string): string {
  const scheme = text.indexOf('://');
  if (scheme === -1) return text;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    // URL-shaped but not WHATWG-parseable (multi-host postgres://u:p@h1,h2/db, an empty host):
    // show the scheme only, since where the password ends cannot be told for sure.
    return /[@?]/.test(text) ? `${text.slice(0, scheme + 3)}${REDACTED}` : text;
  }
  let changed = false;
  if (url.password) {
    url.password = REDACTED;
    changed = true;
  }
  for (const key of new Set(url.searchParams.keys())) {
    if (isSecretName(key)) {
      url.searchParams.set(key, REDACTED);
      changed = true;
    }
  }
  return changed ? url.href : text;
}
