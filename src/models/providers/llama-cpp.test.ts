import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { afterAll, describe, expect, it } from 'vitest';
import { ModelCallError, type GenerateRequest } from '../spec.js';
import { createLlamaCppModel } from './llama-cpp.js';
import { toGrammarSchema } from './llama-grammar.js';

// The committed 260K-parameter story model: schema-shaped but meaningless answers — a wiring test.
const fixture = fileURLToPath(new URL('../../../examples/models/stories260K.gguf', import.meta.url));

const ticketSchema = {
  type: 'object',
  properties: {
    category: { enum: ['billing', 'bug', 'other'] },
    summary: { type: 'string', maxLength: 40 },
  },
  required: ['category', 'summary'],
  additionalProperties: false,
};

const ticket: GenerateRequest = {
  system: 'Classify the support ticket. Answer with JSON.',
  messages: [{ role: 'user', content: 'My card was charged twice for the same order.' }],
  responseFormat: { type: 'json', schema: ticketSchema },
  maxOutputTokens: 120,
};

// threads: 1 — the model is tiny, and extra threads only contend on small CI machines.
const model = createLlamaCppModel({ name: 'stories', provider: 'local', path: fixture, threads: 1 });
afterAll(() => model.close());

describe('createLlamaCppModel with the stories260K fixture', () => {
  it('forces schema-valid JSON through the grammar and counts tokens with the model tokenizer', async () => {
    const result = await model.generate(ticket);

    const validate = new Ajv().compile(ticketSchema);
    const parsed: unknown = JSON.parse(result.text);
    expect(validate(parsed), JSON.stringify(validate.errors)).toBe(true);
    expect(result.finishReason).toBe('stop');
    expect(result).toMatchObject({ model: 'stories', provider: 'local' });
    expect(Number.isInteger(result.usage.inputTokens) && result.usage.inputTokens > 0).toBe(true);
    expect(Number.isInteger(result.usage.outputTokens) && result.usage.outputTokens > 0).toBe(true);
    expect(result.usage.estimated).toBeUndefined();
  });

  it('is deterministic at the default temperature', async () => {
    const first = await model.generate(ticket);
    const second = await model.generate(ticket);
    expect(second.text).toBe(first.text);
  });

  it('stops at maxOutputTokens and reports finishReason "length"', async () => {
    const result = await model.generate({ messages: [{ role: 'user', content: 'Once upon a time' }], maxOutputTokens: 5 });
    expect(result.finishReason).toBe('length');
    expect(result.usage.outputTokens).toBe(5);
    expect(result.text.length).toBeGreaterThan(0);
  });

  it('cuts JSON at maxOutputTokens and says so, leaving repair or re-ask to the caller', async () => {
    const result = await model.generate({ ...ticket, maxOutputTokens: 8 });
    expect(result.finishReason).toBe('length');
    expect(() => JSON.parse(result.text)).toThrow();
  });

  it('reports a missing file as a non-retryable provider_error naming the path', async () => {
    const path = join(tmpdir(), 'groundwork-no-such-model.gguf');
    const missing = createLlamaCppModel({ name: 'missing', provider: 'local', path });
    const error = await missing.generate(ticket).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ModelCallError);
    expect(error).toMatchObject({ outcome: 'provider_error', retryable: false, model: 'missing', provider: 'local' });
    expect((error as Error).message).toContain(path);
    await missing.close();
  });

  it('reports a file that is not GGUF as a provider_error naming the path', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'groundwork-llama-'));
    const path = join(dir, 'notes.gguf');
    await writeFile(path, 'just some text, not weights');
    try {
      const bogus = createLlamaCppModel({ name: 'bogus', provider: 'local', path });
      await expect(bogus.generate(ticket)).rejects.toMatchObject({ outcome: 'provider_error', retryable: false, message: expect.stringContaining(path) });
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  it('rejects with the abort reason when the signal is already aborted', async () => {
    const reason = new DOMException('run deadline', 'TimeoutError');
    await expect(model.generate({ ...ticket, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
  });

  it('stops a generation that is aborted mid-way and stays usable', async () => {
    const controller = new AbortController();
    const run = model.generate({ messages: [{ role: 'user', content: 'Once upon a time' }], maxOutputTokens: 2000, signal: controller.signal });
    setTimeout(() => controller.abort(new DOMException('stop', 'AbortError')), 20);
    await expect(run).rejects.toMatchObject({ name: 'AbortError' });
    await expect(model.generate(ticket)).resolves.toMatchObject({ finishReason: 'stop' });
  });

  it('serves concurrent calls on one context without mixing them up', async () => {
    const alone = await model.generate({ messages: [{ role: 'user', content: 'Tom had a dog.' }], maxOutputTokens: 30 });
    const [json, story] = await Promise.all([
      model.generate(ticket),
      model.generate({ messages: [{ role: 'user', content: 'Tom had a dog.' }], maxOutputTokens: 30 }),
    ]);
    expect(new Ajv().validate(ticketSchema, JSON.parse(json.text))).toBe(true);
    expect(story.text).toBe(alone.text);
  });

  it('shares the loaded model between ports and reloads after close', async () => {
    const other = createLlamaCppModel({ name: 'stories-2', provider: 'local', path: fixture, threads: 1 });
    const a = await other.generate(ticket);
    await other.close();
    const b = await other.generate(ticket); // lazily re-acquired
    await other.close();
    expect(b.text).toBe(a.text);
    expect((await model.generate(ticket)).text).toBe(a.text); // the first port was untouched
  });
});

describe('createLlamaCppModel with a chat template', () => {
  it('prompts through the template and still forces schema-valid JSON', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'groundwork-llama-'));
    const path = join(dir, 'stories-chatml.gguf');
    await copyWithChatTemplate(fixture, path, CHATML);
    const chat = createLlamaCppModel({ name: 'chat', provider: 'local', path, threads: 1 });
    try {
      const result = await chat.generate(ticket);
      expect(new Ajv().validate(ticketSchema, JSON.parse(result.text))).toBe(true);
      // The ChatML tags are not in this vocabulary, so the templated prompt is far longer than the plain one.
      const plain = await model.generate(ticket);
      expect(result.usage.inputTokens).toBeGreaterThan(plain.usage.inputTokens + 20);
      const text = await chat.generate({ messages: [{ role: 'user', content: 'Once upon a time' }], maxOutputTokens: 10 });
      expect(text).toMatchObject({ finishReason: 'length', usage: { outputTokens: 10 } });
    } finally {
      await chat.close();
      await rm(dir, { recursive: true });
    }
  });
});

const CHATML =
  "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}" +
  '{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}';

/** Copies a GGUF file adding `tokenizer.chat_template` as the first metadata entry. */
async function copyWithChatTemplate(source: string, target: string, template: string): Promise<void> {
  const gguf = await readFile(source);
  const u64 = (n: number) => Buffer.from(new BigUint64Array([BigInt(n)]).buffer);
  const key = Buffer.from('tokenizer.chat_template');
  const entry = (text: string) => {
    const value = Buffer.from(text);
    return Buffer.concat([u64(key.length), key, Buffer.from([8, 0, 0, 0]) /* string */, u64(value.length), value]);
  };
  // Tensor data sits at 32-byte-aligned offsets: pad the entry (inside a Jinja comment) to a multiple of 32.
  let padded = entry(`{##}${template}`);
  for (let pad = 1; padded.length % 32 !== 0; pad++) padded = entry(`{#${' '.repeat(pad)}#}${template}`);
  const header = Buffer.from(gguf.subarray(0, 24)); // magic, version, tensor count, metadata count
  header.writeBigUInt64LE(header.readBigUInt64LE(16) + 1n, 16);
  await writeFile(target, Buffer.concat([header, padded, gguf.subarray(24)]));
}

describe('toGrammarSchema', () => {
  it('drops keywords the grammar cannot honour instead of letting them break the output', () => {
    const converted = toGrammarSchema({
      type: 'object',
      properties: {
        email: { type: 'string', format: 'email', pattern: '@' },
        when: { type: 'string', format: 'date' },
        score: { type: 'number', minimum: 0, maximum: 1 },
        note: { type: ['string', 'null'] },
        tag: { anyOf: [{ type: 'string' }, { type: 'integer' }] },
        ref: { $ref: '#/definitions/item' },
        free: { type: 'object' },
      },
      definitions: { item: { type: 'object', properties: { id: { type: 'integer' } }, required: ['id'] } },
    });
    expect(converted).toEqual({
      type: 'object',
      properties: {
        email: { type: 'string' },
        when: { type: 'string', format: 'date' },
        score: { type: 'number' },
        note: { oneOf: [{ type: 'string' }, { type: 'null' }] },
        tag: { oneOf: [{ type: 'string' }, { type: 'integer' }] },
        ref: { $ref: '#/$defs/item' },
        free: { type: 'object', properties: {}, additionalProperties: true },
      },
      additionalProperties: false,
      $defs: { item: { type: 'object', properties: { id: { type: 'integer' } }, additionalProperties: false } },
    });
  });

  it('yields valid JSON for a schema full of unsupported keywords', async () => {
    const schema = {
      type: 'object',
      properties: {
        contact: { type: 'string', format: 'email', maxLength: 30 },
        count: { type: 'integer', minimum: 0, maximum: 9 },
      },
      required: ['contact', 'count'],
      additionalProperties: false,
    };
    const result = await model.generate({ ...ticket, responseFormat: { type: 'json', schema } });
    const parsed = JSON.parse(result.text) as Record<string, unknown>;
    expect(Object.keys(parsed).sort()).toEqual(['contact', 'count']);
    expect(typeof parsed.contact).toBe('string');
    expect(Number.isInteger(parsed.count)).toBe(true);
  });
});
