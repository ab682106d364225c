import { verifyCitations, type VerifiedCitation } from './citations.js';
import { renderGroundedContext } from './grounded-prompt.js';
import type { GroundingSource } from './sources.js';

/**
 * The built-in `ask` task: answer a question from a collection, citing verbatim quotes.
 * Three JSON Schemas: the task input, what the model is asked to return (citations by
 * source number), and the response body (citations resolved to chunks and verified).
 */

export const ASK_DEFAULT_K = 6;

/** Input of the ask task. */
export const ASK_INPUT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['question', 'collection'],
  properties: {
    question: { type: 'string', minLength: 1, maxLength: 2000 },
    collection: { type: 'string', minLength: 1, maxLength: 200 },
    k: { type: 'integer', minimum: 1, maximum: 20, default: ASK_DEFAULT_K },
    filters: {
      type: 'object',
      description: 'metadata filter: every key must equal the value, or one of a list of values',
      additionalProperties: {
        anyOf: [{ type: ['string', 'number', 'boolean'] }, { type: 'array', items: { type: ['string', 'number', 'boolean'] } }],
      },
    },
  },
} as const;

/** What the model returns: citations name a source number and quote it verbatim. */
export const ASK_MODEL_OUTPUT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['answer', 'citations', 'answerable', 'confidence'],
  properties: {
    answer: { type: 'string' },
    citations: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['source', 'quote'],
        properties: { source: { type: 'integer', minimum: 1 }, quote: { type: 'string' } },
      },
    },
    answerable: { type: 'boolean' },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
  },
} as const;

/** The ask response body: only citations whose quote was found in the cited chunk. */
export const ASK_OUTPUT_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  required: ['answer', 'citations', 'answerable', 'confidence'],
  properties: {
    answer: { type: 'string' },
    citations: {
      type: 'array',
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['chunk_id', 'document', 'quote'],
        properties: { chunk_id: { type: 'string' }, document: { type: 'string' }, quote: { type: 'string' } },
      },
    },
    answerable: { type: 'boolean' },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
  },
} as const;

export interface AskInput {
  question: string;
  collection: string;
  k?: number;
  filters?: Record<string, string | number | boolean | Array<string | number | boolean>>;
}

/** The model's answer before verification (ASK_MODEL_OUTPUT_SCHEMA). */
export interface AskModelOutput {
  answer: string;
  citations: Array<{ source: number | string; quote: string }>;
  answerable: boolean;
  confidence: number;
}

/** The ask response body (ASK_OUTPUT_SCHEMA). */
export interface AskOutput {
  answer: string;
  citations: VerifiedCitation[];
  answerable: boolean;
  confidence: number;
}

export const ASK_SYSTEM_PROMPT = [
  'You answer questions using only the numbered sources you are given. You have no other knowledge.',
  'Every claim in your answer must be supported by a citation {"source": n, "quote": "..."} where the',
  'quote is copied character for character from source n: a full sentence or clause of at least',
  'three words. Never paraphrase inside a quote, never quote text that is not in that source.',
  'If the sources do not contain the answer, reply with "answerable": false, an empty "answer" and',
  'no citations. Do not guess.',
  '"confidence" is your probability, from 0 to 1, that the answer is correct and fully supported.',
].join('\n');

/** The user prompt: instructions, the sources block and the QUESTION line (grounded-prompt protocol). */
export function buildAskUserPrompt(params: { question: string; sources: readonly GroundingSource[] }): string {
  return [
    'Answer the question from these sources only.',
    '',
    renderGroundedContext(params),
    '',
    'Reply with JSON: {"answer": string, "citations": [{"source": number, "quote": "verbatim text"}],',
    '"answerable": boolean, "confidence": number}. Cite each claim by source number with a verbatim quote.',
    'If the sources do not answer the question: "answerable": false, "answer": "", "citations": [].',
  ].join('\n');
}

/** Grounding figures recorded with the run and aggregated on the dashboard. */
export interface GroundingMetrics {
  /** Sources shown to the model (after the token-budget trim). */
  chunks_used: number;
  /** Distinct chunks cited by verified citations. */
  chunks_cited: number;
  citations_proposed: number;
  citations_verified: number;
  citations_dropped: number;
  /** The model itself said the sources do not answer the question. */
  abstained: boolean;
  /** The model answered but none of its citations checked out (the answer is not returned). */
  ungrounded: boolean;
  retrieval_scores: number[];
}

/** Confidence ceiling for an answer with no supported citation. */
export const UNGROUNDED_CONFIDENCE_CAP = 0.2;

/**
 * Verifies the model's citations and applies the grounding rules:
 * - Abstention (answerable false, or an empty answer): answer "", no citations, the
 *   model's confidence kept (it is confidence in the abstention); proposed citations count as dropped.
 * - Unsupported citations are dropped and counted. Confidence is scaled by the share of
 *   proposed citations that verified (duplicates do not count against it): a model that
 *   cites badly half the time earns half the trust.
 * - No supported citation at all → ungrounded (`metrics.ungrounded`): answerable false, no
 *   answer text (an answer leaves the server only with a verified citation) and confidence
 *   capped at UNGROUNDED_CONFIDENCE_CAP. The run pipeline treats such an answer as a failed
 *   tier and moves on; the unverified text is kept in the run record only.
 */
export function finalizeGroundedAnswer(modelOutput: AskModelOutput, sources: readonly GroundingSource[]): { output: AskOutput; metrics: GroundingMetrics } {
  const proposed = Array.isArray(modelOutput.citations) ? modelOutput.citations : [];
  const confidence = clamp01(modelOutput.confidence);
  const answer = typeof modelOutput.answer === 'string' ? modelOutput.answer.trim() : '';
  const base = {
    chunks_used: sources.length,
    citations_proposed: proposed.length,
    retrieval_scores: sources.map((s) => s.score),
  };

  if (modelOutput.answerable !== true || answer.length === 0) {
    return {
      output: { answer: '', citations: [], answerable: false, confidence },
      metrics: { ...base, chunks_cited: 0, citations_verified: 0, citations_dropped: proposed.length, abstained: true, ungrounded: false },
    };
  }

  const { verified, dropped } = verifyCitations(proposed, sources);
  const metrics: GroundingMetrics = {
    ...base,
    chunks_cited: new Set(verified.map((c) => c.chunk_id)).size,
    citations_verified: verified.length,
    citations_dropped: dropped.length,
    abstained: false,
    ungrounded: verified.length === 0,
  };
  if (verified.length === 0) {
    return { output: { answer: '', citations: [], answerable: false, confidence: Math.min(confidence, UNGROUNDED_CONFIDENCE_CAP) }, metrics };
  }
  const judged = proposed.length - dropped.filter((d) => d.reason === 'duplicate').length;
  const supportedShare = judged > 0 ? verified.length / judged : 1;
  return { output: { answer, citations: verified, answerable: true, confidence: round3(confidence * supportedShare) }, metrics };
}

function clamp01(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? Math.min(1, Math.max(0, value)) : 0;
}

function round3(value: number): number {
  return Math.round(value * 1000) / 1000;
}
