import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../app/app.js';
import { startServer } from '../../app/serve.js';
import { loadConfig } from '../../config/config.js';
import { triageDefinition } from '../../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../../testing/index.js';
import { runCli } from '../test-cli.js';
import { progressPrinter } from './eval.js';

/**
 * `groundwork eval` end to end on an embedded data folder with the mock model: a candidate
 * whose route never produces valid output fails the gate (exit 1, its failing cases in JUnit
 * and Markdown); the active version passes (exit 0); a bad dataset is exit 2, by line.
 */

const DATASET = [
  '{"id":"refund","input":{"subject":"Refund please","body":"Charged twice"},"expected":{"category":"billing"}}',
  '{"id":"crash","input":{"subject":"App crashes","body":"On start"},"expected":{"category":"bug"}}',
].join('\n');

describe('groundwork eval', () => {
  let mock: MockLlm;
  let root: string;
  let dataDir: string;
  let configFile: string;
  let broken: string;
  const gate = { schema_valid: { min: 1 }, 'field:category': { max_drop: 0.02 } };
  const cli = (...args: string[]) => runCli(dataDir, '--config', configFile, ...args);

  beforeAll(async () => {
    mock = await startMockLlm({
      respond: (request) => {
        const text = request.messages.map((m) => (typeof m.content === 'string' ? m.content : '')).join(' ');
        if (request.model === 'broken') return { category: 'unknown' };
        return { category: /refund|charged/i.test(text) ? 'billing' : 'bug', summary: 'triaged' };
      },
    });
    root = mkdtempSync(join(tmpdir(), 'gw-cli-eval-'));
    dataDir = join(root, 'data');
    configFile = join(root, 'groundwork.yaml');
    writeFileSync(
      configFile,
      stringify({
        providers: { mock: { type: 'openai-compatible', base_url: mock.url, native_structured_output: true } },
        models: { good: { provider: 'mock' }, broken: { provider: 'mock' } },
        routes: { default: ['good'], broken: ['broken'] },
      }),
    );
    writeFileSync(join(root, 'tickets.jsonl'), DATASET);
    writeFileSync(join(root, 'bad.jsonl'), `${DATASET}\n{"input":{"subject":"no body"}}\nnot json`);
    const app = await createApp(loadConfig({ env: {}, file: configFile, overrides: { dataDir, logLevel: 'silent' } }), {
      lock: { role: 'cli' },
      logger: { error: () => undefined },
    });
    try {
      // The first version goes live; the broken one, pushed after it, waits as a gated candidate.
      await app.tasks.pushRaw('default', triageDefinition({ eval: { dataset: 'tickets', gate, normalisers: [], k: 10 } }));
      const pushed = await app.tasks.pushRaw('default', triageDefinition({ route: 'broken', eval: { dataset: 'tickets', gate, normalisers: [], k: 10 } }));
      expect(pushed).toMatchObject({ active: false, candidate: true });
      broken = pushed.version;
    } finally {
      await app.close();
    }
    writeFileSync(join(root, 'broken.yaml'), stringify(triageDefinition({ route: 'broken', eval: { dataset: 'tickets', gate, normalisers: [], k: 10 } })));
    writeFileSync(
      join(root, 'reworded.yaml'),
      stringify(triageDefinition({ description: 'classify a ticket, reworded', eval: { dataset: 'tickets', gate, normalisers: [], k: 10 } })),
    );
  });
  afterAll(() => mock?.close());
  const active = async () => JSON.parse((await cli('tasks', 'show', 'triage')).stdout).version as string;

  it('refuses a candidate that fails the gate against the active version: exit 1, the failing cases in JUnit and Markdown', async () => {
    const junit = join(root, 'eval.xml');
    const report = join(root, 'eval.md');
    const result = await cli(
      'eval',
      'triage',
      '--dataset',
      join(root, 'tickets.jsonl'),
      '--candidate',
      join(root, 'broken.yaml'),
      '--gate',
      '--junit',
      junit,
      '--report',
      report,
    );
    expect(result.code, result.stderr).toBe(1);
    expect(result.stdout).toContain('❌ gate failed');
    expect(result.stderr).toMatch(/eval candidate: 2\/2 trials/);
    expect(result.stderr).toMatch(/eval baseline: 2\/2 trials/);
    const xml = readFileSync(junit, 'utf8');
    expect(xml).toContain('tests="4" failures="4"');
    expect(xml).toContain('<testcase classname="triage.cases" name="refund"');
    expect(xml).toContain('output never validated; missed schema_valid');
    const markdown = readFileSync(report, 'utf8');
    expect(markdown).toContain('**Cases that got worse (2):** `refund`, `crash`');
    expect(markdown).toContain('| field:category | max_drop 0.02 | ❌ fell by 1 against the baseline (allowed 0.02) |');
  });

  it('passes the active version (no baseline to hold it against), and prints JSON when asked', async () => {
    const result = await cli('eval', 'triage', '--dataset', join(root, 'tickets.jsonl'), '--gate', '--json');
    expect(result.code, result.stderr).toBe(0);
    const parsed = JSON.parse(result.stdout) as {
      gate: { passed: boolean };
      scorecard: { metrics: Record<string, { value: number }> };
      baselineVersion?: string;
    };
    expect(parsed.gate.passed).toBe(true);
    expect(parsed.baselineVersion).toBeUndefined();
    expect(parsed.scorecard.metrics.exact_match.value).toBe(1);
  });

  it('passes an unchanged candidate file (exit 0) without storing it; a dry run calls no model', async () => {
    const calls = mock.stats().total;
    const dry = await cli('eval', 'triage', '--dataset', 'tickets', '--candidate', join(root, 'reworded.yaml'), '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(
      /dry run: 2 cases of "tickets" \([0-9a-f]{12}\) through version [0-9a-f]{16} and the baseline [0-9a-f]{16}: 4 trials, at least 4 model calls/,
    );
    expect(mock.stats().total).toBe(calls);
    const passed = await cli('eval', 'triage', '--dataset', 'tickets', '--candidate', join(root, 'reworded.yaml'), '--gate');
    expect(passed.code, passed.stderr).toBe(0);
    expect(passed.stdout).toMatch(/eval eval_\S+ recorded/);
    expect(JSON.parse((await cli('tasks', 'show', 'triage', '--versions')).stdout)).toHaveLength(2);
  });

  it('promotes only through the gate, records an override, rolls back, and a restart of serve undoes none of it', async () => {
    const good = await active();
    const refused = await cli('tasks', 'promote', 'triage', broken);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/RELEASE_GATE_FAILED: version \S+ of "triage" failed its gate/);
    const overridden = await cli('tasks', 'promote', 'triage', broken, '--override', '--reason', 'the new route is required');
    expect(overridden.code, overridden.stderr).toBe(0);
    expect(overridden.stdout).toMatch(/triage: override \S+ → \S+, active now/);
    expect(await active()).toBe(broken);
    expect((await cli('tasks', 'rollback', 'triage')).stdout).toMatch(new RegExp(`rollback ${broken} → ${good}`));
    const releases = await cli('tasks', 'releases', 'triage');
    expect(releases.stdout.split('\n').map((line) => line.split(/\s+/)[2])).toEqual(['rollback', 'override', 'push']);
    expect(releases.stdout).toContain('"the new route is required"');

    // `serve` pushes the tasks folder at start: the broken file there must not go live again.
    const tasksDir = join(root, 'tasks');
    mkdirSync(tasksDir, { recursive: true });
    writeFileSync(join(tasksDir, 'triage.yaml'), readFileSync(join(root, 'broken.yaml')));
    const running = await startServer(loadConfig({ env: {}, file: configFile, overrides: { dataDir, tasksDir, port: 0, logLevel: 'silent' } }));
    try {
      const shown = await fetch(`${running.url}/v1/tasks/triage`, { headers: { authorization: `Bearer ${running.localAdmin?.key}` } });
      expect(((await shown.json()) as { version: string }).version).toBe(good);
    } finally {
      await running.close();
    }
    expect(await active()).toBe(good);
  });

  it('runs the eval as a job on the server that owns the folder, with the same exit code and reports', async () => {
    // Port 0: the server records the port it got in the data folder's lock, and the CLI follows it there.
    const running = await startServer(loadConfig({ env: {}, file: configFile, overrides: { dataDir, port: 0, logLevel: 'silent' } }));
    try {
      const junit = join(root, 'served.xml');
      const result = await cli('eval', 'triage', '--dataset', join(root, 'tickets.jsonl'), '--version', broken, '--gate', '--junit', junit);
      expect(result.code, result.stderr).toBe(1);
      expect(result.stderr).toMatch(/eval job job_\S+ queued on the server \(eval eval_\S+\)/);
      expect(result.stdout).toContain('❌ gate failed');
      expect(readFileSync(junit, 'utf8')).toContain('output never validated; missed schema_valid');
      const candidate = await cli('eval', 'triage', '--dataset', 'tickets', '--candidate', join(root, 'broken.yaml'));
      expect(candidate.code).toBe(2);
      expect(candidate.stderr).toMatch(/STORE_LOCKED: a running server owns the data folder, and --candidate/);
    } finally {
      await running.close();
    }
  });

  it('answers bad input with exit 2 and the line numbers, before any model call', async () => {
    const calls = mock.stats().total;
    const bad = await cli('eval', 'triage', '--dataset', join(root, 'bad.jsonl'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/EVAL_DATASET_INVALID: the dataset has 1 bad line: line 4 is not JSON/);
    const refused = await cli('eval', 'triage', '--dataset', join(root, 'bad.jsonl'), '--lenient');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/EVAL_DATASET_INVALID: 1 case of the dataset has an input task "triage" refuses: line 3/);
    expect((await cli('eval', 'triage', '--dataset', join(root, 'missing.jsonl'))).code).toBe(2);
    expect((await cli('eval', 'triage', '--dataset', 'never-stored')).stderr).toMatch(/EVAL_DATASET_NOT_FOUND/);
    expect((await cli('eval', 'nope', '--dataset', join(root, 'tickets.jsonl'))).stderr).toMatch(/TASK_NOT_FOUND/);
    expect(mock.stats().total).toBe(calls);
  });
});

describe('eval progress', () => {
  it('is a bar redrawn in place on a terminal, and plain lines (at most one per tenth) otherwise', () => {
    const written: string[] = [];
    const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const lines = vi.spyOn(console, 'error').mockImplementation((line: string) => void written.push(`${line}\n`));
    const tty = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
    try {
      Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
      const bar = progressPrinter();
      bar('candidate', { done: 1, total: 4, spentUsd: 0.001 });
      bar('candidate', { done: 4, total: 4, spentUsd: 0.004 });
      expect(written).toEqual([
        '\r[######..................] eval candidate: 1/4 trials, $0.0010',
        '\r[########################] eval candidate: 4/4 trials, $0.0040\n',
      ]);
      written.length = 0;
      Object.defineProperty(process.stderr, 'isTTY', { value: false, configurable: true });
      const plain = progressPrinter();
      for (let done = 1; done <= 20; done++) plain('baseline', { done, total: 20 });
      expect(written).toEqual([2, 4, 6, 8, 10, 12, 14, 16, 18, 20].map((done) => `eval baseline: ${done}/20 trials\n`));
    } finally {
      if (tty) Object.defineProperty(process.stderr, 'isTTY', tty);
      else delete (process.stderr as { isTTY?: boolean }).isTTY;
      write.mockRestore();
      lines.mockRestore();
    }
  });
});
