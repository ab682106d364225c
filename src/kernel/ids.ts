import { randomFillSync } from 'node:crypto';

/** Sortable, URL-safe ids: a time prefix (ms, base36) and 64 random bits. */
export function newId(prefix: string, now: number = Date.now()): string {
  const time = now.toString(36).padStart(9, '0');
  return `${prefix}_${time}${randomHex8()}`;
}

export type IdGenerator = (prefix: string) => string;
export type Clock = () => number;

// One system call fills randomness for 512 ids (every request makes two: request and run id).
const POOL = Buffer.alloc(4096);
let offset = POOL.length;

function randomHex8(): string {
  if (offset + 8 > POOL.length) {
    randomFillSync(POOL);
    offset = 0;
  }
  const hex = POOL.toString('hex', offset, offset + 8);
  offset += 8;
  return hex;
}
