import { verifyCitations } from '../grounding/citations.js';
import { renderGroundedContext } from '../grounding/grounded-prompt.js';
import { numberSources, type GroundingSource } from '../grounding/sources.js';
import { GroundworkError } from '../kernel/errors.js';
import type { MetadataFilter, SearchHit } from '../retrieval/ports.js';
import type { RetrievalService } from '../retrieval/retrieval-service.js';
import type { GroundingStep, GroundingVerdict } from './grounding-step.js';
import type { PreparedTask } from './prepared-task.js';
import { renderTemplate } from './template.js';

/**
 * Grounded runs (DESIGN.md run path steps 3 and 7): retrieve, keep what clears the
 * relevance floor, number the sources into the prompt, and check the model's citations
 * against them afterwards. Shared by task definitions with a `retrieval` spec and the
 * built-in `ask` task.
 */

export interface RetrievedSources {
  sources: GroundingSource[];
  /** Fused scores of everything retrieved, relevant or not (recorded with the run). */
  retrievalScores: number[];
  /** What was retrieved, best first: each hit's document (its source name) and chunk id (recorded: evals score retrieval on it). */
  ranked: Array<{ document: string; chunk: string }>;
  /** Why nothing was usable, when sources is empty. */
  emptyReason?: 'no_hits' | 'below_relevance_floor';
}

export async function retrieveSources(
  retrieval: RetrievalService,
  tenantId: string,
  params: { collection: string; query: string; k: number; filters?: MetadataFilter; minSimilarity: number; maxSourceTokens: number; signal?: AbortSignal },
): Promise<RetrievedSources> {
  const { hits } = await retrieval.search(tenantId, {
    collection: params.collection,
    query: params.query,
    k: params.k,
    filters: params.filters,
    signal: params.signal,
  });
  const relevant = hits.filter((hit) => isRelevant(hit, params.minSimilarity));
  const sources = numberSources(relevant, { maxTokens: params.maxSourceTokens });
  return {
    sources,
    retrievalScores: hits.map((h) => Math.round(h.score * 1e4) / 1e4),
    ranked: hits.map((h) => ({ document: h.source, chunk: h.chunkId })),
    emptyReason: sources.length > 0 ? undefined : hits.length === 0 ? 'no_hits' : 'below_relevance_floor',
  };
}

/** What a run records of its retrieval: the fused scores and the ranked hits. */
export function retrievalMetrics(retrieved: Pick<RetrievedSources, 'retrievalScores' | 'ranked'>): {
  retrieval_scores: number[];
  retrieved: RetrievedSources['ranked'];
} {
  return { retrieval_scores: retrieved.retrievalScores, retrieved: retrieved.ranked };
}

/** A hit clears the floor when it shares a term with the query or is similar enough by embedding. */
function isRelevant(hit: SearchHit, minSimilarity: number): boolean {
  return (hit.lexicalScore ?? 0) > 0 || (hit.vectorScore ?? 0) >= minSimilarity;
}

/**
 * The grounding step of a task with a `retrieval` spec: its sources (or an abstention when
 * nothing relevant was found: recorded as a run, answered 422 TASK_ABSTAINED), the prompts
 * rendered with them, and the citation check each tier's answer must pass.
 */
export async function groundTask(
  retrieval: RetrievalService,
  params: { tenantId: string; task: PreparedTask; input: unknown; signal?: AbortSignal },
): Promise<GroundingStep> {
  const { definition } = params.task;
  const spec = definition.retrieval;
  if (!spec) throw new Error(`task "${definition.name}" has no retrieval spec`);
  const name = definition.name;
  const query = renderTemplate(spec.query, params.input).trim();
  const retrieved = query
    ? await retrieveSources(retrieval, params.tenantId, {
        collection: spec.collection,
        query,
        k: spec.k,
        filters: spec.filters,
        minSimilarity: spec.min_similarity,
        maxSourceTokens: spec.max_source_tokens,
        signal: params.signal,
      })
    : { sources: [], retrievalScores: [], ranked: [], emptyReason: 'no_hits' as const };
  if (retrieved.sources.length === 0) {
    const details = { collection: spec.collection, reason: retrieved.emptyReason, ...retrievalMetrics(retrieved) };
    return {
      kind: 'abstain',
      abstention: {
        error: new GroundworkError('TASK_ABSTAINED', `task "${name}" found nothing relevant in collection "${spec.collection}" and did not guess`, { details }),
      },
      metrics: {
        chunks_used: 0,
        citations_proposed: 0,
        citations_verified: 0,
        citations_dropped: 0,
        abstained: true,
        ungrounded: false,
        ...retrievalMetrics(retrieved),
        reason: retrieved.emptyReason,
      },
    };
  }
  const view = { ...(params.input as Record<string, unknown>), sources: renderGroundedContext({ sources: retrieved.sources, question: query }) };
  return {
    kind: 'check',
    systemPrompt: definition.prompt.system === undefined ? undefined : renderTemplate(definition.prompt.system, view),
    userPrompt: renderTemplate(definition.prompt.user, view),
    verify: (output) => checkCitations(output, retrieved),
    whenUngrounded: (last) => ({
      error: new GroundworkError(
        'TASK_UNGROUNDED',
        `task "${name}": no model of its route gave an answer with a citation found in the sources, so none is returned`,
        {
          details: { collection: spec.collection, citations_proposed: last.metrics.citations_proposed, citations_dropped: last.metrics.citations_dropped },
        },
      ),
    }),
  };
}

/**
 * Drops unsupported `citations: [{ source, quote }]` from a grounded task's output, counting
 * them. Grounded only with at least one verified citation.
 */
function checkCitations(output: unknown, retrieved: RetrievedSources): GroundingVerdict {
  const base = { chunks_used: retrieved.sources.length, ...retrievalMetrics(retrieved) };
  const citations = (output as { citations?: unknown } | null)?.citations;
  if (!Array.isArray(citations))
    return { output, grounded: false, metrics: { ...base, citations_proposed: 0, citations_verified: 0, citations_dropped: 0, ungrounded: true } };
  const { verified, dropped } = verifyCitations(citations, retrieved.sources);
  const droppedSet = new Set(dropped.map((d) => d.citation));
  const kept = citations.filter((c) => !droppedSet.has(c));
  return {
    output: { ...(output as Record<string, unknown>), citations: kept },
    grounded: verified.length > 0,
    metrics: {
      ...base,
      citations_proposed: citations.length,
      citations_verified: verified.length,
      citations_dropped: dropped.length,
      ungrounded: verified.length === 0,
      verified_citations: verified,
    },
  };
}
