import { describe } from 'vitest';
import { authzContract } from './authz.contract.js';

describe('authorization matrix on the embedded store', () => {
  authzContract(async () => ({ store: { dataDir: 'memory://' } }));
});
