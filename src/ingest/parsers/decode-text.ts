import chardet from 'chardet';
import iconv from 'iconv-lite';
import { ingestError } from './ingest-error.js';

/** How much of the start of a file the binary check looks at. */
const SNIFF_BYTES = 8 * 1024;
/** Share of control characters above which a "text" file is really binary. */
const MAX_CONTROL_SHARE = 0.05;
/** chardet reads the whole buffer; a sample is as good a guess and keeps 20 MiB inputs cheap. */
const DETECT_SAMPLE_BYTES = 64 * 1024;

const BOMS: ReadonlyArray<{ bytes: number[]; encoding: string }> = [
  // UTF-32 first: its little-endian BOM starts with the UTF-16LE one.
  { bytes: [0xff, 0xfe, 0x00, 0x00], encoding: 'utf-32le' },
  { bytes: [0x00, 0x00, 0xfe, 0xff], encoding: 'utf-32be' },
  { bytes: [0xef, 0xbb, 0xbf], encoding: 'utf-8' },
  { bytes: [0xff, 0xfe], encoding: 'utf-16le' },
  { bytes: [0xfe, 0xff], encoding: 'utf-16be' },
];

/**
 * Bytes of a text-format file → string. A BOM decides the encoding; otherwise valid UTF-8
 * is UTF-8 (pure ASCII included) and anything else is detected statistically.
 */
export function decodeText(bytes: Uint8Array, filename: string): string {
  const bom = BOMS.find((candidate) => candidate.bytes.every((byte, i) => bytes[i] === byte));
  if (bom) {
    // Wide encodings are full of NUL bytes by design, so check the decoded characters.
    const text = iconv.decode(bytes, bom.encoding);
    if (looksBinary(text)) throw binaryError(filename);
    return text;
  }
  // Without a BOM the text is ASCII-compatible (or binary): control bytes below 0x20 never
  // occur inside multi-byte sequences of UTF-8, Shift_JIS, GB18030, Big5 or EUC-*.
  if (looksBinary(bytes)) throw binaryError(filename);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    // Not UTF-8: fall through to detection.
  }
  const detected = chardet.detect(bytes.subarray(0, DETECT_SAMPLE_BYTES));
  // Browsers decode "latin1" as windows-1252 too; it adds printable characters at 0x80–0x9F.
  const encoding = detected === 'ISO-8859-1' ? 'windows-1252' : detected;
  if (!encoding || !iconv.encodingExists(encoding)) {
    throw ingestError('INGEST_PARSE_FAILED', filename, encoding ? `text encoding ${encoding} is not supported` : 'text encoding could not be detected', {
      details: { encoding: encoding ?? null },
    });
  }
  return iconv.decode(bytes, encoding);
}

/** NUL, or too many other control characters, near the start. */
export function looksBinary(content: Uint8Array | string): boolean {
  const length = Math.min(content.length, SNIFF_BYTES);
  if (length === 0) return false;
  let controls = 0;
  for (let i = 0; i < length; i++) {
    const code = typeof content === 'string' ? content.charCodeAt(i) : content[i];
    if (code === 0) return true;
    // Tab, LF, VT, FF, CR and ESC (ANSI colours in logs) are normal in text.
    if ((code < 0x20 && code !== 9 && code !== 10 && code !== 11 && code !== 12 && code !== 13 && code !== 27) || code === 0x7f) {
      controls++;
    }
  }
  return controls / length > MAX_CONTROL_SHARE;
}

function binaryError(filename: string) {
  return ingestError('INGEST_BINARY_CONTENT', filename, 'file looks binary, not text (control characters in its first 8 KiB)');
}
