import { describe, expect, it } from 'vitest';
import { periodWindow } from './periods.js';

describe('periodWindow', () => {
  it('gives UTC days and months, and a new window the moment one ends', () => {
    const lastMs = Date.parse('2025-01-31T23:59:59.999Z');
    expect(periodWindow('day', lastMs)).toEqual({ key: 'day:2025-01-31', start: new Date('2025-01-31T00:00:00Z'), end: new Date('2025-02-01T00:00:00Z') });
    expect(periodWindow('month', lastMs)).toEqual({ key: 'month:2025-01', start: new Date('2025-01-01T00:00:00Z'), end: new Date('2025-02-01T00:00:00Z') });
    // The window just computed is reused inside it, and never outside it, in either direction.
    expect(periodWindow('day', lastMs - 1000)).toBe(periodWindow('day', lastMs));
    expect(periodWindow('day', lastMs + 1).key).toBe('day:2025-02-01');
    expect(periodWindow('month', lastMs + 1).key).toBe('month:2025-02');
    expect(periodWindow('day', lastMs).key).toBe('day:2025-01-31');
    expect(periodWindow('month', Date.parse('2024-12-31T12:00:00Z'))).toMatchObject({ key: 'month:2024-12', end: new Date('2025-01-01T00:00:00Z') });
  });
});
