import { describe } from 'vitest';
import { edgeContract } from './edge.contract.js';

describe('the HTTP edge on the embedded store', () => {
  edgeContract(async () => ({ kind: 'embedded', store: { dataDir: 'memory://' } }));
});
