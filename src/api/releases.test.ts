import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe } from 'vitest';
import { releasesContract } from './releases.contract.js';

// A data folder, not memory://: the contract restarts the app on the same store.
describe('datasets, the gate, promotions and rollbacks on the embedded store', () => {
  releasesContract(async () => ({ kind: 'embedded', store: { dataDir: join(mkdtempSync(join(tmpdir(), 'gw-releases-data-')), 'data') } }));
});
