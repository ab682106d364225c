import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

interface Manifest {
  root: string;
  version: string;
}

let found: Manifest | undefined;

/**
 * The installed package's manifest: its root folder (where package.json says "groundwork") and
 * its version. Found by walking up from this file, so it works from src/ (tsx, vitest) and from
 * dist/src/ (the build) alike; read once per process.
 */
function manifest(): Manifest {
  if (found) return found;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) {
      const json = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version: string };
      if (json.name === 'groundwork') return (found = { root: dir, version: json.version });
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error('cannot find the groundwork package root');
    dir = parent;
  }
}

/** The installed package's root folder (bundled examples live under it). */
export function packageRoot(): string {
  return manifest().root;
}

/** The package version: package.json is the one place it is written (CLI --version, OpenAPI info). */
export function packageVersion(): string {
  return manifest().version;
}
