import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildProgram } from './program.js';

describe('groundwork --version', () => {
  it('is the version written in package.json', () => {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(buildProgram().version()).toBe(manifest.version);
  });
});
