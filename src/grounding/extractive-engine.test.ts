import { Ajv } from 'ajv';
import { describe, expect, it } from 'vitest';
import { ModelCallError, type GenerateRequest } from '../models/spec.js';
import { ASK_MODEL_OUTPUT_SCHEMA, ASK_OUTPUT_SCHEMA, ASK_SYSTEM_PROMPT, buildAskUserPrompt, finalizeGroundedAnswer, type AskModelOutput } from './ask.js';
import { createExtractiveEngine, extractAnswer } from './extractive-engine.js';
import { parseGroundedPrompt } from './grounded-prompt.js';
import { sourcesFrom } from './test-fixtures.js';
import type { GroundingSource } from './sources.js';

const ajv = new Ajv({ strict: false });

const passages = sourcesFrom(
  'The Eiffel Tower is a wrought-iron lattice tower in Paris. It was designed by the engineering company of Gustave Eiffel. ' +
    'Construction of the tower was completed in 1889 for the World Fair. The tower is 330 metres tall.',
  'The Louvre is the most visited museum in the world. It houses the Mona Lisa, painted by Leonardo da Vinci. ' +
    'The museum opened to the public in 1793 during the French Revolution.',
  'Paris has a population of about two million people. The Seine river flows through the city from east to west.',
);

function request(question: string, sources: GroundingSource[] = passages, json = true): GenerateRequest {
  return {
    system: ASK_SYSTEM_PROMPT,
    messages: [{ role: 'user', content: buildAskUserPrompt({ question, sources }) }],
    responseFormat: json ? { type: 'json', schema: ASK_MODEL_OUTPUT_SCHEMA } : undefined,
  };
}

async function ask(question: string, sources: GroundingSource[] = passages) {
  const result = await createExtractiveEngine().generate(request(question, sources));
  const raw = JSON.parse(result.text) as AskModelOutput;
  return { result, raw, ...finalizeGroundedAnswer(raw, sources) };
}

describe('extractive engine', () => {
  it('answers a factual question with a verbatim quote that verifies', async () => {
    const { raw, output, metrics } = await ask('When was construction of the Eiffel Tower completed?');
    expect(raw.answerable).toBe(true);
    expect(raw.citations[0]).toEqual({ source: 1, quote: 'Construction of the tower was completed in 1889 for the World Fair.' });
    expect(output.answerable).toBe(true);
    expect(output.citations[0]).toEqual({ chunk_id: 'c1', document: 'doc1.md', quote: 'Construction of the tower was completed in 1889 for the World Fair.' });
    expect(metrics.citations_dropped).toBe(0);
    expect(output.confidence).toBeGreaterThan(0);
  });

  it('uses answer-type cues: "who" prefers the sentence with a new name', async () => {
    const { output } = await ask('Who painted the Mona Lisa?');
    expect(output.answer).toContain('Leonardo da Vinci');
  });

  it('abstains when the answer is not in the sources', async () => {
    const { raw, output, metrics } = await ask('What is the boiling point of liquid nitrogen?');
    expect(raw).toMatchObject({ answer: '', citations: [], answerable: false });
    expect(output.citations).toEqual([]);
    expect(metrics.abstained).toBe(true);
  });

  it('abstains when the best sentence is about a different entity than the question names', async () => {
    const { raw } = await ask('When was construction of the Louvre Pyramid completed?');
    expect(raw.answerable).toBe(false);
  });

  it('abstains when a "how many" question finds no number', async () => {
    const sources = sourcesFrom('The museum has several wings named after French kings. Each wing has its own entrance hall.');
    const { raw } = await ask('How many wings does the museum have?', sources);
    expect(raw.answerable).toBe(false);
  });

  it('does not require the quantity word of "how long/many/much" in the answer', async () => {
    const sources = sourcesFrom('Card refunds usually appear within 5 to 10 business days, depending on the bank. PayPal refunds are visible within 24 hours.');
    const { output } = await ask('How long do card refunds take to appear?', sources);
    expect(output.answerable).toBe(true);
    expect(output.citations[0].quote).toContain('5 to 10 business days');
  });

  it('abstains with no sources', async () => {
    const { raw } = await ask('When was the Eiffel Tower completed?', []);
    expect(raw).toEqual({ answer: '', citations: [], answerable: false, confidence: 1 });
  });

  it('works as a ModelPort: JSON text that validates against the ask schemas, usage counted, cost-free identity', async () => {
    const engine = createExtractiveEngine();
    expect([engine.provider, engine.model]).toEqual(['builtin', 'extractive']);
    const result = await engine.generate(request('How tall is the Eiffel Tower?'));
    const raw = JSON.parse(result.text) as AskModelOutput;
    expect(ajv.validate(ASK_MODEL_OUTPUT_SCHEMA, raw)).toBe(true);
    expect(ajv.validate(ASK_OUTPUT_SCHEMA, finalizeGroundedAnswer(raw, passages).output)).toBe(true);
    expect(raw.answer).toContain('330 metres');
    expect(result).toMatchObject({ provider: 'builtin', model: 'extractive', finishReason: 'stop' });
    expect(result.usage.inputTokens).toBeGreaterThan(100);
    expect(result.usage.outputTokens).toBeGreaterThan(5);
  });

  it('finds the grounded prompt behind a re-ask and answers in text mode with [n] markers', async () => {
    const base = request('How tall is the Eiffel Tower?', passages, false);
    const reask: GenerateRequest = {
      ...base,
      messages: [...base.messages, { role: 'assistant', content: '{' }, { role: 'user', content: 'Fix the JSON.' }],
    };
    const result = await createExtractiveEngine().generate(reask);
    expect(result.text).toBe('The tower is 330 metres tall. [1]');
  });

  it('refuses prompts without a sources block with a non-retryable provider error', async () => {
    const call = createExtractiveEngine().generate({ messages: [{ role: 'user', content: 'Classify: printer on fire' }] });
    await expect(call).rejects.toBeInstanceOf(ModelCallError);
    await expect(call).rejects.toMatchObject({ outcome: 'provider_error', retryable: false });
  });

  it('honours an aborted signal', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(createExtractiveEngine().generate({ ...request('Anything?'), signal: controller.signal })).rejects.toMatchObject({ outcome: 'timeout' });
  });

  it('is deterministic for 6 sources of ~300 tokens (its speed is measured by bench:abstain, not here)', () => {
    const words = 'The station recorded rainfall of 42 millimetres on Tuesday while engineers inspected the northern pumps and valves'.split(' ');
    const texts = Array.from({ length: 6 }, (_, s) =>
      Array.from({ length: 14 }, (_, i) => `${words.slice((i + s) % 5, ((i + s) % 5) + 12).join(' ')} number ${s * 100 + i}.`).join(' '),
    );
    const sources = sourcesFrom(...texts);
    expect(sources.every((s) => s.tokens > 250 && s.tokens < 350)).toBe(true);
    const prompt = parseGroundedPrompt(buildAskUserPrompt({ question: 'How much rainfall did the station record on Tuesday?', sources }))!;
    const first = extractAnswer(prompt).output;
    for (let i = 0; i < 5; i++) expect(extractAnswer(prompt).output).toEqual(first);
  });
});
