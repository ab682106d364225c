import type { GroundworkError } from '../kernel/errors.js';

/**
 * How a grounded run differs (see src/grounding): either retrieval found nothing relevant and
 * no model is called (`abstain`), or the prompt carries numbered sources and every tier's
 * answer is checked against them (`check`). One abstention policy serves `ask` and grounded
 * tasks: `ask` answers "not answerable", a task fails with a typed 422; both are recorded runs.
 */
export type GroundingStep = GroundingAbstain | GroundingCheck;

/** What an abstaining run answers: `ask` an answer that says "not answerable", a task a typed error. */
export type Abstention = { answer: unknown } | { error: GroundworkError };

/** Retrieval found nothing relevant: the run abstains without calling a model. */
export interface GroundingAbstain {
  kind: 'abstain';
  abstention: Abstention;
  metrics: Record<string, unknown>;
}

/** A model's output checked against the sources. */
export interface GroundingVerdict {
  /** What the run answers with (unsupported citations removed). */
  output: unknown;
  metrics: Record<string, unknown>;
  /** At least one citation verified (or the model itself declined to answer): the answer may leave the server. */
  grounded: boolean;
}

export interface GroundingCheck {
  kind: 'check';
  /** The user prompt with the numbered sources (replaces the task's template). */
  userPrompt: string;
  /** The system prompt, when grounding changes it too (a template using {{{sources}}}). */
  systemPrompt?: string;
  /** Checks a tier's schema-valid output against the sources. An ungrounded answer fails its tier. */
  verify(modelOutput: unknown): GroundingVerdict;
  /** When no tier grounded its answer: what the run answers instead. */
  whenUngrounded(last: GroundingVerdict): Abstention;
}
