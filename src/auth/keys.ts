import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API key format: `gwk_<8 base32 chars>_<43 base64url chars>` — 40 bits of visible prefix that
 * finds the row, 256 bits of secret. Only the SHA-256 of the whole key is stored; the prefix
 * is shown in listings so a key can be recognised without being recoverable.
 */

const KEY_PATTERN = /^(gwk_[a-z2-7]{8})_([A-Za-z0-9_-]{43})$/;
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

export interface GeneratedKey {
  key: string;
  prefix: string;
  hash: string;
}

export function generateKey(): GeneratedKey {
  const prefixBytes = randomBytes(8);
  let prefix = 'gwk_';
  for (let i = 0; i < 8; i++) prefix += BASE32[prefixBytes[i] & 31];
  const key = `${prefix}_${randomBytes(32).toString('base64url')}`;
  return { key, prefix, hash: hashKey(key) };
}

export function hashKey(key: string): string {
  return createHash('sha256').update(key).digest('hex');
}

/** The visible prefix of a well-formed key, or undefined for anything else. */
export function keyPrefix(key: string): string | undefined {
  return KEY_PATTERN.exec(key)?.[1];
}

/** Constant-time comparison of two hex SHA-256 digests. */
export function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, 'hex');
  const right = Buffer.from(b, 'hex');
  return left.length === right.length && left.length > 0 && timingSafeEqual(left, right);
}

/** The key from an `Authorization: Bearer <key>` header value; undefined when the header is absent. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === '') return undefined;
  const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
  return match ? match[1] : '';
}
