import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../kernel/errors.js';
import { AllTiersFailedError, ModelCallError, type GenerateRequest, type GenerateResult, type ModelPort } from '../models/spec.js';
import type { RunRecord, RunRepository } from '../store/ports.js';
import { parseTaskDefinition, taskVersion } from './definition.js';
import { fromDefinition } from './prepared-task.js';
import { createTaskRunner, type ModelGateway } from './run-task.js';
import { testRouteConfig, triageDefinition } from './test-fixtures.js';

/** In-memory RunRepository for pipeline tests (the real one is tested in src/store). */
function memoryRuns(): RunRepository & { saved: RunRecord[] } {
  const saved: RunRecord[] = [];
  return {
    saved,
    async record(_tenant, run) {
      saved.push(structuredClone(run));
    },
    async recordMany(entries) {
      for (const entry of entries) saved.push(structuredClone(entry.run));
    },
    async get(_tenant, id) {
      return saved.find((r) => r.id === id);
    },
    async list() {
      return [];
    },
  };
}

type Script = (request: GenerateRequest) => Promise<GenerateResult>;

function gateway(script: Script, seen: { models?: string[]; requests: GenerateRequest[] } = { requests: [] }): ModelGateway {
  return {
    route(models) {
      seen.models = models;
      const port: ModelPort = {
        provider: 'router',
        model: models.join('>'),
        generate: (request) => {
          seen.requests.push(request);
          return script(request);
        },
      };
      return port;
    },
    cost: (model, usage) => (model === 'large' ? (usage.inputTokens * 10 + usage.outputTokens * 30) / 1e6 : (usage.inputTokens + usage.outputTokens * 2) / 1e6),
  };
}

function setup(script: Script, definitionOverrides = {}) {
  const runs = memoryRuns();
  const seen = { requests: [] as GenerateRequest[], models: undefined as string[] | undefined };
  const definition = parseTaskDefinition(triageDefinition(definitionOverrides), testRouteConfig);
  const task = fromDefinition(definition, { version: taskVersion(definition), createdAt: new Date(), active: true }, testRouteConfig);
  let n = 0;
  const runTask = createTaskRunner({
    runs,
    models: gateway(script, seen),
    config: testRouteConfig,
    newId: (prefix) => `${prefix}_${++n}`,
    now: () => 1_700_000_000_000,
    logger: { error: () => undefined },
  });
  const run = (input: unknown, signal?: AbortSignal) => runTask({ tenantId: 'default', task, input, signal });
  return { run, runs, seen, task };
}

const input = { subject: 'Refund', body: 'Charged twice', customer: { name: 'Dana' } };

describe('runTask', () => {
  it('refuses an input nested deeper than 64 levels with REQUEST_TOO_DEEP before calling a model (in-process callers too)', async () => {
    const { run, seen } = setup(async () => {
      throw new Error('no model call expected');
    });
    let deep: unknown = 'x';
    for (let i = 0; i < 10_000; i++) deep = [deep];
    const error = (await run({ ...input, tags: deep }).catch((e: unknown) => e)) as GroundworkError;
    expect(error.code).toBe('REQUEST_TOO_DEEP');
    expect(seen.requests).toHaveLength(0);
  });

  it('renders the prompt, asks for the output schema, records the run and returns its outcome', async () => {
    const { run, runs, seen, task } = setup(async (request) => {
      request.onAttempt?.({ model: 'small', provider: 'fake', outcome: 'ok', latencyMs: 12.3456, usage: { inputTokens: 100, outputTokens: 20 }, tier: 0 });
      return {
        text: '{"category":"billing"}',
        object: { category: 'billing' },
        usage: { inputTokens: 100, outputTokens: 20 },
        finishReason: 'stop',
        model: 'small',
        provider: 'fake',
        tier: 0,
      };
    });
    const result = await run(input);
    expect(result).toMatchObject({
      output: { category: 'billing' },
      runId: 'run_1',
      taskVersion: task.version,
      model: 'small',
      attempts: 1,
      usage: { inputTokens: 100, outputTokens: 20, costUsd: 0.00014 },
      degraded: false,
    });
    expect(seen.models).toEqual(['small', 'large']);
    const request = seen.requests[0];
    expect(request.system).toBe('You triage tickets.');
    expect(request.messages[0].content).toBe('From Dana: Refund\nCharged twice');
    expect(request.responseFormat).toMatchObject({ type: 'json', schema: { required: ['category'] } });
    expect(request.maxOutputTokens).toBe(1024);
    expect(runs.saved[0]).toMatchObject({
      id: 'run_1',
      status: 'ok',
      output: { category: 'billing' },
      attempts: [{ seq: 1, model: 'small', outcome: 'ok', costUsd: 0.00014 }],
    });
  });

  it('rejects invalid input with field paths before calling any model', async () => {
    const { run, seen, runs } = setup(async () => {
      throw new Error('must not be called');
    });
    const error = await run({ subject: 5, extra: true }).catch((e: GroundworkError) => e);
    expect(error).toBeInstanceOf(GroundworkError);
    expect((error as GroundworkError).code).toBe('TASK_INPUT_INVALID');
    expect((error as GroundworkError).httpStatus).toBe(400);
    expect((error as GroundworkError).details.issues).toEqual(
      expect.arrayContaining([
        { path: '/subject', message: 'must be string' },
        { path: '/body', message: 'is required' },
        { path: '/extra', message: 'is not allowed (unknown field)' },
      ]),
    );
    expect(seen.requests).toHaveLength(0);
    expect(runs.saved).toHaveLength(0);
  });

  it('marks a run degraded when a fallback tier answered, and sums every attempt', async () => {
    const { run } = setup(async (request) => {
      request.onAttempt?.({
        model: 'small',
        provider: 'fake',
        outcome: 'invalid_output',
        latencyMs: 5,
        usage: { inputTokens: 50, outputTokens: 10 },
        tier: 0,
        validationErrors: ['/category must be equal to one of the allowed values'],
      });
      request.onAttempt?.({
        model: 'large',
        provider: 'fake',
        outcome: 'ok',
        latencyMs: 5,
        usage: { inputTokens: 50, outputTokens: 10 },
        tier: 1,
        escalationReason: 'tier 0 (small): invalid_output',
      });
      return {
        text: '{}',
        object: { category: 'bug' },
        usage: { inputTokens: 50, outputTokens: 10 },
        finishReason: 'stop',
        model: 'large',
        provider: 'fake',
        tier: 1,
      };
    });
    const result = await run(input);
    expect(result.degraded).toBe(true);
    expect(result.attempts).toBe(2);
    expect(result.usage.inputTokens).toBe(100);
  });

  it('turns all-tiers-failed into a typed 502 listing each attempt, and records the failed run', async () => {
    const { run, runs } = setup(async (request) => {
      request.onAttempt?.({ model: 'small', provider: 'fake', outcome: 'invalid_output', latencyMs: 1, tier: 0, validationErrors: ['bad'] });
      request.onAttempt?.({ model: 'large', provider: 'fake', outcome: 'provider_error', latencyMs: 1, tier: 1, error: 'HTTP 500' });
      throw new AllTiersFailedError(
        [
          new ModelCallError({ outcome: 'invalid_output', message: 'bad', model: 'small', provider: 'fake' }),
          new ModelCallError({ outcome: 'provider_error', message: 'HTTP 500', model: 'large', provider: 'fake' }),
        ],
        false,
      );
    });
    const error = (await run(input).catch((e) => e)) as GroundworkError;
    expect(error.code).toBe('MODEL_ALL_TIERS_FAILED');
    expect(error.httpStatus).toBe(502);
    expect(error.runId).toBe('run_1');
    expect(error.details.attempts).toEqual([
      { tier: 0, model: 'small', outcome: 'invalid_output', validation_errors: ['bad'] },
      { tier: 1, model: 'large', outcome: 'provider_error', error: 'HTTP 500' },
    ]);
    expect(runs.saved[0]).toMatchObject({ status: 'error', error: { code: 'MODEL_ALL_TIERS_FAILED' } });
  });

  it('answers 503 when every tier was unavailable and 504 when the deadline passed', async () => {
    const unavailable = setup(async () => {
      throw new AllTiersFailedError([new ModelCallError({ outcome: 'circuit_open', message: 'open', model: 'small', provider: 'fake' })], false);
    });
    expect(((await unavailable.run(input).catch((e) => e)) as GroundworkError).httpStatus).toBe(503);

    const slow = setup(
      (request) =>
        new Promise((_, reject) => {
          request.signal?.addEventListener('abort', () => reject(new AllTiersFailedError([], true)));
        }),
      { limits: { timeout_ms: 150, max_output_tokens: 100 } },
    );
    const started = Date.now();
    const error = (await slow.run(input).catch((e) => e)) as GroundworkError;
    expect(error.code).toBe('MODEL_DEADLINE_EXCEEDED');
    expect(error.httpStatus).toBe(504);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('records a cancelled run as cancelled, with the reason it was given, never as a passed deadline', async () => {
    const hanging = (request: GenerateRequest) =>
      new Promise<GenerateResult>((_, reject) => {
        request.signal?.addEventListener('abort', () => reject(new AllTiersFailedError([], true)));
      });
    const { run, runs } = setup(hanging);
    const client = new AbortController();
    const pending = run(input, client.signal).catch((e) => e);
    client.abort(new GroundworkError('CLIENT_DISCONNECTED', 'the client went away'));
    expect(((await pending) as GroundworkError).code).toBe('CLIENT_DISCONNECTED');
    expect(runs.saved.at(-1)?.error?.code).toBe('CLIENT_DISCONNECTED');

    const job = new AbortController();
    const stopped = run(input, job.signal).catch((e) => e);
    job.abort('cancelled');
    const error = (await stopped) as GroundworkError;
    expect(error.code).toBe('RUN_CANCELLED');
    expect(error.message).toMatch(/cancelled/);
  });

  it('stops spending once max_cost_usd is reached', async () => {
    const { run } = setup(
      (request) =>
        new Promise((_, reject) => {
          request.onAttempt?.({
            model: 'large',
            provider: 'fake',
            outcome: 'invalid_output',
            latencyMs: 1,
            usage: { inputTokens: 1000, outputTokens: 1000 },
            tier: 0,
          });
          if (request.signal?.aborted) reject(new AllTiersFailedError([], true));
        }),
      { limits: { timeout_ms: 5_000, max_output_tokens: 100, max_cost_usd: 0.01 } },
    );
    const error = (await run(input).catch((e) => e)) as GroundworkError;
    expect(error.code).toBe('MODEL_BUDGET_EXCEEDED');
    expect(error.details.spent_usd).toBeCloseTo(0.04);
  });

  it('still answers when recording the run fails (the model work is done)', async () => {
    const { run, runs } = setup(async () => ({
      text: '{}',
      object: { category: 'other' },
      usage: { inputTokens: 1, outputTokens: 1 },
      finishReason: 'stop',
      model: 'small',
      provider: 'fake',
      tier: 0,
    }));
    runs.record = async () => {
      throw new Error('disk full');
    };
    await expect(run(input)).resolves.toMatchObject({ output: { category: 'other' } });
  });
});
