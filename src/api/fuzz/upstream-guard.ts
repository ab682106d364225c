import { createServer, request as forward, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A pass-through in front of a mock model server that refuses what a real provider refuses
 * before doing any work: an embeddings `dimensions` past what any model returns. The gateway
 * forwards that field as sent (so the fuzz must send hostile ones), and the mock builds an
 * array of that length: 2^31 takes the whole process down with it. OpenAI answers such a
 * request with a 400; so does this guard, and everything else reaches the mock untouched.
 */

/** Largest `dimensions` a provider accepts (OpenAI's text-embedding-3-large returns 3,072). */
const MAX_DIMENSIONS = 3_072;
const MAX_BODY = 4 * 1024 * 1024;

/** A running guard: point the provider's base_url at `url`. */
export interface UpstreamGuard {
  url: string;
  close(): Promise<void>;
}

export async function startUpstreamGuard(mockUrl: string): Promise<UpstreamGuard> {
  const upstream = new URL(mockUrl);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      if (size > MAX_BODY) return refuse(res, 'request too large');
      if (req.url?.endsWith('/embeddings') && !dimensionsAllowed(body)) return refuse(res, `dimensions must be an integer from 1 to ${MAX_DIMENSIONS}`);
      pass({ req, res, body, upstream });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}${upstream.pathname}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function dimensionsAllowed(body: Buffer): boolean {
  let dimensions: unknown;
  try {
    dimensions = (JSON.parse(body.toString('utf8')) as { dimensions?: unknown } | null)?.dimensions;
  } catch {
    return true; // Not JSON: the mock answers that itself.
  }
  return dimensions === undefined || dimensions === null || typeof dimensions !== 'number' || (Number.isInteger(dimensions) && dimensions <= MAX_DIMENSIONS);
}

function refuse(res: ServerResponse, message: string): void {
  res.writeHead(400, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ error: { message, type: 'invalid_request_error', code: null } }));
}

function pass(params: { req: IncomingMessage; res: ServerResponse; body: Buffer; upstream: URL }): void {
  const { req, res, body, upstream } = params;
  const headers = { ...req.headers, host: upstream.host, 'content-length': String(body.length) };
  delete headers['transfer-encoding'];
  const out = forward({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers }, (answer) => {
    res.writeHead(answer.statusCode ?? 502, answer.headers);
    answer.pipe(res);
  });
  out.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  // The gateway gave up (timeout, client gone): stop the mock's answer too.
  res.on('close', () => out.destroy());
  out.end(body);
}
