import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../kernel/errors.js';
import type { SearchHit } from '../retrieval/ports.js';
import type { RetrievalService } from '../retrieval/retrieval-service.js';
import { parseTaskDefinition, taskVersion } from './definition.js';
import { createGroundedRunner } from './grounded-task.js';
import type { RunResult, RunTaskParams } from './run-task.js';
import { testRouteConfig, triageDefinition } from './test-fixtures.js';

const hit = (id: string, text: string, lexicalScore: number, vectorScore: number): SearchHit => ({
  chunkId: id,
  documentId: `d-${id}`,
  source: `${id}.md`,
  title: id,
  text,
  headingPath: [],
  position: 0,
  metadata: {},
  score: 0.03,
  lexicalScore,
  vectorScore,
});

function fakeRetrieval(hits: SearchHit[], seen: unknown[] = []): RetrievalService {
  return {
    search: async (_tenant: string, params: unknown) => {
      seen.push(params);
      return { collection: {} as never, hits };
    },
  } as unknown as RetrievalService;
}

const grounded = parseTaskDefinition(
  triageDefinition({
    name: 'policy-check',
    retrieval: { collection: 'kb', query: '{{subject}} {{body}}', k: 4, min_similarity: 0.3, max_source_tokens: 1_000 },
    prompt: { system: 'Answer from the sources.', user: '{{{sources}}}\nTicket: {{body}}' },
    output_schema: {
      type: 'object',
      properties: { category: { enum: ['billing', 'bug', 'other'] }, citations: { type: 'array', items: { type: 'object', properties: { source: { type: 'integer' }, quote: { type: 'string' } } } } },
    },
  } as never),
  testRouteConfig,
);
const task = { name: grounded.name, version: taskVersion(grounded), definition: grounded, createdAt: new Date(), active: true };
const input = { subject: 'Refund', body: 'Charged twice for my order' };

/** A runner that "calls the model": it returns `modelOutput` through the grounding step. */
function runnerReturning(modelOutput: unknown, calls: RunTaskParams[]) {
  return async (params: RunTaskParams): Promise<RunResult> => {
    calls.push(params);
    const finalized = params.grounding!.finalize(modelOutput);
    return { output: finalized.output, grounding: finalized.metrics } as RunResult;
  };
}

describe('grounded tasks', () => {
  it('renders the numbered sources into the prompt and keeps only citations whose quote is in the cited source', async () => {
    const calls: RunTaskParams[] = [];
    const searches: unknown[] = [];
    const run = createGroundedRunner({
      retrieval: fakeRetrieval([hit('refunds', 'Duplicate charges are refunded automatically within 5 business days.', 2.1, 0.5)], searches),
      runTask: runnerReturning(
        {
          category: 'billing',
          citations: [
            { source: 1, quote: 'duplicate charges are refunded automatically' },
            { source: 1, quote: 'refunds are instant for everyone' },
          ],
        },
        calls,
      ),
    });
    const result = await run({ tenantId: 't', task, input });
    expect(searches[0]).toMatchObject({ collection: 'kb', query: 'Refund Charged twice for my order', k: 4 });
    expect(calls[0].grounding?.userPrompt).toContain('<sources>\n[1] refunds');
    expect(calls[0].grounding?.userPrompt).toContain('Ticket: Charged twice for my order');
    expect(result.output).toEqual({ category: 'billing', citations: [{ source: 1, quote: 'duplicate charges are refunded automatically' }] });
    expect(result.grounding).toMatchObject({ chunks_used: 1, citations_proposed: 2, citations_verified: 1, citations_dropped: 1, ungrounded: false });
  });

  it('abstains with a typed error instead of guessing when nothing clears the relevance floor', async () => {
    const calls: RunTaskParams[] = [];
    const run = createGroundedRunner({ retrieval: fakeRetrieval([hit('noise', 'Unrelated text about shipping.', 0, 0.1)]), runTask: runnerReturning({}, calls) });
    const error = (await run({ tenantId: 't', task, input }).catch((e) => e)) as GroundworkError;
    expect(error.code).toBe('TASK_ABSTAINED');
    expect(error.details.reason).toBe('below_relevance_floor');
    expect(calls).toHaveLength(0);
  });

  it('leaves tasks without a retrieval spec alone', async () => {
    const calls: RunTaskParams[] = [];
    const plain = parseTaskDefinition(triageDefinition(), testRouteConfig);
    const run = createGroundedRunner({ retrieval: fakeRetrieval([]), runTask: async (p) => (calls.push(p), { output: 'plain' } as unknown as RunResult) });
    await run({ tenantId: 't', task: { ...task, definition: plain }, input });
    expect(calls[0].grounding).toBeUndefined();
  });

  it('rejects a grounded definition whose prompt does not show the sources', () => {
    expect(() =>
      parseTaskDefinition(triageDefinition({ retrieval: { collection: 'kb', query: '{{subject}}' } } as never), testRouteConfig),
    ).toThrow(/add \{\{\{sources\}\}\} to the prompt/);
    expect(() =>
      parseTaskDefinition(triageDefinition({ retrieval: { collection: 'kb', query: '{{nope}}' }, prompt: { user: '{{{sources}}}' } } as never), testRouteConfig),
    ).toThrow(/retrieval\.query: unknown variable/);
  });
});
