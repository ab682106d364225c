import { describe, expect, it } from 'vitest';
import { SseRelay } from './openai-sse.js';

const chunk = (content: string, finish: string | null = null) =>
  `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [{ index: 0, delta: { content }, finish_reason: finish }], usage: null })}\n\n`;
const usage = `data: ${JSON.stringify({ id: 'c', object: 'chat.completion.chunk', choices: [], usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 } })}\n\n`;

describe('SSE relay', () => {
  it('reassembles events split anywhere across chunks and forwards them unchanged', () => {
    const stream = chunk('Hel') + chunk('lo', 'stop') + usage + 'data: [DONE]\n\n';
    const relay = new SseRelay(true);
    let out = '';
    for (let i = 0; i < stream.length; i += 7) out += relay.push(stream.slice(i, i + 7));
    expect(out).toBe(stream);
    expect(relay).toMatchObject({ text: 'Hello', finished: true, done: true, usage: { prompt_tokens: 7, completion_tokens: 3 } });
  });

  it('drops only the usage chunk when the client did not ask for usage', () => {
    const relay = new SseRelay(false);
    const out = relay.push(chunk('Hi', 'stop') + usage + 'data: [DONE]\n\n');
    expect(out).toBe(chunk('Hi', 'stop') + 'data: [DONE]\n\n');
    expect(relay.usage?.total_tokens).toBe(10);
  });

  it('reads CRLF framing, keeps comments, and notices an upstream error event', () => {
    const relay = new SseRelay(false);
    const out = relay.push(': keep-alive\r\n\r\n' + chunk('x').replace(/\n/g, '\r\n') + 'data: {"error":{"message":"overloaded"}}\r\n\r\n');
    expect(out).toContain(': keep-alive\n\n');
    expect(relay.text).toBe('x');
    expect(relay.upstreamError).toEqual({ message: 'overloaded' });
    expect(relay.done).toBe(false);
  });
});
