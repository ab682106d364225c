import { describe } from 'vitest';
import { collectionsContract } from './collections.contract.js';

describe('collections API on the embedded store', () => {
  collectionsContract(async () => ({ store: { dataDir: 'memory://' } }));
});
