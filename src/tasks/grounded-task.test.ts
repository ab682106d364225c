import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../kernel/errors.js';
import { createRouter } from '../models/router.js';
import { withInstrumentation } from '../models/resilience/instrument.js';
import type { GenerateRequest, ModelPort } from '../models/spec.js';
import { withStructuredOutput } from '../models/structured-output.js';
import type { SearchHit } from '../retrieval/ports.js';
import type { RetrievalService } from '../retrieval/retrieval-service.js';
import type { RunRecord, RunRepository } from '../store/ports.js';
import { parseTaskDefinition, taskVersion } from './definition.js';
import { fromDefinition } from './prepared-task.js';
import { createTaskRunner, type RunTaskParams } from './run-task.js';
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
      properties: {
        category: { enum: ['billing', 'bug', 'other'] },
        citations: { type: 'array', items: { type: 'object', properties: { source: { type: 'integer' }, quote: { type: 'string' } } } },
      },
    },
  } as never),
  testRouteConfig,
);
const task = fromDefinition(grounded, { version: taskVersion(grounded), createdAt: new Date(), active: true }, testRouteConfig);
const input = { subject: 'Refund', body: 'Charged twice for my order' };

/** A model that answers each call with the next scripted JSON value (and records the prompts it saw). */
function scripted(name: string, answers: unknown[], seen: GenerateRequest[] = []): ModelPort {
  let call = 0;
  return {
    provider: 'fake',
    model: name,
    async generate(request) {
      seen.push(request);
      const answer = answers[Math.min(call++, answers.length - 1)];
      return { text: JSON.stringify(answer), usage: { inputTokens: 10, outputTokens: 5 }, finishReason: 'stop', model: name, provider: 'fake' };
    },
  };
}

/** The real run pipeline (router, structured output, grounding checks, run records) over scripted tiers. */
function setup(tiers: ModelPort[], hits: SearchHit[], searches: unknown[] = []) {
  const saved: RunRecord[] = [];
  const runs = { record: async (_t: string, run: RunRecord) => void saved.push(structuredClone(run)) } as unknown as RunRepository;
  let n = 0;
  const runTask = createTaskRunner({
    runs,
    models: { route: () => createRouter(tiers.map((t) => withStructuredOutput(withInstrumentation(t)))), cost: () => 0 },
    config: testRouteConfig,
    retrieval: fakeRetrieval(hits, searches),
    newId: (prefix) => `${prefix}_${++n}`,
    now: Date.now,
    logger: { error: () => undefined },
  });
  return { run: (params: Partial<RunTaskParams> = {}) => runTask({ tenantId: 't', task, input, ...params }), saved };
}

const REFUND = 'Duplicate charges are refunded automatically within 5 business days.';
const supported = { category: 'billing', citations: [{ source: 1, quote: 'duplicate charges are refunded automatically' }] };
const unsupported = { category: 'billing', citations: [{ source: 1, quote: 'refunds are instant for everyone' }] };

describe('grounded tasks', () => {
  it('renders the numbered sources into the prompt and keeps only citations whose quote is in the cited source', async () => {
    const seen: GenerateRequest[] = [];
    const searches: unknown[] = [];
    const { run } = setup(
      [scripted('small', [{ category: 'billing', citations: [...supported.citations, ...unsupported.citations] }], seen)],
      [hit('refunds', REFUND, 2.1, 0.5)],
      searches,
    );
    const result = await run();
    expect(searches[0]).toMatchObject({ collection: 'kb', query: 'Refund Charged twice for my order', k: 4 });
    expect(seen[0].messages[0].content).toContain('<sources>\n[1] refunds');
    expect(seen[0].messages[0].content).toContain('Ticket: Charged twice for my order');
    expect(result.output).toEqual(supported);
    expect(result.grounding).toMatchObject({ chunks_used: 1, citations_proposed: 2, citations_verified: 1, citations_dropped: 1, ungrounded: false });
  });

  it('abstains with a typed error instead of guessing when nothing clears the relevance floor, and records the abstention', async () => {
    const seen: GenerateRequest[] = [];
    const { run, saved } = setup([scripted('small', [supported], seen)], [hit('noise', 'Unrelated text about shipping.', 0, 0.1)]);
    const error = (await run().catch((e: unknown) => e)) as GroundworkError;
    expect(error.code).toBe('TASK_ABSTAINED');
    expect(error.details.reason).toBe('below_relevance_floor');
    expect(seen).toHaveLength(0);
    expect(saved).toEqual([
      expect.objectContaining({ id: error.runId, status: 'error', error: expect.objectContaining({ code: 'TASK_ABSTAINED' }), attempts: [] }),
    ]);
  });

  it('treats a tier whose answer has no verified citation as a failed attempt (ungrounded) and moves on to the next tier', async () => {
    const { run, saved } = setup([scripted('small', [unsupported]), scripted('large', [supported])], [hit('refunds', REFUND, 2.1, 0.5)]);
    const result = await run();
    expect(result).toMatchObject({ output: supported, model: 'large', degraded: true });
    expect(saved[0].attempts.map((a) => [a.tier, a.model, a.outcome])).toEqual([
      [0, 'small', 'ungrounded'],
      [1, 'large', 'ok'],
    ]);
    expect(saved[0].attempts[1].escalationReason).toMatch(/tier 0 \(small\): ungrounded/);
  });

  it('answers 422 TASK_UNGROUNDED when no tier grounds its answer; the unverified answer stays in the run record only', async () => {
    const { run, saved } = setup([scripted('small', [unsupported]), scripted('large', [{ category: 'bug' }])], [hit('refunds', REFUND, 2.1, 0.5)]);
    const error = (await run().catch((e: unknown) => e)) as GroundworkError;
    expect(error).toBeInstanceOf(GroundworkError);
    expect(error.code).toBe('TASK_UNGROUNDED');
    expect(error.httpStatus).toBe(422);
    expect(JSON.stringify(error.toBody())).not.toContain('refunds are instant');
    expect(saved).toHaveLength(1);
    expect(saved[0]).toMatchObject({ id: error.runId, status: 'error', error: { code: 'TASK_UNGROUNDED' }, grounding: { abstained: true, ungrounded: true } });
    // The last tier's unverified answer is what the record keeps.
    expect(saved[0].output).toEqual({ category: 'bug' });
    expect(saved[0].attempts.map((a) => a.outcome)).toEqual(['ungrounded', 'ungrounded']);
  });

  it("leaves tasks without a retrieval spec alone: no search, the task's own prompt", async () => {
    const seen: GenerateRequest[] = [];
    const searches: unknown[] = [];
    const plain = parseTaskDefinition(triageDefinition(), testRouteConfig);
    const { run } = setup([scripted('small', [{ category: 'bug' }], seen)], [hit('refunds', REFUND, 2.1, 0.5)], searches);
    const result = await run({ task: fromDefinition(plain, { version: taskVersion(plain), createdAt: new Date(), active: true }, testRouteConfig) });
    expect(result.output).toEqual({ category: 'bug' });
    expect(searches).toEqual([]);
    expect(seen[0].messages[0].content).not.toContain('<sources>');
  });

  it('checks the input before it searches: a bad input costs no retrieval', async () => {
    const searches: unknown[] = [];
    const { run } = setup([scripted('small', [supported])], [hit('refunds', REFUND, 2.1, 0.5)], searches);
    const error = (await run({ input: { subject: 5 } }).catch((e: unknown) => e)) as GroundworkError;
    expect(error.code).toBe('TASK_INPUT_INVALID');
    expect(searches).toEqual([]);
  });

  it('rejects a grounded definition whose prompt does not show the sources, or whose output cannot carry citations', () => {
    expect(() =>
      parseTaskDefinition(triageDefinition({ retrieval: { collection: 'kb', query: '{{subject}}' }, prompt: { user: 'x' } } as never), testRouteConfig),
    ).toThrow(/add \{\{\{sources\}\}\} to the prompt/);
    expect(() =>
      parseTaskDefinition(
        triageDefinition({ retrieval: { collection: 'kb', query: '{{nope}}' }, prompt: { user: '{{{sources}}}' } } as never),
        testRouteConfig,
      ),
    ).toThrow(/retrieval\.query: unknown variable/);
    expect(() =>
      parseTaskDefinition(
        triageDefinition({ retrieval: { collection: 'kb', query: '{{subject}}' }, prompt: { user: '{{{sources}}}' } } as never),
        testRouteConfig,
      ),
    ).toThrow(/output_schema: a task with retrieval must return citations/);
  });
});
