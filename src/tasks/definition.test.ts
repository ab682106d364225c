import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../kernel/errors.js';
import { parseTaskDefinition, resolveRoute, taskVersion } from './definition.js';
import { testRouteConfig, triageDefinition } from './test-fixtures.js';

function issuesOf(raw: unknown): Array<{ path: string; message: string }> {
  try {
    parseTaskDefinition(raw, testRouteConfig, 'triage.yaml');
  } catch (error) {
    expect((error as GroundworkError).code).toBe('TASK_DEFINITION_INVALID');
    return (error as GroundworkError).details.issues as Array<{ path: string; message: string }>;
  }
  throw new Error('expected TASK_DEFINITION_INVALID');
}

describe('parseTaskDefinition', () => {
  it('accepts a valid definition and fills limit defaults', () => {
    const definition = parseTaskDefinition(triageDefinition(), testRouteConfig);
    expect(definition.limits).toEqual({ timeout_ms: 30_000, max_output_tokens: 1_024 });
    expect(resolveRoute(definition.route, testRouteConfig)).toEqual(['small', 'large']);
  });

  it('rejects unknown fields and bad names with their paths', () => {
    const paths = issuesOf({ ...triageDefinition(), name: 'Bad Name', colour: 'red' }).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['name', '(root)']));
  });

  it('rejects an invalid JSON Schema, naming which schema', () => {
    const issues = issuesOf(triageDefinition({ output_schema: { type: 'object', properties: { a: { type: 'strnig' } } } }));
    expect(issues[0].path).toBe('output_schema');
    expect(issues[0].message).toMatch(/invalid JSON Schema/);
  });

  it('rejects template variables the input schema does not define', () => {
    const issues = issuesOf(triageDefinition({ prompt: { user: 'Hello {{custmer.name}} {{subject}} {{#tags}}{{lable}}{{/tags}}' } }));
    expect(issues).toEqual([
      { path: 'prompt.user', message: expect.stringContaining('{{custmer.name}}') },
      { path: 'prompt.user', message: expect.stringContaining('{{lable}}') },
    ]);
  });

  it('rejects template syntax errors', () => {
    const issues = issuesOf(triageDefinition({ prompt: { user: '{{#tags}} unclosed' } }));
    expect(issues[0].message).toMatch(/template syntax error/);
  });

  it('rejects unknown routes, unknown models and models whose API key is missing', () => {
    expect(issuesOf(triageDefinition({ route: 'fast' }))[0]).toEqual({ path: 'route', message: expect.stringContaining('unknown route "fast"') });
    expect(issuesOf(triageDefinition({ route: ['small', 'gpt-9'] }))[0]).toEqual({
      path: 'route[1]',
      message: expect.stringContaining('unknown model "gpt-9"'),
    });
    expect(issuesOf(triageDefinition({ route: 'needs_key' }))[0].message).toMatch(/KEYED_API_KEY is not set/);
  });

  it('refuses route and model names that only exist on Object.prototype (found by the fuzz suite: a 500 before)', () => {
    for (const route of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(() => parseTaskDefinition(triageDefinition({ route }), testRouteConfig), route).toThrow(
        expect.objectContaining({ code: 'TASK_DEFINITION_INVALID' }),
      );
      expect(() => parseTaskDefinition(triageDefinition({ route: [route] }), testRouteConfig), route).toThrow(
        expect.objectContaining({ code: 'TASK_DEFINITION_INVALID' }),
      );
    }
  });

  it('takes an eval block (dataset, gate, normalisers) and reports each bad gate threshold at eval.gate', () => {
    const gate = { schema_valid: { min: 1 }, 'field:category': { max_drop: 0.02 }, latency_p95_ms: { max_rise: 500 } };
    const definition = parseTaskDefinition({ ...triageDefinition(), eval: { dataset: 'ticket-triage', gate, normalisers: ['case'] } }, testRouteConfig);
    expect(definition.eval).toEqual({ dataset: 'ticket-triage', gate, normalisers: ['case'], k: 10 });
    // A task without one keeps the version it had before the block existed (stored versions stay valid).
    expect(taskVersion(parseTaskDefinition(triageDefinition(), testRouteConfig))).toBe('cdb0a0a3984b9b54');
    expect(parseTaskDefinition(triageDefinition(), testRouteConfig)).not.toHaveProperty('eval');

    const issues = issuesOf({ ...triageDefinition(), eval: { dataset: 'ticket-triage', gate: { accuracy: { min: 0.9 }, cost_usd: { max_drop: 1 } } } });
    expect(issues).toEqual([
      { path: 'eval.gate', message: expect.stringMatching(/"accuracy" is not a metric/) },
      { path: 'eval.gate', message: expect.stringMatching(/"cost_usd" is better lower/) },
    ]);
    expect(issuesOf({ ...triageDefinition(), eval: { dataset: 'Bad Name!' } }).map((i) => i.path)).toEqual(['eval.dataset']);
    expect(issuesOf({ ...triageDefinition(), eval: { dataset: 'd', normalisers: ['emoji'] } }).map((i) => i.path)).toEqual(['eval.normalisers.0']);
  });

  it('requires an object input schema', () => {
    expect(issuesOf(triageDefinition({ input_schema: { type: 'string' }, prompt: { user: 'x' } }))[0].path).toBe('input_schema.type');
  });
});

describe('taskVersion', () => {
  it('is a content hash: same content in another key order gives the same version, any change a new one', () => {
    const a = parseTaskDefinition(triageDefinition(), testRouteConfig);
    const reordered = Object.fromEntries(Object.entries(triageDefinition()).reverse());
    const b = parseTaskDefinition(reordered, testRouteConfig);
    expect(taskVersion(a)).toBe(taskVersion(b));
    expect(taskVersion(a)).toMatch(/^[0-9a-f]{16}$/);
    const c = parseTaskDefinition(triageDefinition({ description: 'changed' }), testRouteConfig);
    expect(taskVersion(c)).not.toBe(taskVersion(a));
  });
});
