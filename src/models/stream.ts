import type { GenerateRequest, GenerateResult, GenerateStream, ModelPort, StreamChunk } from './spec.js';

/**
 * Streaming for every port: its own `stream` when it has one, else its whole answer as one
 * chunk once `generate` resolves (so "before the first byte" is "before the answer", and
 * failover applies to all of it).
 */
export function streamOf(port: ModelPort, request: GenerateRequest): Promise<GenerateStream> {
  return port.stream ? port.stream(request) : port.generate(request).then((result) => wholeAnswer(result));
}

/**
 * A finished answer as a one-chunk stream. The chunk carries its text only: a whole answer's
 * own bytes (`result.raw`) are not a stream's events, so the caller writes the text its own way.
 */
export function wholeAnswer(result: GenerateResult): GenerateStream {
  return {
    model: result.model,
    provider: result.provider,
    chunks: oneChunk({ text: result.text }),
    result: () => result,
  };
}

async function* oneChunk(chunk: StreamChunk): AsyncGenerator<StreamChunk> {
  yield chunk;
}

/**
 * Wraps a stream's chunks: `onEnd` runs once, after the last chunk (with no error) or when the
 * chunks throw after the first one (with the error), or when the consumer stops early.
 */
export function onStreamEnd(stream: GenerateStream, onEnd: (error: unknown) => void): GenerateStream {
  let ended = false;
  const end = (error: unknown) => {
    if (ended) return;
    ended = true;
    onEnd(error);
  };
  async function* chunks(): AsyncGenerator<StreamChunk> {
    try {
      for await (const chunk of stream.chunks) yield chunk;
      end(undefined);
    } catch (error) {
      end(error);
      throw error;
    } finally {
      end(undefined);
    }
  }
  return { model: stream.model, provider: stream.provider, chunks: chunks(), result: () => stream.result() };
}
