import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { buildProgram, normaliseArgs } from './program.js';

describe('groundwork --version', () => {
  it('is the version written in package.json', () => {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(buildProgram().version()).toBe(manifest.version);
  });
});

describe('normaliseArgs', () => {
  it('hands `--version <hash>` after run or eval to the subcommand, and leaves the program’s --version alone', () => {
    expect(normaliseArgs(['run', 'triage', '--version', 'abc123', '--input', 'x.json'])).toEqual(['run', 'triage', '--version=abc123', '--input', 'x.json']);
    expect(normaliseArgs(['--json', 'eval', 'triage', '--dataset', 'd.jsonl', '--version', 'abc'])).toEqual([
      '--json',
      'eval',
      'triage',
      '--dataset',
      'd.jsonl',
      '--version=abc',
    ]);
    expect(normaliseArgs(['--version'])).toEqual(['--version']);
    expect(normaliseArgs(['tasks', 'list', '--version'])).toEqual(['tasks', 'list', '--version']);
  });
});
