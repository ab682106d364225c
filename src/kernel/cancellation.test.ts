import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { Cancellation, toAbortSignal } from './cancellation.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('Cancellation', () => {
  it('aborts once with its reason; listeners added later are not called, removed ones neither', () => {
    const cancel = new Cancellation();
    const heard: string[] = [];
    const removed = () => heard.push('removed');
    cancel.addEventListener('abort', () => heard.push('first'));
    cancel.addEventListener('abort', removed);
    cancel.removeEventListener('abort', removed);
    cancel.abort('stop');
    cancel.abort('again');
    cancel.addEventListener('abort', () => heard.push('late'));
    expect([cancel.aborted, cancel.reason, heard]).toEqual([true, 'stop', ['first']]);
    expect(() => cancel.throwIfAborted()).toThrow('stop');
  });

  it('follows a parent (AbortSignal or Cancellation) with its reason, and stops following once disposed', () => {
    const parent = new AbortController();
    const child = new Cancellation().follow(parent.signal);
    parent.abort('parent went');
    expect([child.aborted, child.reason]).toEqual([true, 'parent went']);

    const outer = new Cancellation();
    const inner = new Cancellation().follow(outer);
    inner.dispose();
    outer.abort();
    expect(inner.aborted).toBe(false);
  });

  it('aborts after its timeout, unless the work ended first', () => {
    vi.useFakeTimers();
    const slow = new Cancellation().timeout(100, () => 'too slow');
    const quick = new Cancellation().timeout(100, () => 'too slow');
    quick.dispose();
    vi.advanceTimersByTime(101);
    expect([slow.aborted, slow.reason, quick.aborted]).toEqual([true, 'too slow', false]);
  });

  it('hands libraries a real AbortSignal that follows it, made or asked for before or after the abort', () => {
    const cancel = new Cancellation();
    const early = toAbortSignal(cancel)!;
    cancel.abort('x');
    expect([early.aborted, early.reason]).toEqual([true, 'x']);
    const aborted = new Cancellation();
    aborted.abort('y');
    expect(toAbortSignal(aborted)!.reason).toBe('y');
    const native = new AbortController().signal;
    expect(toAbortSignal(native)).toBe(native);
    expect(toAbortSignal(undefined)).toBeUndefined();
  });
});

describe('Cancellation as a client disconnect (the gateway routes make one per call)', () => {
  it('aborts once, and its AbortSignal follows whether made before or after', () => {
    const before = new Cancellation();
    const signal = before.signal;
    let events = 0;
    before.addEventListener('abort', () => events++);
    before.abort();
    before.abort();
    expect([before.aborted, signal.aborted, events]).toEqual([true, true, 1]);
    const after = new Cancellation();
    after.abort();
    expect(after.signal.aborted).toBe(true);
    expect(new Cancellation().signal.aborted).toBe(false);
  });

  it('stops an undici request in flight', async () => {
    const server = createServer(() => {}); // never answers
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const disconnect = new Cancellation();
      const pending = request(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, { method: 'POST', body: '{}', signal: disconnect });
      setTimeout(() => disconnect.abort(), 20);
      await expect(pending).rejects.toMatchObject({ name: 'AbortError' });
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});
