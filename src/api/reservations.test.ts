import { describe } from 'vitest';
import { reservationsContract } from './reservations.contract.js';

describe('quota and tokens-per-minute reservations on the embedded store', () => {
  reservationsContract(async () => ({ kind: 'embedded', store: { dataDir: 'memory://' } }));
});
