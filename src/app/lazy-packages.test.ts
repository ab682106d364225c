import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/**
 * What `serve` loads before its first request decides its start-up time and idle memory. The
 * heavy packages that most servers never use (the tokenizer until the first ingestion or
 * grounded run; undici until a webhook or an OpenAI-compatible pass-through; ioredis without
 * Redis) load at first use (kernel/lazy-package.ts). This loads the server's code in a fresh
 * process, as `serve` does, and lists which of them arrived, through `import` (a resolve
 * hook) or `require` (the CommonJS cache), then uses the tokenizer once to show that a load
 * is seen.
 */

const WATCHED = ['gpt-tokenizer', 'undici', 'ioredis'];

const script = `
import { register } from 'node:module';
import { createRequire } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
const resolved = new Set();
let flushed = () => {};
port1.on('message', (message) => (typeof message === 'string' ? resolved.add(message) : flushed()));
// The hook posts each URL it resolves; "flush" is answered after every URL posted before it
// (one port, in order), so the list is whole without waiting on a timer.
const hook = 'let port; export function initialize(data) { port = data.port; port.on("message", () => port.postMessage({ flushed: true })); }' +
  'export async function resolve(specifier, context, next) { const result = await next(specifier, context); port.postMessage(result.url); return result; }';
register('data:text/javascript,' + encodeURIComponent(hook), { data: { port: port2 }, transferList: [port2] });
const watched = ${JSON.stringify(WATCHED)};
const loaded = () => {
  const files = [...resolved, ...Object.keys(createRequire(import.meta.url).cache)];
  return watched.filter((name) => files.some((file) => file.includes('/node_modules/' + name + '/')));
};
const settle = () => new Promise((resolve) => { flushed = resolve; port1.postMessage('flush'); });
await Promise.all([import('./src/app/app.ts'), import('./src/api/server.ts'), import('./src/api/idempotency.ts'), import('./src/store/index.ts')]);
await settle();
const atStart = loaded();
const { tokenizer } = await import('./src/kernel/tokenizer.ts');
tokenizer().countTokens('hello');
await settle();
console.log(JSON.stringify({ atStart, afterUse: loaded() }));
port1.close();
`;

describe('the server code', () => {
  it('loads the tokenizer, undici and ioredis only when first used', () => {
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
    expect(child.status, child.stderr).toBe(0);
    const { atStart, afterUse } = JSON.parse(child.stdout.trim().split('\n').pop()!) as { atStart: string[]; afterUse: string[] };
    expect(atStart).toEqual([]);
    expect(afterUse).toEqual(['gpt-tokenizer']);
  }, 60_000);
});
