import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../kernel/errors.js';
import { loadTaskFiles } from './task-files.js';
import { testRouteConfig, triageDefinition } from './test-fixtures.js';

function folder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-tasks-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function failure(dir: string): GroundworkError {
  try {
    loadTaskFiles(dir, testRouteConfig);
  } catch (error) {
    return error as GroundworkError;
  }
  throw new Error('expected a failure');
}

describe('loadTaskFiles', () => {
  it('loads YAML and JSON files and ignores other files', () => {
    const dir = folder({
      'triage.yaml': stringify(triageDefinition()),
      'other.json': JSON.stringify(triageDefinition({ name: 'other' })),
      'notes.txt': 'not a task',
    });
    expect(
      loadTaskFiles(dir, testRouteConfig)
        .map((f) => f.definition.name)
        .sort(),
    ).toEqual(['other', 'triage']);
  });

  it('is all-or-nothing: one bad file fails the load and every problem names its file', () => {
    const dir = folder({
      'a-good.yaml': stringify(triageDefinition()),
      'b-bad-yaml.yaml': 'name: [unclosed',
      'c-bad-template.yaml': stringify(triageDefinition({ name: 'c', prompt: { user: '{{nope}}' } })),
      'd-dupe.yaml': stringify(triageDefinition()),
    });
    const error = failure(dir);
    expect(error.code).toBe('TASK_DEFINITION_INVALID');
    const issues = error.details.issues as Array<{ file: string; path: string; message: string }>;
    expect(issues.map((i) => i.file)).toEqual(['b-bad-yaml.yaml', 'c-bad-template.yaml', 'd-dupe.yaml']);
    expect(issues[0].message).toMatch(/line 1/);
    expect(issues[2].message).toMatch(/also defined in a-good.yaml/);
    expect(error.message).toMatch(/nothing was applied/);
  });

  it('rejects duplicate YAML keys instead of silently taking the last', () => {
    const dir = folder({ 't.yaml': `${stringify(triageDefinition())}name: again\n` });
    expect(failure(dir).message).toMatch(/unique|duplicate/i);
  });

  it('says when the folder does not exist', () => {
    expect(failure('/nonexistent/tasks').message).toMatch(/does not exist/);
  });
});
