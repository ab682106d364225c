import { findOne, textContent } from 'domutils';
import { parseDocument } from 'htmlparser2';
import mammoth from 'mammoth';
import { htmlBlocks } from './html.js';
import { describeError, ingestError } from './ingest-error.js';
import type { ParserContext } from './limits.js';
import { tidy, type ParsedContent } from './records.js';
import { guardZip } from './zip-guard.js';

const CORE_PROPERTIES = 'docProps/core.xml';
const MAIN_PART = 'word/document.xml';
/** Compound File Binary: legacy .doc, and the wrapper Office puts around encrypted OOXML. */
const CFB_MAGIC = [0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1];

/**
 * DOCX via mammoth (→ semantic HTML, headings kept from Word's styles) and the HTML block
 * walker. The ZIP is checked for bombs first, because mammoth inflates parts whole.
 */
export async function parseDocx(bytes: Uint8Array, context: ParserContext): Promise<ParsedContent> {
  const { filename } = context;
  if (CFB_MAGIC.every((byte, i) => bytes[i] === byte)) {
    // Encrypted OOXML keeps its key material in a stream named EncryptionInfo (UTF-16 name).
    const encrypted = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).includes(Buffer.from('EncryptionInfo', 'utf16le'));
    throw encrypted
      ? ingestError('INGEST_ENCRYPTED', filename, 'Word document is password-protected')
      : ingestError('INGEST_UNSUPPORTED_FORMAT', filename, 'legacy binary Word (.doc) files are not supported; save it as .docx');
  }
  const { names, kept } = await guardZip(bytes, context, [CORE_PROPERTIES]);
  if (!names.has(MAIN_PART)) {
    throw ingestError('INGEST_PARSE_FAILED', filename, `not a Word document: the archive has no ${MAIN_PART}`);
  }
  let html: string;
  try {
    const result = await mammoth.convertToHtml(
      { buffer: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) },
      {
        // Images carry no text; never read (inflate) them.
        convertImage: mammoth.images.imgElement(async () => ({ src: '' })),
        ignoreEmptyParagraphs: true,
        externalFileAccess: false,
      },
    );
    html = result.value;
  } catch (error) {
    throw ingestError('INGEST_PARSE_FAILED', filename, `Word document could not be read: ${describeError(error)}`, { cause: error });
  }
  const core = kept.get(CORE_PROPERTIES);
  return { title: core ? coreTitle(core) : undefined, blocks: htmlBlocks(html) };
}

/** dc:title from the package's core properties, if the author set one. */
function coreTitle(xml: Buffer): string | undefined {
  const document = parseDocument(xml.toString('utf8'), { xmlMode: true });
  const title = findOne((el) => el.name === 'dc:title', document.children);
  return (title && tidy(textContent(title))) || undefined;
}
