import fc from 'fast-check';
import { POLLUTION_MARKER } from './hostile.js';

/**
 * multipart/form-data uploads for the document ingest route: hostile file names (traversal,
 * NUL, drive letters, over-long), contents (empty, binary, invalid UTF-8, past the upload
 * limit, formats that lie about themselves), metadata fields (malformed, deep, too big) and
 * broken framing. Built by hand: a form library would refuse to write most of these.
 */

interface FilePart {
  filename: string;
  content: Buffer;
  type: string;
}

/** One generated multipart body and the content type that announces it. */
export interface MultipartBody {
  contentType: string;
  payload: Buffer;
}

const fileName = fc.constantFrom(
  'a.md',
  'docs/b.txt',
  'data.csv',
  'rows.jsonl',
  'page.html',
  'paper.pdf',
  'letter.docx',
  'archive.zip',
  'noext',
  '../../etc/passwd.md',
  '/abs/path.md',
  'C:\\Windows\\x.md',
  '..\\..\\y.md',
  'a\u0000b.md',
  'tab\there.md',
  '',
  '.',
  '..',
  `${'n'.repeat(600)}.md`,
  '%2e%2e/z.md',
  '\u202etxt.md',
  'a.md',
);

const content = fc.constantFrom(
  Buffer.from('# Title\n\nSome text about refunds.'),
  Buffer.alloc(0),
  Buffer.alloc(256, 0),
  Buffer.from([0xed, 0xa0, 0x80, 0x41, 0xc0, 0xaf]),
  Buffer.from('x'.repeat(70 * 1024)),
  Buffer.from('%PDF-1.4\n%garbage that is no pdf'),
  Buffer.from('PK\u0003\u0004garbage that is no zip'),
  Buffer.from('<html><script>alert(1)</script><p>hi</p></html>'),
  Buffer.from('a,b\n1,"unterminated\n'),
  Buffer.from('{"a":1}\n{"b":\n'),
  Buffer.from(`${'['.repeat(10_000)}${']'.repeat(10_000)}`),
  Buffer.from('\ufeff\ufeffbom twice'),
);

const metadataField = fc.constantFrom<string | undefined>(
  undefined,
  '{"lang":"en"}',
  'not json',
  '[]',
  'null',
  `${'{"a":'.repeat(100)}1${'}'.repeat(100)}`,
  `{"__proto__":{"${POLLUTION_MARKER}":1}}`,
  JSON.stringify(Object.fromEntries(Array.from({ length: 60 }, (_, i) => [`k${i}`, i]))),
  JSON.stringify({ big: 'y'.repeat(70 * 1024) }),
  '{"a":"\\u0000"}',
);

const framing = fc.constantFrom('ok', 'ok', 'ok', 'no-closing-boundary', 'wrong-boundary', 'no-boundary-param', 'junk-preamble', 'part-without-disposition');

export const multipartArbitrary: fc.Arbitrary<MultipartBody> = fc
  .record({
    files: fc.array(
      fc.record({ filename: fileName, content, type: fc.constantFrom('text/plain', 'application/octet-stream', 'application/pdf', 'text/html') }),
      { minLength: 0, maxLength: 6 },
    ),
    metadata: metadataField,
    framing,
  })
  .map(({ files, metadata, framing: frame }) => buildMultipart(files, metadata, frame));

/** Uploads that should ingest: one or two plain files, metadata or not. */
export const validMultipartArbitrary: fc.Arbitrary<MultipartBody> = fc
  .record({
    files: fc.array(
      fc.record({
        filename: fc.constantFrom('a.md', 'docs/b.txt', 'data.csv', 'page.html'),
        content: fc.constant(Buffer.from('# Title\n\nSome text about refunds.')),
        type: fc.constant('text/plain'),
      }),
      { minLength: 1, maxLength: 2 },
    ),
    metadata: fc.constantFrom(undefined, '{"lang":"en"}'),
  })
  .map(({ files, metadata }) => buildMultipart(files, metadata, 'ok'));

function buildMultipart(files: FilePart[], metadata: string | undefined, frame: string): MultipartBody {
  const boundary = 'fzboundary7Q3X';
  const chunks: Buffer[] = [];
  const add = (text: string | Buffer) => chunks.push(typeof text === 'string' ? Buffer.from(text, 'utf8') : text);
  if (frame === 'junk-preamble') add('this is a preamble nobody reads\r\n');
  if (metadata !== undefined) add(`--${boundary}\r\nContent-Disposition: form-data; name="metadata"\r\n\r\n${metadata}\r\n`);
  for (const file of files) {
    const disposition =
      frame === 'part-without-disposition' ? '' : `Content-Disposition: form-data; name="file"; filename="${file.filename.replaceAll('"', '%22')}"\r\n`;
    add(`--${boundary}\r\n${disposition}Content-Type: ${file.type}\r\n\r\n`);
    add(file.content);
    add('\r\n');
  }
  if (frame !== 'no-closing-boundary') add(`--${boundary}--\r\n`);
  const announced = frame === 'wrong-boundary' ? 'somethingelse' : boundary;
  return {
    contentType: frame === 'no-boundary-param' ? 'multipart/form-data' : `multipart/form-data; boundary=${announced}`,
    payload: Buffer.concat(chunks),
  };
}
