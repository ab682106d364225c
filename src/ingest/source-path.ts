/**
 * A document's source is the path the client gave, made relative and plain, so that two files
 * are two documents (`a/README.md`, `b/README.md`) and every way in — a multipart file name, a
 * JSON document's `source`, the CLI's relative path — names the same file the same way.
 * A source is a name in the store, never opened as a file; these rules keep it from reading as
 * an absolute or climbing path, and keep look-alike names (`./a.md`, `a.md`) one document.
 */

/** The longest source kept (the JSON schema's bound). */
export const MAX_SOURCE_LENGTH = 500;

/** A sanitised source, or why the name cannot be one. */
export type SourcePath = { ok: true; source: string } | { ok: false; problem: string };

// C0/C1 control characters, and the bidirectional overrides that make a name display as another.
const FORBIDDEN = /[\p{Cc}\u202a-\u202e\u2066-\u2069]/u;
// Windows device and long-path prefixes (`\\?\C:\…`, `\\.\…`, `\\?\UNC\server\share\…`), after `\` → `/`.
const DEVICE_PREFIX = /^\/\/[?.]\/(?:unc\/)?/i;
// A drive letter as a whole segment at the root (`C:/…`); `C:x.md` is a legal file name elsewhere and kept.
const DRIVE = /^[a-z]:$/i;

/**
 * `\` → `/`; Unicode NFC; device prefixes, drive letters and leading `/` dropped; empty and `.`
 * segments dropped; `..` resolved against the segments before it and dropped at the top, so a
 * source never climbs out (`../docs/travel.pdf` → `docs/travel.pdf`). Refuses control
 * characters, names that end up empty, and sources longer than MAX_SOURCE_LENGTH.
 * Idempotent: a sanitised source sanitises to itself.
 */
export function sanitizeSource(raw: string): SourcePath {
  if (FORBIDDEN.test(raw)) return { ok: false, problem: 'must not contain control characters' };
  const path = raw.normalize('NFC').replaceAll('\\', '/').replace(DEVICE_PREFIX, '');
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  while (segments.length > 0 && DRIVE.test(segments[0])) segments.shift();
  const source = segments.join('/');
  if (source === '') return { ok: false, problem: 'must name a file (it is empty once made relative)' };
  if (source.length > MAX_SOURCE_LENGTH) return { ok: false, problem: `must be at most ${MAX_SOURCE_LENGTH} characters` };
  return { ok: true, source };
}
