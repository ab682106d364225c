import { describe, expect, it } from 'vitest';
import { renderTemplate, templateProblems } from './template.js';

describe('renderTemplate', () => {
  it('inserts values without HTML escaping, objects as JSON, and iterates arrays', () => {
    const text = renderTemplate('{{a}} <{{b.c}}> {{obj}} {{#items}}[{{name}}]{{/items}}', {
      a: 'Tom & "Jerry"',
      b: { c: 3 },
      obj: { x: 1 },
      items: [{ name: 'p' }, { name: 'q' }],
    });
    expect(text).toBe('Tom & "Jerry" <3> {"x":1} [p][q]');
  });

  it('renders missing optional values as empty', () => {
    expect(renderTemplate('[{{a.b}}]', {})).toBe('[]');
  });
});

describe('templateProblems', () => {
  const schema = {
    type: 'object',
    properties: {
      a: { type: 'string' },
      rows: { type: 'array', items: { type: 'object', properties: { id: { type: 'integer' } } } },
      meta: { type: 'object', additionalProperties: { type: 'string' } },
      either: { anyOf: [{ type: 'object', properties: { left: { type: 'string' } } }] },
    },
  };

  it('accepts known paths, item names inside sections, open objects and anyOf branches', () => {
    expect(templateProblems('{{a}} {{#rows}}{{id}}{{.}}{{/rows}} {{meta.anything}} {{either.left}} {{^a}}none{{/a}}', schema)).toEqual([]);
  });

  it('names each unknown variable', () => {
    expect(templateProblems('{{b}} {{#rows}}{{idx}}{{/rows}}', schema)).toEqual([expect.stringContaining('{{b}}'), expect.stringContaining('{{idx}}')]);
  });
});
