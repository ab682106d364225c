import { isObject, type WireUsage } from './openai-wire.js';

/**
 * Relays an upstream chat-completions SSE stream to the caller event by event, learning on
 * the way what the run record needs: the answer's text, the usage (the gateway always asks
 * upstream for it), whether a finish reason and `[DONE]` arrived. Events are forwarded as
 * the upstream wrote them; only the usage-only chunk is dropped when the client did not
 * ask for usage itself.
 */
export class SseRelay {
  /** The assistant text streamed so far. */
  text = '';
  usage: WireUsage | undefined;
  /** A choice reported a finish_reason. */
  finished = false;
  /** The last finish_reason a choice reported (OpenAI's words: stop, length, tool_calls, …). */
  finishReason: string | undefined;
  /** `data: [DONE]` arrived. */
  done = false;
  /** Upstream sent an `error` event of its own. */
  upstreamError: unknown;
  private pending = '';

  constructor(private readonly clientWantsUsage: boolean) {}

  /** Feeds decoded upstream text; returns the complete events to send to the client ('' for none yet). */
  push(chunk: string): string {
    let buffer = this.pending + (chunk.includes('\r') ? chunk.replace(/\r\n?/g, '\n') : chunk);
    let out = '';
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const event = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      if (this.keep(event)) out += `${event}\n\n`;
      end = buffer.indexOf('\n\n');
    }
    this.pending = buffer;
    return out;
  }

  /** Whether the event goes to the client; records what it says. */
  private keep(event: string): boolean {
    const data = dataOf(event);
    if (data === undefined) return event.length > 0; // comments and keep-alives pass; empty blocks do not
    if (data === '[DONE]') {
      this.done = true;
      return true;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(data);
    } catch {
      return true;
    }
    if (!isObject(parsed)) return true;
    if (parsed.error !== undefined) {
      this.upstreamError = parsed.error;
      return true;
    }
    const usage = parsed.usage;
    if (isObject(usage) && typeof usage.prompt_tokens === 'number') this.usage = usage as unknown as WireUsage;
    const choices = parsed.choices;
    if (Array.isArray(choices)) {
      for (const choice of choices) {
        if (!isObject(choice)) continue;
        const delta = choice.delta;
        if (isObject(delta) && typeof delta.content === 'string') this.text += delta.content;
        if (typeof choice.finish_reason === 'string') {
          this.finished = true;
          this.finishReason = choice.finish_reason;
        }
      }
      // The usage-only chunk that exists because the gateway asked for it.
      if (choices.length === 0 && this.usage !== undefined && !this.clientWantsUsage) return false;
    }
    return true;
  }
}

/** The data of an SSE event (multi-line data joined by \n), or undefined when it has none. */
function dataOf(event: string): string | undefined {
  if (event.startsWith('data:') && !event.includes('\n')) return event.charCodeAt(5) === 32 ? event.slice(6) : event.slice(5);
  let data: string | undefined;
  for (const line of event.split('\n')) {
    if (!line.startsWith('data:')) continue;
    const value = line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5);
    data = data === undefined ? value : `${data}\n${value}`;
  }
  return data;
}
