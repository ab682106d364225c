import { taskVersion, type TaskDefinition } from './definition.js';
import { fromDefinition } from './prepared-task.js';
import type { TaskRunner } from './run-task.js';

/**
 * The eval's LLM judge: a rubric, the case's input, its expected output and the output to grade,
 * sent through a fixed judge route configured by the operator (`evals.judge_route`), answered as
 * `{ score: 0..1, reason }` with structured output, retries and failover like any task. Each
 * verdict is a recorded run of the built-in task `eval-judge`, with its own cost. With no judge
 * route configured there is no judge: callers refuse an eval that asks for one.
 */

export interface JudgeVerdict {
  score: number;
  reason: string;
  costUsd: number;
  runId: string;
}

export interface JudgeRequest {
  rubric: string;
  input: unknown;
  expected: unknown;
  output: unknown;
}

/** `evalId` tags the verdict's run with the eval it belongs to. */
export type Judge = (tenantId: string, request: JudgeRequest, options?: { signal?: AbortSignal; evalId?: string }) => Promise<JudgeVerdict>;

export const JUDGE_SYSTEM_PROMPT =
  'You grade the output of an AI task against a rubric. Judge only what the rubric asks; be strict and consistent; ' +
  'a reference output, when given, shows what a good answer contains. Reply with JSON only: ' +
  '{"score": a number from 0 (fails the rubric) to 1 (fully meets it), "reason": one sentence}.';

export function createJudge(deps: { runTask: TaskRunner; route: readonly string[]; timeoutMs: number }): Judge {
  const definition: TaskDefinition = {
    name: 'eval-judge',
    description: 'Grades an output against a rubric (built in; the eval judge).',
    input_schema: {
      type: 'object',
      required: ['rubric', 'input', 'output'],
      properties: { rubric: { type: 'string' }, input: {}, expected: {}, output: {} },
    },
    output_schema: {
      type: 'object',
      additionalProperties: false,
      required: ['score', 'reason'],
      properties: { score: { type: 'number', minimum: 0, maximum: 1 }, reason: { type: 'string', maxLength: 1000 } },
    },
    prompt: {
      system: JUDGE_SYSTEM_PROMPT,
      user: 'Rubric:\n{{rubric}}\n\nTask input:\n{{input}}\n\nReference output (may be empty):\n{{expected}}\n\nOutput to grade:\n{{output}}',
    },
    route: [...deps.route],
    temperature: 0,
    limits: { timeout_ms: deps.timeoutMs, max_output_tokens: 256 },
  };
  const task = fromDefinition(
    definition,
    { version: taskVersion(definition), active: true, createdAt: new Date(0) },
    { models: {}, providers: {}, routes: {} },
  );
  return async (tenantId, request, options = {}) => {
    const outcome = await deps.runTask({ tenantId, task, input: { ...request, expected: request.expected ?? null }, ...options });
    const verdict = outcome.output as { score: number; reason: string };
    return { score: verdict.score, reason: verdict.reason, costUsd: outcome.usage.costUsd, runId: outcome.runId };
  };
}
