import { afterAll, beforeAll, describe } from 'vitest';
import { openStore, type Store } from '../store/index.js';
import { usageContract } from './usage.contract.js';

let store: Store;
beforeAll(async () => {
  store = await openStore({ dataDir: 'memory://', lock: false });
});
afterAll(() => store?.close());

describe('usage reports on the embedded store', () => usageContract(() => store));
