import { describe } from 'vitest';
import { apiContract } from './api.contract.js';

describe('HTTP API on the embedded store', () => {
  apiContract(async () => ({ kind: 'embedded', store: { dataDir: 'memory://' } }));
});
