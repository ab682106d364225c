import { createHash } from 'node:crypto';
import { canonicalJson } from '../kernel/json.js';
import { z } from 'zod';
import { checkModelUsable, type Config } from '../config/config.js';
import { GroundworkError, type Issue } from '../kernel/errors.js';
import { parseGate } from '../evals/gate.js';
import { NORMALISERS } from '../evals/normalise.js';
import { compileSchema, schemaProblems } from './json-schema.js';
import { templateProblems } from './template.js';

/**
 * A task definition: the file format (YAML or JSON) users review in git. Validated as a
 * whole — shape, both JSON Schemas, template variables, route — so a bad file is
 * rejected with every problem at once and nothing of it is applied.
 */

const jsonSchemaObject = z.record(z.string(), z.unknown());

export const taskDefinitionSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lowercase letters, digits and dashes (max 63), starting with a letter or digit'),
    description: z.string().max(2_000).default(''),
    input_schema: jsonSchemaObject,
    output_schema: jsonSchemaObject,
    prompt: z
      .object({
        system: z.string().max(100_000).optional(),
        user: z.string().min(1).max(100_000),
      })
      .strict(),
    /** A route name from config `routes`, or an inline list of model names (cheapest first). */
    route: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    temperature: z.number().min(0).max(2).optional(),
    /**
     * Grounding: retrieve from a collection and give the prompt the numbered sources as
     * `{{{sources}}}`. Citations the model returns as `citations: [{ source, quote }]` are
     * verified; with nothing relevant retrieved the run abstains (TASK_ABSTAINED).
     */
    retrieval: z
      .object({
        collection: z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'must be a collection name'),
        /** Mustache over the input: the search query. */
        query: z.string().min(1).max(10_000),
        k: z.number().int().min(1).max(50).default(6),
        filters: z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.array(z.union([z.string(), z.number(), z.boolean()]))])).optional(),
        /** Relevance floor: a chunk counts if it shares a term with the query or reaches this embedding similarity. */
        min_similarity: z.number().min(0).max(1).default(0.2),
        max_source_tokens: z.number().int().min(100).max(200_000).default(3_000),
      })
      .strict()
      .optional(),
    limits: z
      .object({
        timeout_ms: z.number().int().min(100).max(600_000).default(30_000),
        max_output_tokens: z.number().int().min(1).max(200_000).default(1_024),
        max_cost_usd: z.number().positive().optional(),
      })
      .strict()
      .default({ timeout_ms: 30_000, max_output_tokens: 1_024 }),
    /**
     * Evaluation: the golden dataset the task is measured on and the gate a new version must
     * pass against the active one, e.g. `{ dataset: ticket-triage, gate: { schema_valid: { min: 1 },
     * "field:category": { max_drop: 0.02 } } }` (metric names: evals/gate.ts).
     */
    eval: z
      .object({
        dataset: z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'must be a dataset name (lowercase letters, digits, "_", "." and "-")'),
        gate: z.record(z.string(), z.unknown()).default({}),
        /** How outputs are compared with `expected` (exact and per-field match, token F1). */
        normalisers: z.array(z.enum(NORMALISERS)).default([]),
        /** k of recall@k and nDCG@k. */
        k: z.number().int().min(1).max(100).default(10),
        /** The LLM judge's rubric (metric `judge`, 0..1); needs `evals.judge_route` in the config. */
        judge: z
          .object({ rubric: z.string().min(1).max(4_000) })
          .strict()
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type TaskDefinition = z.infer<typeof taskDefinitionSchema>;

/** Config parts a definition is checked against. */
export type RouteConfig = Pick<Config, 'models' | 'providers' | 'routes'>;

/**
 * Validates a parsed definition (from a file or the API). Throws TASK_DEFINITION_INVALID
 * listing every problem, each with a path like `prompt.user` or `route[1]`.
 */
export function parseTaskDefinition(raw: unknown, config: RouteConfig, source = 'definition'): TaskDefinition {
  const parsed = taskDefinitionSchema.safeParse(raw);
  if (!parsed.success) {
    throw invalid(
      source,
      parsed.error.issues.map((i) => ({ path: i.path.join('.') || '(root)', message: i.message })),
    );
  }
  const definition = parsed.data;
  const issues: Issue[] = [
    ...schemaProblems(definition.input_schema).map((message) => ({ path: 'input_schema', message })),
    ...schemaProblems(definition.output_schema).map((message) => ({ path: 'output_schema', message })),
  ];
  if (issues.length === 0) {
    // A grounded task's templates may also use {{{sources}}}: the retrieved, numbered sources.
    const templateScope = definition.retrieval ? withSources(definition.input_schema) : definition.input_schema;
    issues.push(...templateProblems(definition.prompt.user, templateScope).map((message) => ({ path: 'prompt.user', message })));
    if (definition.prompt.system !== undefined) {
      issues.push(...templateProblems(definition.prompt.system, templateScope).map((message) => ({ path: 'prompt.system', message })));
    }
    if (definition.retrieval) {
      issues.push(...templateProblems(definition.retrieval.query, definition.input_schema).map((message) => ({ path: 'retrieval.query', message })));
      if (!/\{\{\{?\s*sources\s*\}?\}\}/.test(`${definition.prompt.system ?? ''}${definition.prompt.user}`)) {
        issues.push({ path: 'prompt.user', message: 'a task with retrieval must show the sources: add {{{sources}}} to the prompt' });
      }
      // A grounded answer leaves the server only with a verified citation, so it must be able to carry one.
      const citations = (definition.output_schema.properties as Record<string, { type?: unknown }> | undefined)?.citations;
      if (citations?.type !== 'array') {
        issues.push({
          path: 'output_schema',
          message: 'a task with retrieval must return citations: add a "citations" array of { source, quote } to output_schema.properties',
        });
      }
    }
    if (definition.input_schema.type !== 'object') {
      issues.push({ path: 'input_schema.type', message: 'must be "object" (task input is a JSON object)' });
    }
    compileSchema(definition.output_schema);
  }
  issues.push(...routeProblems(definition.route, config));
  if (definition.eval) issues.push(...gateProblems(definition.eval.gate));
  if (issues.length > 0) throw invalid(source, issues);
  return definition;
}

/** The route's model names, cheapest first. Assumes the definition was validated. */
export function resolveRoute(route: TaskDefinition['route'], config: RouteConfig): string[] {
  // Own names only: a client-chosen route such as "constructor" must not find Object's prototype.
  return typeof route === 'string' ? [...(Object.hasOwn(config.routes, route) ? config.routes[route] : [])] : [...route];
}

/** Content hash of a definition: the immutable version id. Key order does not matter. */
export function taskVersion(definition: TaskDefinition): string {
  return createHash('sha256').update(canonicalJson(definition)).digest('hex').slice(0, 16);
}

/** The gate's problems as definition issues (parseGate names each one). */
function gateProblems(gate: Record<string, unknown>): Issue[] {
  try {
    parseGate(gate);
    return [];
  } catch (error) {
    if (!(error instanceof GroundworkError) || error.code !== 'EVAL_GATE_INVALID') throw error;
    return ((error.details?.problems as string[] | undefined) ?? [error.message]).map((message) => ({ path: 'eval.gate', message }));
  }
}

function withSources(inputSchema: Record<string, unknown>): Record<string, unknown> {
  const properties = (inputSchema.properties as Record<string, unknown> | undefined) ?? {};
  return { ...inputSchema, properties: { ...properties, sources: { type: 'string' } } };
}

function routeProblems(route: TaskDefinition['route'], config: RouteConfig): Issue[] {
  if (typeof route === 'string' && !Object.hasOwn(config.routes, route)) {
    return [{ path: 'route', message: `unknown route "${route}" (configured: ${Object.keys(config.routes).join(', ') || 'none'})` }];
  }
  const path = typeof route === 'string' ? `route (${route})` : 'route';
  return resolveRoute(route, config).flatMap((model, index) => {
    const problem = checkModelUsable(model, config.models, config.providers);
    return problem ? [{ path: `${path}[${index}]`, message: problem }] : [];
  });
}

function invalid(source: string, issues: Issue[]): GroundworkError {
  return new GroundworkError('TASK_DEFINITION_INVALID', `${source} is not a valid task: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
    details: { source, issues },
  });
}
