import mustache from 'mustache';

/**
 * Prompt templates: Mustache (logic-less) over the task input. `{{customer.name}}` inserts
 * a value (objects and arrays as JSON), `{{#items}}…{{/items}}` iterates. No HTML escaping:
 * prompts are not HTML. Variables are checked against the input schema when a task is
 * loaded, so a typo fails the push, not a production run.
 */

type Token = [string, string, number, number, Token[]?, number?];
type Schema = Record<string, unknown>;

const render = (value: unknown): string => (typeof value === 'string' ? value : JSON.stringify(value));

/** Renders a template with the (validated) input. */
export function renderTemplate(template: string, input: unknown): string {
  return mustache.render(template, input, undefined, { escape: render });
}

/** Problems with a template: syntax errors, and variables the input schema does not define. */
export function templateProblems(template: string, inputSchema: Schema): string[] {
  let tokens: Token[];
  try {
    tokens = mustache.parse(template) as Token[];
  } catch (error) {
    return [`template syntax error: ${(error as Error).message}`];
  }
  const problems: string[] = [];
  walk(tokens, [inputSchema], problems);
  return problems;
}

function walk(tokens: Token[], scopes: Schema[], problems: string[]): void {
  for (const token of tokens) {
    const [kind, name, , , children] = token;
    if (kind === 'text' || kind === '!' || kind === '=' || kind === '>') continue;
    const resolved = name === '.' ? scopes[0] : resolvePath(name, scopes);
    if (resolved === undefined) {
      problems.push(`unknown variable "{{${name}}}": not a property of the input schema`);
      continue;
    }
    if ((kind === '#' || kind === '^') && children) {
      // Inside a section over an array, names resolve against the item schema first.
      const items = resolved.type === 'array' && isSchema(resolved.items) ? resolved.items : resolved;
      walk(children, [items, ...scopes], problems);
    }
  }
}

function resolvePath(path: string, scopes: Schema[]): Schema | undefined {
  const [head, ...rest] = path.split('.');
  for (const scope of scopes) {
    let current = property(scope, head);
    for (const segment of rest) {
      if (!current) break;
      current = property(current, segment);
    }
    if (current) return current;
  }
  return undefined;
}

function property(schema: Schema, name: string): Schema | undefined {
  const properties = schema.properties;
  if (isSchema(properties) && isSchema(properties[name])) return properties[name] as Schema;
  // Open objects (additionalProperties true or a schema) accept any name.
  if (schema.type === 'object' && schema.additionalProperties !== undefined && schema.additionalProperties !== false && !isSchema(properties)) {
    return isSchema(schema.additionalProperties) ? schema.additionalProperties : {};
  }
  for (const key of ['allOf', 'anyOf', 'oneOf'] as const) {
    const branches = schema[key];
    if (Array.isArray(branches)) {
      for (const branch of branches) {
        const found = isSchema(branch) ? property(branch, name) : undefined;
        if (found) return found;
      }
    }
  }
  return undefined;
}

function isSchema(value: unknown): value is Schema {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
