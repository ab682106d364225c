import { ModelCallError, type GenerateRequest, type GenerateResult, type ModelPort } from '../models/spec.js';
import type { AskModelOutput } from './ask.js';
import { parseGroundedPrompt, type ParsedGroundedPrompt } from './grounded-prompt.js';
import { DEFAULT_WEIGHTS, rankSentences, type ScoredSentence, type ScorerWeights } from './extractive-scorer.js';
import { countTextTokens } from './sources.js';

/**
 * The built-in extractive engine: a ModelPort that needs no weights and no network. It
 * answers a grounded task by quoting the source sentences that best match the question,
 * and abstains when none covers enough of it — so it can be the last tier of any grounded
 * route and a run degrades to "here is the passage" or "not answerable" instead of failing.
 *
 * Protocol (see grounded-prompt.ts for the exact grammar): the engine reads the newest
 * message (user first, then the system prompt) that holds a `<sources> … </sources>` block
 * as rendered by renderSources, followed by a `QUESTION: …` line. Anything else in the
 * prompt (instructions, schema hints, re-ask messages) is ignored. A request without that
 * block fails with a non-retryable provider_error, so a router moves on.
 *
 * Reply: with `responseFormat: json`, JSON text of the ask model-output shape —
 * `{ answer, citations: [{ source: n, quote }], answerable, confidence }` — where each quote
 * is a whole source sentence copied verbatim (so it verifies), the answer is those sentences
 * joined, and an abstention is `{ answer: "", citations: [], answerable: false }`. With text
 * format, the answer followed by `[n]` markers. Deterministic; usage counted with the
 * tokenizer; cost 0 (price the `builtin` provider at zero).
 *
 * Deciding: the best-ranked sentence (extractive-scorer.ts) is an answer only if it covers
 * at least `minSupport` of the question (IDF-weighted), contains every name and number the
 * question mentions (in the sentence or its context), and — for who / when / how many / where
 * questions — holds a new name, date or number. Otherwise the engine abstains rather than
 * fall back to a weaker sentence: on SQuAD 2.0, a runner-up that passes the checks is more
 * often a wrong answer than a right one. A second sentence joins when it passes the same
 * checks and ranks within `secondSentenceRatio` of the best. Defaults were set with
 * src/grounding/squad-quick.ts (numbers in its header).
 */

export interface ExtractiveEngineOptions {
  /** Configured model name; default "extractive". */
  model?: string;
  /** Provider name; default "builtin". */
  provider?: string;
  /** Minimum support (0..1, IDF-weighted share of the question's terms covered) to answer. */
  minSupport?: number;
  /** A second sentence joins the answer when its rank is at least this share of the best's. */
  secondSentenceRatio?: number;
  /** At most this many sentences (1 or 2). */
  maxSentences?: number;
  /** Abstain when the best sentence misses a name or number the question mentions. */
  requireAnchors?: boolean;
  /** Abstain when the question asks who/when/how many/where and the best sentence has no such answer. */
  requireAnswerType?: boolean;
  /** Scorer knobs, for tuning (see extractive-scorer.ts). */
  weights?: Partial<ScorerWeights>;
}

export const EXTRACTIVE_DEFAULTS = {
  minSupport: 0.45,
  secondSentenceRatio: 0.8,
  maxSentences: 2,
  requireAnchors: true,
  requireAnswerType: true,
} as const;

/** The engine's decision plus the figures behind it (for evals and tuning). */
export interface ExtractiveAnswer {
  output: AskModelOutput;
  best?: ScoredSentence;
  runnerUp?: ScoredSentence;
}

/** Pure core of the engine: selects sentences or abstains. */
export function extractAnswer(prompt: ParsedGroundedPrompt, options: ExtractiveEngineOptions = {}): ExtractiveAnswer {
  const minSupport = options.minSupport ?? EXTRACTIVE_DEFAULTS.minSupport;
  const ratio = options.secondSentenceRatio ?? EXTRACTIVE_DEFAULTS.secondSentenceRatio;
  const maxSentences = Math.max(1, Math.min(2, options.maxSentences ?? EXTRACTIVE_DEFAULTS.maxSentences));

  const requireAnchors = options.requireAnchors ?? EXTRACTIVE_DEFAULTS.requireAnchors;
  const requireAnswerType = options.requireAnswerType ?? EXTRACTIVE_DEFAULTS.requireAnswerType;

  const { ranked, answerType } = rankSentences(prompt.question, prompt.sources, { ...DEFAULT_WEIGHTS, ...options.weights });
  const best = ranked[0];
  const runnerUp = ranked.find((s) => s.text !== best?.text);
  const supported = (s: ScoredSentence) =>
    s.support >= minSupport && !(requireAnchors && s.missingAnchors > 0) && !(requireAnswerType && answerType !== 'other' && !s.hasAnswerType);
  if (!best || !supported(best)) {
    return { output: { answer: '', citations: [], answerable: false, confidence: abstainConfidence(best, minSupport) }, best, runnerUp };
  }

  const chosen = [best];
  if (maxSentences > 1 && runnerUp && supported(runnerUp) && runnerUp.score >= ratio * best.score) chosen.push(runnerUp);
  // Read in source order so two sentences from one passage keep their sequence.
  chosen.sort((a, b) => a.n - b.n || a.index - b.index);

  const margin = runnerUp ? Math.max(0, (best.score - runnerUp.score) / best.score) : 1;
  const confidence = round2(Math.min(1, best.support) * (0.6 + 0.4 * margin));
  return {
    output: {
      answer: chosen.map((s) => s.text).join(' '),
      citations: chosen.map((s) => ({ source: s.n, quote: s.text })),
      answerable: true,
      confidence,
    },
    best,
    runnerUp,
  };
}

/** Confidence in an abstention: high when even the best sentence was far below the bar. */
function abstainConfidence(best: ScoredSentence | undefined, minSupport: number): number {
  if (!best || minSupport <= 0) return 1;
  return round2(Math.min(1, Math.max(0.5, 1 - best.support / minSupport / 2)));
}

export function createExtractiveEngine(options: ExtractiveEngineOptions = {}): ModelPort {
  const ids = { model: options.model ?? 'extractive', provider: options.provider ?? 'builtin' };
  return {
    ...ids,
    async generate(request: GenerateRequest): Promise<GenerateResult> {
      if (request.signal?.aborted) {
        throw new ModelCallError({ ...ids, outcome: 'timeout', retryable: false, message: 'aborted before the extractive engine ran' });
      }
      const prompt = findGroundedPrompt(request);
      if (!prompt) {
        throw new ModelCallError({
          ...ids,
          outcome: 'provider_error',
          retryable: false,
          message: 'the extractive engine answers grounded prompts only: no <sources> block with a QUESTION line',
        });
      }
      const { output } = extractAnswer(prompt, options);
      const text = request.responseFormat?.type === 'json' ? JSON.stringify(output) : asText(output);
      return {
        ...ids,
        text,
        finishReason: 'stop',
        usage: { inputTokens: inputTokens(request), outputTokens: countTextTokens(text), estimated: true },
      };
    },
  };
}

function findGroundedPrompt(request: GenerateRequest): ParsedGroundedPrompt | undefined {
  for (let i = request.messages.length - 1; i >= 0; i--) {
    const message = request.messages[i];
    if (message.role !== 'user') continue;
    const parsed = parseGroundedPrompt(message.content);
    if (parsed) return parsed;
  }
  return request.system ? parseGroundedPrompt(request.system) : undefined;
}

function asText(output: AskModelOutput): string {
  if (!output.answerable) return 'The sources do not contain the answer.';
  return output.citations.map((c) => `${c.quote} [${c.source}]`).join(' ');
}

function inputTokens(request: GenerateRequest): number {
  let total = countTextTokens(request.system ?? '');
  for (const message of request.messages) total += countTextTokens(message.content);
  return total;
}

function round2(value: number): number {
  return Math.round(value * 100) / 100;
}
