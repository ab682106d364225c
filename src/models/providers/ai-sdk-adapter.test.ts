import { APICallError } from '@ai-sdk/provider';
import { describe, expect, it } from 'vitest';
import { networkFailure, scrub, toModelCallError } from './ai-sdk-adapter.js';

describe('provider error text shown to tenants', () => {
  it('keeps no key, URL password, address, port or errno code; the log detail keeps the network detail (not secrets)', () => {
    const raw = 'fetch failed: connect ECONNREFUSED 127.0.0.1:18189 for http://user:hunter2@10.0.0.7:8080/v1 with Bearer sk-abcdef123456 [::1]:443';
    const shown = scrub(raw, 'sk-abcdef123456');
    expect(shown).not.toMatch(/hunter2|sk-abcdef|127\.0\.0\.1|18189|10\.0\.0\.7|ECONNREFUSED|::1/);
    const logged = scrub(raw, 'sk-abcdef123456', 500);
    expect(logged).toContain('ECONNREFUSED 127.0.0.1:18189');
    expect(logged).not.toMatch(/hunter2|sk-abcdef/);
  });

  it('names the kind of network failure in words', () => {
    const withCode = (code: string) => Object.assign(new Error('x'), { cause: Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code }) });
    expect(networkFailure(withCode('ECONNREFUSED'))).toBe('connection refused');
    expect(networkFailure(withCode('ENOTFOUND'))).toBe('host name could not be resolved');
    expect(networkFailure(withCode('ECONNRESET'))).toBe('connection closed unexpectedly');
    expect(networkFailure(withCode('UND_ERR_CONNECT_TIMEOUT'))).toBe('timed out');
    expect(networkFailure(withCode('CERT_HAS_EXPIRED'))).toBe('TLS failure');
    expect(networkFailure(new Error('?'))).toBe('network failure');
  });

  it('turns an unreachable provider into "could not reach <provider>: connection refused" with the detail kept apart', () => {
    const cause = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:18189'), { code: 'ECONNREFUSED' });
    const error = new APICallError({
      message: 'Cannot connect to API: connect ECONNREFUSED 127.0.0.1:18189',
      url: 'http://127.0.0.1:18189/v1/chat/completions',
      requestBodyValues: {},
      cause,
    });
    const failure = toModelCallError(error, { name: 'm', providerName: 'local' });
    expect(failure.message).toBe('could not reach local: connection refused');
    expect(failure.detail).toMatch(/ECONNREFUSED 127\.0\.0\.1:18189/);
  });
});
