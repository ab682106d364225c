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
import type { RetrievalService } from '../retrieval/retrieval-service.js';
import { taskVersion, type TaskDefinition } from './definition.js';
import { retrievalMetrics, retrieveSources } from './grounded-task.js';
import type { GroundingStep } from './grounding-step.js';
import { fromDefinition, type PreparedTask } from './prepared-task.js';
import type { RunOutcome, RunTaskParams, TaskRunner } from './run-task.js';

/**
 * The built-in `ask` task: retrieve from a collection (hybrid search), keep what clears
 * the relevance floor, number the sources into the prompt, run the route (by default the
 * extractive engine), then verify every citation before the answer leaves the server.
 * It is an ordinary run: recorded with attempts, costs and grounding metrics.
 */

export interface AskDeps {
  retrieval: RetrievalService;
  runTask: TaskRunner;
  config: AskConfig & { route: readonly string[] };
}

export const ASK_MAX_OUTPUT_TOKENS = 1_024;
/** The fixed part of ask's prompt (system prompt and instructions), for quota reservations. */
export const ASK_PROMPT_CHARS = ASK_SYSTEM_PROMPT.length + 1_000;

/** What a caller adds to an ask: who runs it (quota, key), cancellation, its request's logger. */
export type AskOptions = Pick<RunTaskParams, 'signal' | 'meter' | 'keyId' | 'logger' | 'evalId'>;

/** The built-in ask, and the prepared task it runs (what an eval of `ask` checks inputs against and records). */
export type AskTask = ((tenantId: string, input: unknown, options?: AskOptions) => Promise<RunOutcome>) & { readonly task: PreparedTask };

export function createAskTask(deps: AskDeps): AskTask {
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
  const task = fromDefinition(
    definition,
    { version: taskVersion(definition), active: true, createdAt: new Date(0) },
    { models: {}, providers: {}, routes: {} },
  );
  const notAnswerable = { answer: { answer: '', citations: [], answerable: false, confidence: 1 } };

  const ask = async (tenantId: string, input: unknown, options: AskOptions = {}): Promise<RunOutcome> =>
    deps.runTask({
      ...options,
      tenantId,
      task,
      input,
      extraPromptChars: deps.config.max_source_tokens * 4 + ASK_PROMPT_CHARS,
      // After the input check and the quota hold (the pipeline calls it then).
      async ground(signal): Promise<GroundingStep> {
        const { question, collection, k, filters } = input as AskInput;
        const retrieved = await retrieveSources(deps.retrieval, tenantId, {
          collection,
          query: question,
          k: k ?? deps.config.k,
          filters,
          minSimilarity: deps.config.min_similarity,
          maxSourceTokens: deps.config.max_source_tokens,
          signal,
        });
        const { sources, emptyReason } = retrieved;
        if (sources.length === 0) {
          return {
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
              ...retrievalMetrics(retrieved),
              reason: emptyReason,
            },
          };
        }
        return {
          kind: 'check',
          userPrompt: buildAskUserPrompt({ question, sources }),
          verify: (modelOutput) => {
            const { output, metrics } = finalizeGroundedAnswer(modelOutput as AskModelOutput, sources);
            return { output, metrics: { ...metrics, ...retrievalMetrics(retrieved) }, grounded: !metrics.ungrounded };
          },
          // No tier's answer was supported by its citations: decline rather than pass on an unverified answer.
          whenUngrounded: () => ({ answer: { ...notAnswerable.answer, confidence: 0 } }),
        };
      },
    });
  return Object.assign(ask, { task });
}
