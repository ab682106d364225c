/**
 * Normalisers for comparing an output with its expected value: each turns "the same answer
 * written differently" into one form. Strings and numbers are normalised; objects and lists
 * member by member. Which ones apply is the dataset's or the gate's choice; none by default.
 */

export type Normaliser = 'case' | 'whitespace' | 'numbers' | 'dates';

export const NORMALISERS: readonly Normaliser[] = ['case', 'whitespace', 'numbers', 'dates'];

/** "1,234.50", " 1234.5 " and 1234.5 are one number; a string is a number only when all of it is. */
const NUMBER = /^[+-]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$/;
/** Dates written as ISO (2026-12-07, with or without a time) or as words ("7 Dec 2026", "December 7, 2026"). */
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAY_MONTH_YEAR = /^(\d{1,2})(?:st|nd|rd|th)? ([a-z]+)\.?,? (\d{4})$/i;
const MONTH_DAY_YEAR = /^([a-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?,? (\d{4})$/i;

/** The value with every normaliser in `which` applied, for comparison (never shown to anyone). */
export function normalise(value: unknown, which: readonly Normaliser[]): unknown {
  if (which.length === 0) return value;
  if (Array.isArray(value)) return value.map((item) => normalise(item, which));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value as Record<string, unknown>).map(([key, item]) => [key, normalise(item, which)]));
  if (typeof value !== 'string') return value;
  let text = value;
  if (which.includes('whitespace')) text = text.replace(/\s+/g, ' ').trim();
  if (which.includes('numbers')) {
    const bare = text.trim();
    if (NUMBER.test(bare)) return Number(bare.replace(/,/g, ''));
  }
  if (which.includes('dates')) {
    const date = isoDate(text.trim());
    if (date) return date;
  }
  if (which.includes('case')) text = text.toLowerCase();
  return text;
}

/** YYYY-MM-DD for a date written in one of the forms above (a time of day is dropped), else undefined. */
function isoDate(text: string): string | undefined {
  const iso = ISO_DATE.exec(text);
  if (iso) return valid(Number(iso[1]), Number(iso[2]), Number(iso[3]));
  const dmy = DAY_MONTH_YEAR.exec(text);
  if (dmy) return valid(Number(dmy[3]), month(dmy[2]), Number(dmy[1]));
  const mdy = MONTH_DAY_YEAR.exec(text);
  if (mdy) return valid(Number(mdy[3]), month(mdy[1]), Number(mdy[2]));
  return undefined;
}

function month(name: string): number {
  return MONTHS.indexOf(name.slice(0, 3).toLowerCase()) + 1;
}

function valid(year: number, month: number, day: number): string | undefined {
  if (month < 1 || month > 12 || day < 1) return undefined;
  const date = new Date(Date.UTC(year, month - 1, day));
  if (date.getUTCMonth() !== month - 1) return undefined; // 31 February
  return `${String(year).padStart(4, '0')}-${String(month).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}
