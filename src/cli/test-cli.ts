import { vi } from 'vitest';
import { buildProgram, normaliseArgs } from './program.js';

/** Runs one `groundwork` command in-process on `dataDir`, capturing what it prints and its exit code (tests). */
export async function runCli(dataDir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const log = vi.spyOn(console, 'log').mockImplementation((...parts: unknown[]) => void out.push(parts.join(' ')));
  const error = vi.spyOn(console, 'error').mockImplementation((...parts: unknown[]) => void err.push(parts.join(' ')));
  process.exitCode = 0;
  try {
    await buildProgram()
      .exitOverride()
      .parseAsync(normaliseArgs(['--data-dir', dataDir, ...args]), { from: 'user' });
  } finally {
    log.mockRestore();
    error.mockRestore();
  }
  const code = Number(process.exitCode ?? 0);
  process.exitCode = 0;
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}
