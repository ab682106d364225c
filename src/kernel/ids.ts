import { randomBytes } from 'node:crypto';

/** Sortable, URL-safe ids: a time prefix (ms, base36) and 64 random bits. */
export function newId(prefix: string, now: number = Date.now()): string {
  const time = now.toString(36).padStart(9, '0');
  return `${prefix}_${time}${randomBytes(8).toString('hex')}`;
}

export type IdGenerator = (prefix: string) => string;
export type Clock = () => number;
