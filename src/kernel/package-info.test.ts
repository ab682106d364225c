import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { packageRoot, packageVersion } from './package-info.js';

describe('package info', () => {
  it('finds the package root and reads the version from its package.json', () => {
    const manifestUrl = new URL('../../package.json', import.meta.url);
    const manifest = JSON.parse(readFileSync(manifestUrl, 'utf8')) as { version: string };
    expect(packageRoot()).toBe(fileURLToPath(new URL('.', manifestUrl)).replace(/\/$/, ''));
    expect(packageVersion()).toBe(manifest.version);
  });
});
