import type { AskConfig } from '../config/config.js';
import {
  ASK_INPUT_SCHEMA,
  ASK_MODEL_OUTPUT_SCHEMA,
  ASK_SYSTEM_PROMPT,
  buildAskUserPrompt,
  finalizeGroundedAnswer,
  type AskInput,
  type AskModelOutput,
} from '../grounding/ask.js';
import { GroundworkError } from '../kernel/errors.js';
import type { RetrievalService } from '../retrieval/retrieval-service.js';
import type { TaskVersionRecord } from '../store/ports.js';
import { taskVersion, type TaskDefinition } from './definition.js';
import { retrieveSources } from './grounded-task.js';
import { validateValue } from './json-schema.js';
import { assertInputDepth, type RunResult, type RunTaskParams } from './run-task.js';

/**
 * The built-in `ask` task: retrieve from a collection (hybrid search), keep what clears
 * the relevance floor, number the sources into the prompt, run the route (by default the
 * extractive engine), then verify every citation before the answer leaves the server.
 * It is an ordinary run: recorded with attempts, costs and grounding metrics.
 */

export interface AskDeps {
  retrieval: RetrievalService;
  runTask: (params: RunTaskParams) => Promise<RunResult>;
  config: AskConfig;
}

export const ASK_MAX_OUTPUT_TOKENS = 1_024;
/** The fixed part of ask's prompt (system prompt and instructions), for quota reservations. */
export const ASK_PROMPT_CHARS = ASK_SYSTEM_PROMPT.length + 1_000;

export function createAskTask(deps: AskDeps) {
  const definition: TaskDefinition = {
    name: 'ask',
    description: 'Answer a question from a collection with verified citations (built in).',
    input_schema: ASK_INPUT_SCHEMA as unknown as Record<string, unknown>,
    output_schema: ASK_MODEL_OUTPUT_SCHEMA as unknown as Record<string, unknown>,
    prompt: { system: ASK_SYSTEM_PROMPT, user: '(built from the retrieved sources)' },
    route: [...deps.config.route],
    temperature: 0,
    limits: { timeout_ms: deps.config.timeout_ms, max_output_tokens: ASK_MAX_OUTPUT_TOKENS },
  };
  // The built-in task is versioned like any other: its version changes when the route or prompt does.
  const task: TaskVersionRecord = { name: 'ask', version: taskVersion(definition), definition, createdAt: new Date(0), active: true };

  return async function ask(tenantId: string, input: unknown, signal?: AbortSignal, meter: Pick<RunTaskParams, 'keyId' | 'onUsage' | 'beforeCall' | 'logger'> = {}): Promise<RunResult> {
    assertInputDepth('ask', input);
    const issues = validateValue(definition.input_schema, input);
    if (issues.length > 0) {
      throw new GroundworkError('TASK_INPUT_INVALID', 'input does not match the input schema of task "ask"', { details: { issues } });
    }
    const { question, collection, k, filters } = input as AskInput;
    const { sources, retrievalScores, emptyReason } = await retrieveSources(deps.retrieval, tenantId, {
      collection,
      query: question,
      k: k ?? deps.config.k,
      filters,
      minSimilarity: deps.config.min_similarity,
      maxSourceTokens: deps.config.max_source_tokens,
      signal,
    });

    const notAnswerable = { answer: { answer: '', citations: [], answerable: false, confidence: 1 } };
    const run = (grounding: RunTaskParams['grounding']) => deps.runTask({ ...meter, tenantId, task, input, signal, grounding });
    if (sources.length === 0) {
      return run({
        kind: 'abstain',
        abstention: notAnswerable,
        metrics: {
          chunks_used: 0,
          chunks_cited: 0,
          citations_proposed: 0,
          citations_verified: 0,
          citations_dropped: 0,
          abstained: true,
          ungrounded: false,
          retrieval_scores: retrievalScores,
          reason: emptyReason,
        },
      });
    }

    return run({
      kind: 'check',
      userPrompt: buildAskUserPrompt({ question, sources }),
      verify: (modelOutput) => {
        const { output, metrics } = finalizeGroundedAnswer(modelOutput as AskModelOutput, sources);
        return { output, metrics: { ...metrics, retrieval_scores: retrievalScores }, grounded: !metrics.ungrounded };
      },
      // No tier's answer was supported by its citations: decline rather than pass on an unverified answer.
      whenUngrounded: () => ({ answer: { ...notAnswerable.answer, confidence: 0 } }),
    });
  };
}
