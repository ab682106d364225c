import { GroundworkError } from '../kernel/errors.js';
import { MAX_JSON_DEPTH, valueTooDeep } from '../kernel/json.js';
import type { TaskVersionRecord } from '../store/ports.js';
import { resolveRoute, taskDefinitionSchema, type RouteConfig, type TaskDefinition } from './definition.js';
import { validateValue } from './json-schema.js';

/**
 * A task version parsed once into what a run needs: the typed definition (the store keeps it
 * as JSON), its route resolved against this installation's config, and its input check. The
 * task service prepares each version once (versions are immutable) and every run, job and
 * eval uses the prepared form; nothing downstream casts the stored JSON again.
 */
export interface PreparedTask {
  readonly name: string;
  readonly version: string;
  readonly definition: TaskDefinition;
  /** The route's model names, cheapest first ([] when a named route is not configured here). */
  readonly models: readonly string[];
  /** What the route is called in messages: its name, or the inline models joined by ">". */
  readonly route: string;
  readonly active: boolean;
  readonly createdAt: Date;
  /**
   * Throws the typed refusal of an input: REQUEST_TOO_DEEP (nested deeper than HTTP bodies may
   * be), TASK_INPUT_INVALID with a path per problem. Called once per run, before any side effect.
   */
  checkInput(input: unknown): void;
}

export function prepareTask(record: TaskVersionRecord, config: RouteConfig): PreparedTask {
  // Stored versions were validated when they were pushed; parsing again gives the typed form
  // (defaults filled) and catches a row that no longer has the shape this code expects.
  const parsed = taskDefinitionSchema.safeParse(record.definition);
  if (!parsed.success) {
    throw new GroundworkError(
      'TASK_DEFINITION_INVALID',
      `stored version ${record.version} of task "${record.name}" no longer parses: ${parsed.error.issues[0]?.message ?? 'invalid'}`,
      {
        details: {
          task: record.name,
          version: record.version,
          issues: parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })),
        },
      },
    );
  }
  return fromDefinition(parsed.data, { version: record.version, active: record.active, createdAt: record.createdAt }, config);
}

/** A definition already parsed (built-in tasks such as `ask`, pushed files) as a prepared task. */
export function fromDefinition(definition: TaskDefinition, meta: { version: string; active: boolean; createdAt: Date }, config: RouteConfig): PreparedTask {
  const name = definition.name;
  return Object.freeze({
    name,
    version: meta.version,
    definition,
    models: Object.freeze(resolveRoute(definition.route, config)),
    route: typeof definition.route === 'string' ? definition.route : definition.route.join('>'),
    active: meta.active,
    createdAt: meta.createdAt,
    checkInput(input: unknown) {
      checkInput(name, definition.input_schema, input);
    },
  });
}

/** The input check of a task: depth first (the validator recurses), then the input schema. */
export function checkInput(taskName: string, inputSchema: Record<string, unknown>, input: unknown): void {
  if (valueTooDeep(input)) {
    throw new GroundworkError('REQUEST_TOO_DEEP', `input of task "${taskName}" nests deeper than ${MAX_JSON_DEPTH} levels`, {
      details: { issues: [{ path: 'input', message: `nested deeper than ${MAX_JSON_DEPTH} levels` }], max_depth: MAX_JSON_DEPTH },
    });
  }
  const issues = validateValue(inputSchema, input);
  if (issues.length > 0) {
    throw new GroundworkError('TASK_INPUT_INVALID', `input does not match the input schema of task "${taskName}"`, { details: { issues } });
  }
}
