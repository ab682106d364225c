import { describe } from 'vitest';
import { groundingContract } from './grounding.contract.js';

describe('verified answers on the embedded store', () => {
  groundingContract(async () => ({ kind: 'embedded', store: { dataDir: 'memory://' } }));
});
