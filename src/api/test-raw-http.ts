import { connect, type Socket } from 'node:net';

/**
 * Test helper: one HTTP/1.1 request over a real socket, for what `inject` cannot do — send
 * part of a body and wait for the answer, or vanish mid-upload.
 */

/** A parsed HTTP response. */
export interface RawResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** An open request: write more of it, destroy it, or await the server's answer. */
export interface RawRequest {
  socket: Socket;
  send(bytes: Buffer | string): Promise<void>;
  /** The first complete response; rejects if the connection closes without one. */
  response: Promise<RawResponse>;
}

export async function rawRequest(port: number, head: string): Promise<RawRequest> {
  const socket = connect({ port, host: '127.0.0.1' });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let data = Buffer.alloc(0);
  const response = new Promise<RawResponse>((resolve, reject) => {
    const parse = (final: boolean) => {
      const end = data.indexOf('\r\n\r\n');
      if (end === -1) {
        if (final) reject(new Error('the connection closed without a response'));
        return;
      }
      const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
      const headers = Object.fromEntries(
        lines.map((line) => [line.slice(0, line.indexOf(':')).trim().toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
      );
      const length = Number(headers['content-length']);
      const body = data.subarray(end + 4);
      if (Number.isFinite(length) ? body.length >= length : final) {
        resolve({ status: Number(statusLine.split(' ')[1]), headers, body: body.subarray(0, Number.isFinite(length) ? length : undefined).toString('utf8') });
      }
    };
    socket.on('data', (chunk: Buffer) => {
      data = Buffer.concat([data, chunk]);
      parse(false);
    });
    // A reset after the answer arrived changes nothing; before it, the request failed.
    socket.on('error', () => parse(true));
    socket.on('close', () => parse(true));
  });
  response.catch(() => undefined);
  const request: RawRequest = {
    socket,
    send: (bytes) => new Promise<void>((resolve, reject) => socket.write(bytes, (error) => (error ? reject(error) : resolve()))),
    response,
  };
  await request.send(head);
  return request;
}

/** Rejects after `ms` with `message` unless `promise` settles first (a bound on a test that would otherwise hang). */
export async function within<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => (timer = setTimeout(() => reject(new Error(message)), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}
