import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { describe, expect, it } from 'vitest';
import { Disconnect } from './disconnect.js';

describe('Disconnect', () => {
  it('aborts once, and its AbortSignal follows whether made before or after', () => {
    const before = new Disconnect();
    const signal = before.signal;
    let events = 0;
    before.addEventListener('abort', () => events++);
    before.abort();
    before.abort();
    expect([before.aborted, signal.aborted, events]).toEqual([true, true, 1]);
    const after = new Disconnect();
    after.abort();
    expect(after.signal.aborted).toBe(true);
    expect(new Disconnect().signal.aborted).toBe(false);
  });

  it('stops an undici request in flight', async () => {
    const server = createServer(() => {}); // never answers
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const disconnect = new Disconnect();
      const pending = request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { method: 'POST', body: '{}', signal: disconnect });
      setTimeout(() => disconnect.abort(), 20);
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
