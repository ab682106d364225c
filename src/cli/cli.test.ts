import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { triageDefinition } from '../tasks/test-fixtures.js';
import { startMockLlm, type MockLlm } from '../testing/index.js';
import { buildProgram } from './program.js';
import { runCli } from './test-cli.js';

/**
 * The CLI as users run it, on one embedded data folder. Commands run in-process (`runCli`:
 * the same program, console output and exit code captured), each opening and closing the
 * folder as a separate process would. Real processes (node + tsx on the sources) only where
 * a process is what is tested: the binary's exit code and stdin, a `serve` owning the folder,
 * SIGTERM and SIGKILL.
 */

const root = fileURLToPath(new URL('../..', import.meta.url));
const main = join(root, 'src', 'cli', 'main.ts');
// Resolved here, not from the child's cwd (a temp folder without node_modules).
const tsx = import.meta.resolve('tsx');
let mock: MockLlm;
let dir: string;

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `groundwork <args>` in-process, in the test folder (./groundwork.yaml, ./tasks, ./.groundwork). */
const cli = (...args: string[]): Promise<CliResult> => runCli(join(dir, '.groundwork'), ...args);

/** `groundwork <args>` as a separate process, stdin piped. */
function binary(args: string[], stdin?: string): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', tsx, main, ...args], { cwd: dir, env: { ...process.env, GROUNDWORK_LOG_LEVEL: 'warn' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(stdin ?? '');
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

async function startServe(port: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', tsx, main, 'serve', '--port', String(port)], {
    cwd: dir,
    env: { ...process.env, GROUNDWORK_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  // Up to 40 s: a cold start (PGlite init, migrations, tsx) on a loaded 2-core CI machine.
  for (let i = 0; i < 400; i++) {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return child;
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill('SIGKILL');
  throw new Error(`serve did not become ready (exit ${child.exitCode}): ${stderr.slice(0, 2000)}`);
}

const exited = (child: ChildProcess) =>
  new Promise<number | null>((resolve) => (child.exitCode !== null ? resolve(child.exitCode) : child.once('exit', (code) => resolve(code))));

/** The help a command prints for --help, in-process (commander would exit the process after printing it). */
async function helpOf(command: string[]): Promise<string> {
  let out = '';
  const capture = (c: Command): void => {
    c.exitOverride().configureOutput({ writeOut: (text) => void (out += text), writeErr: (text) => void (out += text) });
    for (const sub of c.commands) capture(sub);
  };
  const program = buildProgram();
  capture(program);
  await expect(program.parseAsync([...command, '--help'], { from: 'user' })).rejects.toMatchObject({ code: 'commander.helpDisplayed', exitCode: 0 });
  return out;
}

let cwd: string;

beforeAll(async () => {
  mock = await startMockLlm({ seed: 5 });
  dir = mkdtempSync(join(tmpdir(), 'gw-cli-'));
  writeFileSync(
    join(dir, 'groundwork.yaml'),
    stringify({
      providers: { mock: { type: 'openai-compatible', base_url: mock.url } },
      models: { 'mock-model': { provider: 'mock' } },
      routes: { default: ['mock-model'] },
    }),
  );
  mkdirSync(join(dir, 'tasks'));
  writeFileSync(join(dir, 'tasks', 'triage.yaml'), stringify(triageDefinition()));
  writeFileSync(join(dir, 'input.json'), JSON.stringify({ subject: 'Refund', body: 'Charged twice' }));
  // In-process commands find ./groundwork.yaml, ./tasks and relative inputs as a user's would.
  cwd = process.cwd();
  process.chdir(dir);
});

afterAll(async () => {
  process.chdir(cwd);
  await mock.close();
});

describe('groundwork CLI', () => {
  it('pushes tasks, runs one from a file and from stdin, and shows the recorded runs', async () => {
    const push = await cli('tasks', 'push');
    expect(push.stderr).toBe('');
    expect(push.stdout).toMatch(/^triage: version [0-9a-f]{16} stored, active/);

    const run = await cli('run', 'triage', '--input', 'input.json');
    expect(run.code).toBe(0);
    const result = JSON.parse(run.stdout);
    expect(result).toMatchObject({ model: 'mock-model', attempts: 1, degraded: false });

    // stdin is the process's own: a real process, whose exit code is the binary's.
    const piped = await binary(['run', 'triage', '--input', '-'], JSON.stringify({ subject: 'Hi', body: 'there' }));
    expect(piped.code).toBe(0);
    expect(JSON.parse(piped.stdout).run_id).toMatch(/^run_/);

    const list = await cli('runs', 'list');
    expect(list.stdout).toContain(result.run_id);
    expect(list.stdout).toContain(JSON.parse(piped.stdout).run_id);
    const show = JSON.parse((await cli('runs', 'show', result.run_id)).stdout);
    expect(show).toMatchObject({ id: result.run_id, status: 'ok', attempts: [{ outcome: 'ok', model: 'mock-model' }] });
    expect(JSON.parse((await cli('--json', 'tasks', 'list')).stdout)[0]).toMatchObject({ name: 'triage', version_count: 1 });
  }, 60_000);

  it('reports bad input precisely with exit code 1 and no stack trace', async () => {
    writeFileSync(join(dir, 'bad.json'), '{"subject": ');
    // The binary itself: its exit code and what it prints.
    const malformed = await binary(['run', 'triage', '--input', 'bad.json']);
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toMatch(/REQUEST_INVALID_BODY: input bad.json is not valid JSON/);
    expect(malformed.stderr).not.toMatch(/\n\s+at /);

    writeFileSync(join(dir, 'wrong.json'), JSON.stringify({ subject: 3 }));
    const wrong = await cli('run', 'triage', '--input', 'wrong.json');
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/TASK_INPUT_INVALID/);
    expect(wrong.stderr).toMatch(/\/body: is required/);
    expect(wrong.stderr).not.toMatch(/\n\s+at /);

    const unknown = await cli('run', 'nope', '--input', 'input.json');
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toMatch(/TASK_NOT_FOUND/);
  }, 60_000);

  it('lets one process own the data folder: a second server is refused, CLI writes go through the server, SIGTERM releases it', async () => {
    const port = await freePort();
    const server = await startServe(port);
    try {
      const second = await cli('serve', '--port', String(await freePort()));
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(new RegExp(`STORE_LOCKED.*pid ${server.pid}`));

      const run = await cli('run', 'triage', '--input', 'input.json');
      expect(run.code).toBe(0);
      const { run_id } = JSON.parse(run.stdout);
      // The server answers for a run the CLI made: it went through the server's API.
      // The first start made the local admin key the CLI used; without a key the API says 401.
      const adminKey = readFileSync(join(dir, '.groundwork', 'admin-key'), 'utf8').trim();
      const viaServer = await fetch(`http://127.0.0.1:${port}/v1/runs/${run_id}`, { headers: { authorization: `Bearer ${adminKey}` } });
      expect(viaServer.status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/v1/runs/${run_id}`)).status).toBe(401);

      const migrate = await cli('migrate');
      expect(migrate.code).toBe(1);
      expect(migrate.stderr).toMatch(/STORE_LOCKED/);
    } finally {
      server.kill('SIGTERM');
    }
    expect(await exited(server)).toBe(0);
    expect(existsSync(join(dir, '.groundwork', 'groundwork.lock'))).toBe(false);
  }, 90_000);

  it('takes over the lock of a server killed with SIGKILL, keeping its committed rows', async () => {
    const port = await freePort();
    const server = await startServe(port);
    const adminKey = readFileSync(join(dir, '.groundwork', 'admin-key'), 'utf8').trim();
    const response = await fetch(`http://127.0.0.1:${port}/v1/tasks/triage/run`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${adminKey}` },
      body: JSON.stringify({ input: { subject: 'Killed', body: 'soon' } }),
    });
    const { run_id } = (await response.json()) as { run_id: string };
    // Run records are written in batches just after the answer (see README, "Run records");
    // a read through the server is the point where this one is committed.
    const committed = await fetch(`http://127.0.0.1:${port}/v1/runs/${run_id}`, { headers: { authorization: `Bearer ${adminKey}` } });
    expect(committed.status).toBe(200);
    server.kill('SIGKILL');
    await exited(server);
    expect(existsSync(join(dir, '.groundwork', 'groundwork.lock'))).toBe(true);

    const show = await cli('runs', 'show', run_id);
    expect(show.stderr).toBe('');
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout).input).toEqual({ subject: 'Killed', body: 'soon' });
  }, 90_000);

  it('has --help on every command', async () => {
    // The binary once: help is printed and the process exits 0.
    const help = await binary(['--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/^Usage: groundwork/);
    for (const command of [[], ['serve'], ['migrate'], ['tasks'], ['tasks', 'push'], ['run'], ['runs', 'list'], ['mock-llm'], ['demo']]) {
      expect(await helpOf(command), command.join(' ')).toMatch(/^Usage: groundwork/);
    }
  }, 60_000);
});
