import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { mockLlmCommand, parseMockLlmFlags, type MockLlmCommandIo } from './mock-llm.js';

describe('parseMockLlmFlags', () => {
  it('applies the documented defaults', () => {
    expect(parseMockLlmFlags({})).toEqual({
      ok: true,
      options: { host: '127.0.0.1', port: 11435, seed: 1, latency: undefined, faults: {}, retryAfterSeconds: 1, hangMs: undefined },
    });
  });

  it('parses every flag', () => {
    const parsed = parseMockLlmFlags({
      host: '0.0.0.0',
      port: '0',
      seed: '42',
      latency: '20-80',
      fault5xx: '0.2',
      fault429: '0.1',
      retryAfter: '3',
      faultHang: '0.05',
      hangMs: '500',
      faultMalformed: '0.1',
      faultSchema: '0.05',
      faultTruncated: '0',
    });
    expect(parsed).toEqual({
      ok: true,
      options: {
        host: '0.0.0.0',
        port: 0,
        seed: 42,
        latency: { minMs: 20, maxMs: 80 },
        faults: { error5xx: 0.2, rateLimit: 0.1, hang: 0.05, malformed: 0.1, schemaViolation: 0.05, truncated: 0 },
        retryAfterSeconds: 3,
        hangMs: 500,
      },
    });
    expect(parseMockLlmFlags({ latency: '50' })).toMatchObject({ ok: true, options: { latency: { minMs: 50, maxMs: 50 } } });
  });

  it('names each bad flag, reporting all problems at once', () => {
    const parsed = parseMockLlmFlags({ fault5xx: '1.5', fault429: 'abc', port: '70000', latency: '80-20', hangMs: '-1' });
    expect(parsed.ok).toBe(false);
    const errors = parsed.ok ? [] : parsed.errors;
    expect(errors).toHaveLength(5);
    expect(errors.join('\n')).toMatch(/--fault-5xx must be a probability from 0 to 1, got "1.5"/);
    expect(errors.join('\n')).toMatch(/--fault-429 .*"abc"/);
    expect(errors.join('\n')).toMatch(/--port .*"70000"/);
    expect(errors.join('\n')).toMatch(/--latency .*"80-20"/);
    expect(errors.join('\n')).toMatch(/--hang-ms .*"-1"/);
  });

  it('rejects probabilities that sum past 1, naming the flags involved', () => {
    const parsed = parseMockLlmFlags({ fault5xx: '0.6', faultMalformed: '0.5' });
    expect(parsed).toEqual({ ok: false, errors: ['fault probabilities (--fault-5xx, --fault-malformed) sum to 1.1; they must sum to at most 1'] });
    expect(parseMockLlmFlags({ fault5xx: '0.7', fault429: '0.2', faultHang: '0.1' }).ok).toBe(true);
  });
});

describe('mockLlmCommand', () => {
  function harness(stop: Promise<void>): { io: MockLlmCommandIo; lines: string[]; stderr: string[] } {
    const lines: string[] = [];
    const stderr: string[] = [];
    return { io: { log: (line) => lines.push(line), untilStopped: () => stop }, lines, stderr };
  }

  it('exits with code 2 and a message naming the flag when a value is invalid', async () => {
    const { io, stderr } = harness(Promise.resolve());
    const command = mockLlmCommand(io)
      .exitOverride()
      .configureOutput({ writeErr: (s) => stderr.push(s) });
    const run = command.parseAsync(['--fault-5xx', '2'], { from: 'user' });
    await expect(run).rejects.toBeInstanceOf(CommanderError);
    await expect(run).rejects.toMatchObject({ exitCode: 2 });
    expect(stderr.join('')).toContain('error: --fault-5xx must be a probability from 0 to 1, got "2"');
  });

  it('prints a FAKE-server banner with the base URL, serves, and closes on stop', async () => {
    let stop!: () => void;
    const { io, lines } = harness(new Promise<void>((resolve) => (stop = resolve)));
    const running = mockLlmCommand(io).parseAsync(['--port', '0', '--fault-429', '0.1', '--latency', '5'], { from: 'user' });
    await expect.poll(() => lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/FAKE .* TESTING ONLY/);
    expect(lines[0]).toContain('faults: 429 10%');
    const url = /base URL\s+(\S+)/.exec(lines[0])?.[1];
    const models = await fetch(`${url}/models`);
    expect(models.status).toBe(200);
    stop();
    await running;
    expect(lines.at(-1)).toMatch(/^mock-llm stopped after 0 chat completion request/);
    await expect(fetch(`${url}/models`)).rejects.toThrow();
  });

  it('documents every flag in --help', () => {
    const help = mockLlmCommand().helpInformation();
    for (const flag of [
      '--host',
      '--port',
      '--seed',
      '--latency',
      '--fault-5xx',
      '--fault-429',
      '--retry-after',
      '--fault-hang',
      '--hang-ms',
      '--fault-malformed',
      '--fault-schema',
      '--fault-truncated',
    ]) {
      expect(help).toContain(flag);
    }
    expect(help).toMatch(/FAKE/);
  });
});
