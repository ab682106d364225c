import { describe, expect, it } from 'vitest';
import { MAX_SOURCE_LENGTH, sanitizeSource } from './source-path.js';

describe('sanitizeSource', () => {
  it.each([
    ['../x.md', 'x.md'],
    ['../docs/travel.pdf', 'docs/travel.pdf'],
    ['../../../../etc/passwd', 'etc/passwd'],
    ['/etc/passwd', 'etc/passwd'],
    ['C:\\x\\y.md', 'x/y.md'],
    ['c:/x/y.md', 'x/y.md'],
    ['\\\\?\\C:\\docs\\a.md', 'docs/a.md'],
    ['\\\\.\\D:\\a.md', 'a.md'],
    ['\\\\?\\UNC\\server\\share\\a.md', 'server/share/a.md'],
    ['\\\\server\\share\\a.md', 'server/share/a.md'],
    ['a/./b/../c.md', 'a/c.md'],
    ['a//b///c.md', 'a/b/c.md'],
    ['./a.md', 'a.md'],
    ['a/b/../../../c.md', 'c.md'],
    ['C:x.md', 'C:x.md'],
    ['notes/..hidden.md', 'notes/..hidden.md'],
    ['Cafe\u0301.md', 'Café.md'],
    ['a/README.md', 'a/README.md'],
  ])('%j → %j', (raw, source) => {
    expect(sanitizeSource(raw)).toEqual({ ok: true, source });
    // Idempotent: what the CLI sends is what the server keeps.
    expect(sanitizeSource(source)).toEqual({ ok: true, source });
  });

  it.each([
    ['', 'empty'],
    ['..', 'empty'],
    ['/', 'empty'],
    ['C:\\', 'empty'],
    ['a/..', 'empty'],
    ['./.', 'empty'],
    ['a\u0000.md', 'control'],
    ['a\nb.md', 'control'],
    ['a\u0085.md', 'control'],
    ['invoice\u202egnp.exe', 'control'],
    ['x'.repeat(MAX_SOURCE_LENGTH + 1), `at most ${MAX_SOURCE_LENGTH}`],
  ])('refuses %j', (raw, why) => {
    const result = sanitizeSource(raw);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.problem).toContain(why);
  });

  it('accepts a source of exactly the maximum length, counted after sanitising', () => {
    const name = 'x'.repeat(MAX_SOURCE_LENGTH);
    expect(sanitizeSource(`../../${name}`)).toEqual({ ok: true, source: name });
  });
});
