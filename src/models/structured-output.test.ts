import { Ajv } from 'ajv';
import { describe, expect, it, vi } from 'vitest';
import { withInstrumentation } from './resilience/instrument.js';
import { ModelCallError, type AttemptEvent, type FinishReason, type GenerateRequest, type ModelPort } from './spec.js';
import { extractJson, parseJson, withStructuredOutput } from './structured-output.js';

const schema = {
  type: 'object',
  properties: {
    label: { type: 'string', enum: ['billing', 'bug'] },
    confidence: { type: 'number', minimum: 0, maximum: 1 },
    email: { type: 'string', format: 'email' },
  },
  required: ['label', 'confidence'],
  additionalProperties: false,
};

/** An instrumented fake model that replies with the given texts in order and records its requests. */
function replies(...outputs: Array<string | { text: string; finishReason: FinishReason }>) {
  const requests: GenerateRequest[] = [];
  let call = 0;
  const raw: ModelPort = {
    provider: 'openai',
    model: 'gpt-4o-mini',
    async generate(request) {
      requests.push(request);
      const output = outputs[Math.min(call++, outputs.length - 1)];
      const { text, finishReason } = typeof output === 'string' ? { text: output, finishReason: 'stop' as const } : output;
      return { text, finishReason, usage: { inputTokens: 100, outputTokens: 10 }, model: 'gpt-4o-mini', provider: 'openai' };
    },
  };
  return { model: withStructuredOutput(withInstrumentation(raw)), requests };
}

function request(events: AttemptEvent[] = []): GenerateRequest {
  return { messages: [{ role: 'user', content: 'Classify: my invoice is wrong' }], responseFormat: { type: 'json', schema }, onAttempt: (e) => events.push(e) };
}

describe('withStructuredOutput', () => {
  it('returns the parsed object for valid output and reports the attempt as ok', async () => {
    const events: AttemptEvent[] = [];
    const { model } = replies('{"label":"billing","confidence":0.9}');

    const result = await model.generate(request(events));

    expect(result.object).toEqual({ label: 'billing', confidence: 0.9 });
    expect(events).toEqual([expect.objectContaining({ outcome: 'ok', usage: { inputTokens: 100, outputTokens: 10 } })]);
    expect(events[0].repaired).toBeUndefined();
  });

  it('repairs code fences, leading prose and a trailing comma without a re-ask, and says so', async () => {
    const events: AttemptEvent[] = [];
    const { model, requests } = replies('Sure! Here it is:\n```json\n{"label": "bug", "confidence": 0.5,}\n```\nHope that helps.');

    const result = await model.generate(request(events));

    expect(result.object).toEqual({ label: 'bug', confidence: 0.5 });
    expect(requests).toHaveLength(1);
    expect(events).toEqual([expect.objectContaining({ outcome: 'ok', repaired: true })]);
  });

  it('re-asks once with the validator’s errors, then succeeds with summed usage', async () => {
    const events: AttemptEvent[] = [];
    const { model, requests } = replies('{"label":"refund","confidence":7,"extra":true}', '{"label":"billing","confidence":0.7}');

    const result = await model.generate(request(events));

    expect(result.object).toEqual({ label: 'billing', confidence: 0.7 });
    expect(result.usage).toEqual({ inputTokens: 200, outputTokens: 20 });
    const reask = requests[1].messages;
    expect(reask.slice(0, 2)).toEqual([request().messages[0], { role: 'assistant', content: '{"label":"refund","confidence":7,"extra":true}' }]);
    expect(reask[2].role).toBe('user');
    expect(reask[2].content).toContain('/label: must be equal to one of the allowed values');
    expect(reask[2].content).toContain('/confidence: must be <= 1');
    expect(reask[2].content).toContain('(extra)');
    expect(events.map((e) => [e.outcome, e.reask ?? false])).toEqual([
      ['invalid_output', false],
      ['ok', true],
    ]);
    expect(events[0].validationErrors).toEqual(expect.arrayContaining([expect.stringContaining('/confidence')]));
  });

  it('throws invalid_output with the validation errors when the re-ask is still wrong', async () => {
    const events: AttemptEvent[] = [];
    const { model, requests } = replies('{"label":"bug"}', '{"label":"bug","confidence":"high"}');

    const error = await model.generate(request(events)).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(ModelCallError);
    expect(error).toMatchObject({ outcome: 'invalid_output', retryable: false, model: 'gpt-4o-mini' });
    expect((error as ModelCallError).validationErrors).toEqual(['/confidence: must be number']);
    expect(requests).toHaveLength(2);
    expect(events.map((e) => e.outcome)).toEqual(['invalid_output', 'invalid_output']);
    expect(events[0].validationErrors).toEqual(["(root): must have required property 'confidence'"]);
  });

  it('treats output cut off at the token limit as invalid instead of repairing it', async () => {
    const events: AttemptEvent[] = [];
    const { model, requests } = replies({ text: '{"label":"billing","confid', finishReason: 'length' }, '{"label":"billing","confidence":1}');

    const result = await model.generate(request(events));

    expect(result.object).toEqual({ label: 'billing', confidence: 1 });
    expect(requests[1].messages[2].content).toContain('cut off');
    expect(events[0]).toMatchObject({ outcome: 'invalid_output', validationErrors: [expect.stringContaining('truncated')] });
  });

  it('reports unrecoverable syntax as invalid output', async () => {
    const { model } = replies('I cannot help with that.');
    await expect(model.generate(request())).rejects.toMatchObject({ outcome: 'invalid_output' });
  });

  it('checks formats (ajv-formats)', async () => {
    const { model } = replies('{"label":"bug","confidence":0.1,"email":"not-an-email"}');
    const error = (await model.generate(request()).catch((e: unknown) => e)) as ModelCallError;
    expect(error.validationErrors).toEqual(['/email: must match format "email"']);
  });

  it('leaves text requests alone', async () => {
    const { model } = replies('plain words');
    const result = await model.generate({ messages: [{ role: 'user', content: 'hi' }] });
    expect(result).toMatchObject({ text: 'plain words' });
    expect(result.object).toBeUndefined();
  });

  it('compiles each schema once, even when callers rebuild an equal schema object', async () => {
    const ajv = new Ajv({ allErrors: true, strict: false });
    const compile = vi.spyOn(ajv, 'compile');
    const { model: inner } = replies('{"label":"bug","confidence":0.1}');
    const model = withStructuredOutput(inner, { ajv });
    for (let i = 0; i < 3; i++) {
      const copy = JSON.parse(JSON.stringify({ ...schema, properties: { label: { type: 'string' }, confidence: { type: 'number' } } }));
      await model.generate({ messages: [], responseFormat: { type: 'json', schema: copy } });
    }
    expect(compile).toHaveBeenCalledTimes(1);
  });
});

describe('extractJson / parseJson', () => {
  it('finds the JSON in fenced, prefixed and plain replies', () => {
    expect(extractJson('```\n[1,2]\n```')).toBe('[1,2]');
    expect(extractJson('Result: {"a":1} -- done')).toBe('{"a":1}');
    expect(extractJson('  42 ')).toBe('42');
  });

  it('repairs single quotes and unquoted keys, and refuses to repair when told not to', () => {
    expect(parseJson("{a: 'x'}")).toEqual({ ok: true, value: { a: 'x' }, repaired: true });
    expect(parseJson('{"a":1,}', false)).toMatchObject({ ok: false });
  });
});
