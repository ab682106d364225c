/** The grounding context: numbered sources, the grounded-prompt protocol, citation checks, the ask task, the extractive engine. */
export { numberSources, renderSources, sourceHeader, countTextTokens, type GroundingSource, type NumberSourcesOptions } from './sources.js';
export { renderGroundedContext, parseGroundedPrompt, QUESTION_PREFIX, type ParsedGroundedPrompt, type ParsedSource } from './grounded-prompt.js';
export {
  verifyCitations,
  normalizeForMatch,
  MIN_QUOTE_WORDS,
  MIN_QUOTE_CHARS,
  type ProposedCitation,
  type VerifiedCitation,
  type DroppedCitation,
  type DropReason,
  type CitationCheck,
} from './citations.js';
export {
  ASK_INPUT_SCHEMA,
  ASK_MODEL_OUTPUT_SCHEMA,
  ASK_OUTPUT_SCHEMA,
  ASK_SYSTEM_PROMPT,
  ASK_DEFAULT_K,
  UNGROUNDED_CONFIDENCE_CAP,
  buildAskUserPrompt,
  finalizeGroundedAnswer,
  type AskInput,
  type AskModelOutput,
  type AskOutput,
  type GroundingMetrics,
} from './ask.js';
export { createExtractiveEngine, extractAnswer, EXTRACTIVE_DEFAULTS, type ExtractiveEngineOptions, type ExtractiveAnswer } from './extractive-engine.js';
export {
  scoreSquad,
  loadSquad,
  parseSquad,
  squadQuestions,
  normalizeSquadAnswer,
  type SquadArticle,
  type SquadQuestion,
  type SquadPrediction,
  type SquadScore,
} from './squad-eval.js';
