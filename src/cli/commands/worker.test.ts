import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/** `groundwork worker` as users run it (the PostgreSQL side is the crash test, src/jobs/crash.int.test.ts). */

const main = fileURLToPath(new URL('../main.ts', import.meta.url));
const tsx = import.meta.resolve('tsx');

describe('groundwork worker', () => {
  it('refuses to start without DATABASE_URL: embedded, serve owns the folder and works the jobs', async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, GROUNDWORK_LOG_LEVEL: 'warn' };
    delete env.DATABASE_URL;
    const child = spawn(process.execPath, ['--import', tsx, main, 'worker'], { cwd: mkdtempSync(join(tmpdir(), 'gw-worker-')), env });
    let stderr = '';
    let stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(1);
    expect(stderr).toMatch(/CONFIG_INVALID: `groundwork worker` needs DATABASE_URL/);
    expect(stderr).toMatch(/serve/);
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stdout).toBe('');
  }, 60_000);
});
