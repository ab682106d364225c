import { randomBytes } from 'node:crypto';
import { closeSync, fchmodSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { hashKey } from '../auth/keys.js';

/** Where `serve` keeps the operator key in an embedded data folder (mode 0600, new at every start). */
export const OPERATOR_KEY_FILE = 'operator-key';

/**
 * Writes a fresh operator key to `<dataDir>/operator-key` and returns its SHA-256 (hex), the
 * only form the server keeps. Reading the file is the credential: only a local user who can
 * read the data folder (0700) and this file (0600) can act as an installation operator.
 *
 * The old file is removed and the new one created exclusively (O_EXCL: a link planted in its
 * place is never followed) with its mode set on the descriptor before anything is written.
 */
export function writeOperatorKey(dataDir: string): string {
  const key = `gwo_${randomBytes(32).toString('base64url')}`;
  const path = join(dataDir, OPERATOR_KEY_FILE);
  rmSync(path, { force: true });
  const fd = openSync(path, 'wx', 0o600);
  try {
    // The umask can only narrow the open's mode; this makes it exactly owner read/write.
    fchmodSync(fd, 0o600);
    writeSync(fd, `${key}\n`);
  } finally {
    closeSync(fd);
  }
  return hashKey(key);
}
