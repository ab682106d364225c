import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { strToU8, zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { GroundworkError, type ErrorCode } from '../kernel/errors.js';
import { parseDocument, type ParseInput } from './parse.js';

const fixture = (name: string): Uint8Array => readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)));
const parseFixture = (name: string, extra: Partial<ParseInput> = {}) => parseDocument({ filename: name, bytes: fixture(name), ...extra });

async function expectFailure(input: Promise<unknown>, code: ErrorCode, filename: string): Promise<GroundworkError> {
  const error = await input.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(GroundworkError);
  const typed = error as GroundworkError;
  expect(typed.code).toBe(code);
  expect(typed.message.startsWith(`${filename}: `)).toBe(true);
  expect(typed.details.filename).toBe(filename);
  return typed;
}

describe('parseDocument: formats', () => {
  it('splits plain text into paragraphs on blank lines', async () => {
    const doc = await parseFixture('sample.txt');
    expect(doc.format).toBe('text');
    expect(doc.title).toBeUndefined();
    expect(doc.blocks.map((block) => block.kind)).toEqual(['paragraph', 'paragraph', 'paragraph']);
    expect(doc.blocks[1].text).toBe('To scale out, point DATABASE_URL at PostgreSQL with pgvector.\nAny number of stateless replicas can then serve requests.');
  });

  it('reads Markdown headings with levels, list items, code and tables, without markup', async () => {
    const doc = await parseFixture('sample.md');
    expect(doc.format).toBe('markdown');
    expect(doc.title).toBe('Release Guide');
    expect(doc.blocks).toEqual([
      { kind: 'heading', level: 1, text: 'Release Guide' },
      { kind: 'paragraph', text: 'Every release starts from a green main branch.' },
      { kind: 'heading', level: 2, text: 'Checklist' },
      { kind: 'paragraph', text: 'Run the full test suite.' },
      { kind: 'paragraph', text: 'Update the changelog with user-visible changes.' },
      { kind: 'paragraph', text: 'Tag the commit as vX.Y.Z.' },
      { kind: 'heading', level: 2, text: 'Commands' },
      { kind: 'paragraph', text: 'npm test\nnpm run build' },
      { kind: 'heading', level: 3, text: 'Supported platforms' },
      { kind: 'record', text: 'os: linux; arch: x64' },
      { kind: 'record', text: 'os: macos; arch: arm64' },
      { kind: 'paragraph', text: 'Q&A goes to the release channel.' },
    ]);
  });

  it('keeps the article of a web page and drops navigation, banners, sidebars, footers, forms and scripts', async () => {
    const doc = await parseFixture('sample.html');
    expect(doc.format).toBe('html');
    expect(doc.title).toBe('Quarterly Report & Outlook');
    expect(doc.blocks).toEqual([
      { kind: 'heading', level: 1, text: 'Quarterly Report' },
      { kind: 'paragraph', text: 'Revenue grew by 12 percent compared with the previous quarter.' },
      { kind: 'heading', level: 2, text: 'Regions' },
      { kind: 'paragraph', text: 'Europe led the growth, followed by Asia.' },
      { kind: 'paragraph', text: 'Europe: 18 percent' },
      { kind: 'paragraph', text: 'Asia: 9 percent' },
      { kind: 'heading', level: 3, text: 'Headcount' },
      { kind: 'record', text: 'Team: Sales; People: 40' },
      { kind: 'record', text: 'Team: Support; People: 25' },
    ]);
    const all = doc.blocks.map((block) => block.text).join(' ');
    for (const noise of ['Products menu', 'Header banner', 'Sidebar', 'Copyright', 'newsletter', 'tracking', 'font-family']) {
      expect(all).not.toContain(noise);
    }
  });

  it('falls back to <body> when a page has no <main> or <article>, still without its chrome', async () => {
    const html =
      '<html><body><header>Site banner</header><nav>Menu</nav><section><header><h2>Intro</h2></header><p>Body text.</p></section><footer>Legal</footer></body></html>';
    const doc = await parseDocument({ filename: 'page.htm', bytes: strToU8(html) });
    expect(doc.blocks).toEqual([
      { kind: 'heading', level: 2, text: 'Intro' },
      { kind: 'paragraph', text: 'Body text.' },
    ]);
  });

  it('extracts PDF text per page with the metadata title', async () => {
    const doc = await parseFixture('sample.pdf');
    expect(doc).toMatchObject({ format: 'pdf', title: 'Harbor Operations Manual', pages: 2 });
    expect(doc.blocks.every((block) => block.kind === 'paragraph' && block.page !== undefined)).toBe(true);
    const pageText = (page: number) => doc.blocks.filter((block) => block.page === page).map((block) => block.text);
    expect(pageText(1)).toEqual(['Chapter One: Arrivals', 'The harbor opens at dawn for fishing boats.', 'Pilots board every tanker.']);
    expect(pageText(2)).toEqual(['Chapter Two: Departures', 'The ferry leaves at noon from pier four.', 'Cargo ships wait for the tide.']);
  });

  it('reads DOCX headings and paragraphs, with the core-properties title', async () => {
    const doc = await parseFixture('sample.docx');
    expect(doc.format).toBe('docx');
    expect(doc.title).toBe('Onboarding Guide');
    expect(doc.blocks).toEqual([
      { kind: 'heading', level: 1, text: 'Onboarding Guide' },
      { kind: 'paragraph', text: 'Welcome to the team. This guide covers your first week.' },
      { kind: 'heading', level: 2, text: 'Accounts' },
      { kind: 'paragraph', text: 'Your laptop arrives on Monday with single sign-on already set up.' },
      { kind: 'heading', level: 2, text: 'Meetings' },
      { kind: 'paragraph', text: 'The weekly planning meeting happens on Tuesday mornings.' },
    ]);
  });

  it('turns each CSV row into a record named by the header, honouring quotes', async () => {
    const doc = await parseFixture('sample.csv');
    expect(doc.blocks).toEqual([
      { kind: 'record', text: 'name: Ada Lovelace; city: London; role: analyst' },
      { kind: 'record', text: 'name: Grace Hopper; city: Arlington, VA; role: rear admiral' },
      { kind: 'record', text: 'name: Alan Turing; city: Manchester; role: mathematician, "codebreaker"' },
    ]);
  });

  it('detects semicolon-separated CSV', async () => {
    const doc = await parseDocument({ filename: 'eu.csv', bytes: strToU8('Produkt;Preis\nKäse;3,50\n') });
    expect(doc.blocks).toEqual([{ kind: 'record', text: 'Produkt: Käse; Preis: 3,50' }]);
  });

  it('makes one record per object of a JSON array, flattening nested fields', async () => {
    const doc = await parseFixture('sample.json');
    expect(doc.blocks.map((block) => block.text)).toEqual([
      'id: 1; name: Widget; price: 9.99; tags: tools, metal',
      'id: 2; name: Gadget; price: 24.5; dimensions.width: 10; dimensions.height: 4',
      'id: 3; name: Gizmo; discontinued: true; notes: null',
    ]);
    expect(doc.blocks.every((block) => block.kind === 'record')).toBe(true);
  });

  it('flattens a JSON object into path: value records', async () => {
    const json = JSON.stringify({ service: { name: 'api', replicas: 3 }, regions: ['eu', 'us'], owners: [{ team: 'core' }] });
    const doc = await parseDocument({ filename: 'config.json', bytes: strToU8(json) });
    expect(doc.blocks.map((block) => block.text)).toEqual(['service.name: api', 'service.replicas: 3', 'regions: eu, us', 'owners[0].team: core']);
  });

  it('makes one record per JSON Lines line, skipping blank lines', async () => {
    const doc = await parseFixture('sample.jsonl');
    expect(doc.blocks.map((block) => block.text)).toEqual([
      'level: info; msg: server started; port: 8080',
      'level: warn; msg: slow query; ms: 950',
      'level: error; msg: disk full',
    ]);
  });

  it('decodes windows-1252, UTF-16LE with BOM and UTF-8 with BOM', async () => {
    const latin = await parseFixture('latin1.txt');
    expect(latin.blocks.map((block) => block.text)).toEqual(['Café crème à la carte.', 'Le garçon répond: très bien, señor — naïve façade.']);
    const utf16 = await parseFixture('utf16.txt');
    expect(utf16.blocks.map((block) => block.text)).toEqual(['Grüße aus Köln.', 'Zweiter Absatz über Straßen.']);
    const bom = await parseDocument({ filename: 'bom.md', bytes: new Uint8Array([0xef, 0xbb, 0xbf, ...strToU8('# Überschrift')]) });
    expect(bom.blocks).toEqual([{ kind: 'heading', level: 1, text: 'Überschrift' }]);
  });

  it('sniffs the format of files without an extension, and honours a MIME type', async () => {
    const sniff = async (name: string, bytes: Uint8Array, mime?: string) => (await parseDocument({ filename: 'upload', bytes, mime })).format;
    expect(await sniff('pdf', fixture('sample.pdf'))).toBe('pdf');
    expect(await sniff('docx', fixture('sample.docx'))).toBe('docx');
    expect(await sniff('html', strToU8('<!DOCTYPE html><html><body><p>Hi there.</p></body></html>'))).toBe('html');
    expect(await sniff('json', fixture('sample.json'))).toBe('json');
    expect(await sniff('jsonl', fixture('sample.jsonl'))).toBe('jsonl');
    expect(await sniff('text', fixture('sample.txt'))).toBe('text');
    expect(await sniff('mime', fixture('sample.md'), 'text/markdown; charset=utf-8')).toBe('markdown');
  });

  it('parses a 2 MB single-line text file quickly', async () => {
    const line = 'lorem ipsum dolor sit amet '.repeat(80_000).slice(0, 2_000_000);
    const started = performance.now();
    const doc = await parseDocument({ filename: 'long-line.txt', bytes: strToU8(line) });
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(doc.blocks).toHaveLength(1);
    expect(doc.blocks[0].text).toBe(line.trim());
  });
});

describe('parseDocument: bad input', () => {
  it('refuses a password-protected PDF', async () => {
    await expectFailure(parseFixture('encrypted.pdf'), 'INGEST_ENCRYPTED', 'encrypted.pdf');
  });

  it('refuses a corrupt PDF', async () => {
    await expectFailure(parseFixture('corrupt.pdf'), 'INGEST_PARSE_FAILED', 'corrupt.pdf');
  });

  it('refuses a DOCX zip bomb from its directory, without inflating it', async () => {
    const before = process.memoryUsage().rss;
    const started = performance.now();
    const error = await expectFailure(parseFixture('bomb.docx'), 'INGEST_LIMIT_EXCEEDED', 'bomb.docx');
    expect(error.message).toContain('word/document.xml');
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(process.memoryUsage().rss - before).toBeLessThan(50 * 1024 * 1024);
  });

  it('refuses a DOCX whose total inflated size exceeds maxDecompressedBytes', async () => {
    await expectFailure(parseFixture('sample.docx', { limits: { maxDecompressedBytes: 10_000 } }), 'INGEST_LIMIT_EXCEEDED', 'sample.docx');
  });

  it('refuses a DOCX whose entry inflates past the size its directory declares', async () => {
    const zip = zipSync({ '[Content_Types].xml': strToU8('<Types/>'), 'word/document.xml': new Uint8Array(1024 * 1024).fill(0x20) }, { level: 9 });
    lieAboutSize(zip, 'word/document.xml', 1000);
    const error = await expectFailure(parseDocument({ filename: 'liar.docx', bytes: zip }), 'INGEST_LIMIT_EXCEEDED', 'liar.docx');
    expect(error.message).toContain('declared');
  });

  it('refuses a DOCX that is not a ZIP, a legacy .doc, or a ZIP without a Word document', async () => {
    await expectFailure(parseDocument({ filename: 'broken.docx', bytes: strToU8('PK not really a zip') }), 'INGEST_PARSE_FAILED', 'broken.docx');
    const cfb = new Uint8Array(1024);
    cfb.set([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]);
    await expectFailure(parseDocument({ filename: 'old.docx', bytes: cfb }), 'INGEST_UNSUPPORTED_FORMAT', 'old.docx');
    const zip = zipSync({ 'xl/workbook.xml': strToU8('<workbook/>') });
    await expectFailure(parseDocument({ filename: 'sheet.docx', bytes: zip }), 'INGEST_PARSE_FAILED', 'sheet.docx');
  });

  it('refuses binary content behind a text extension', async () => {
    await expectFailure(parseFixture('binary.txt'), 'INGEST_BINARY_CONTENT', 'binary.txt');
  });

  it('refuses documents without text', async () => {
    await expectFailure(parseFixture('empty.md'), 'INGEST_EMPTY_DOCUMENT', 'empty.md');
    await expectFailure(parseDocument({ filename: 'zero.txt', bytes: new Uint8Array() }), 'INGEST_EMPTY_DOCUMENT', 'zero.txt');
    await expectFailure(parseDocument({ filename: 'blank.html', bytes: strToU8('<html><nav>Menu</nav></html>') }), 'INGEST_EMPTY_DOCUMENT', 'blank.html');
  });

  it('refuses unsupported formats by name', async () => {
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]);
    const error = await expectFailure(parseDocument({ filename: 'photo.png', bytes: png }), 'INGEST_UNSUPPORTED_FORMAT', 'photo.png');
    expect(error.message).toContain('.png');
    const xlsx = zipSync({ 'xl/workbook.xml': strToU8('<workbook/>') });
    await expectFailure(parseDocument({ filename: 'sheet.xlsx', bytes: xlsx }), 'INGEST_UNSUPPORTED_FORMAT', 'sheet.xlsx');
  });

  it('enforces the byte, page and character limits', async () => {
    await expectFailure(parseFixture('sample.txt', { limits: { maxBytes: 100 } }), 'INGEST_FILE_TOO_LARGE', 'sample.txt');
    await expectFailure(parseFixture('sample.pdf', { limits: { maxPages: 1 } }), 'INGEST_LIMIT_EXCEEDED', 'sample.pdf');
    await expectFailure(parseFixture('sample.txt', { limits: { maxChars: 50 } }), 'INGEST_LIMIT_EXCEEDED', 'sample.txt');
    await expectFailure(parseFixture('sample.pdf', { limits: { maxChars: 50 } }), 'INGEST_LIMIT_EXCEEDED', 'sample.pdf');
  });

  it('names the line of a bad JSON Lines record, and fails bad JSON and CSV as parse errors', async () => {
    const jsonl = strToU8('{"ok":true}\n{"broken":\n{"ok":false}\n');
    const error = await expectFailure(parseDocument({ filename: 'events.jsonl', bytes: jsonl }), 'INGEST_PARSE_FAILED', 'events.jsonl');
    expect(error.message).toContain('line 2');
    expect(error.details.line).toBe(2);
    await expectFailure(parseDocument({ filename: 'bad.json', bytes: strToU8('{"a": [1, 2') }), 'INGEST_PARSE_FAILED', 'bad.json');
    await expectFailure(parseDocument({ filename: 'bad.csv', bytes: strToU8('a,b\n"unterminated,1\n') }), 'INGEST_PARSE_FAILED', 'bad.csv');
  });

  it('keeps parsing good files after bad ones, also concurrently', async () => {
    const names = ['encrypted.pdf', 'sample.pdf', 'corrupt.pdf', 'bomb.docx', 'sample.docx', 'binary.txt', 'sample.html'];
    const results = await Promise.allSettled(names.map((name) => parseFixture(name)));
    expect(results.map((result) => result.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    for (const name of ['sample.pdf', 'sample.docx']) expect((await parseFixture(name)).blocks.length).toBeGreaterThan(0);
  });
});

/** Rewrites an entry's uncompressed size in both its local header and its central-directory record. */
function lieAboutSize(zip: Uint8Array, name: string, size: number): void {
  const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
  const target = new TextEncoder().encode(name);
  const matches = (at: number) => target.every((byte, i) => zip[at + i] === byte);
  for (let at = 0; at + 46 < zip.length; at++) {
    const signature = view.getUint32(at, true);
    if (signature === 0x04034b50 && view.getUint16(at + 26, true) === target.length && matches(at + 30)) view.setUint32(at + 22, size, true);
    if (signature === 0x02014b50 && view.getUint16(at + 28, true) === target.length && matches(at + 46)) view.setUint32(at + 24, size, true);
  }
}
