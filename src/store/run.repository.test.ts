import { afterAll, beforeAll, describe } from 'vitest';
import { openStore, type Store } from './index.js';
import { recordManyContract } from './record-many.contract.js';

let store: Store;
beforeAll(async () => {
  store = await openStore({ dataDir: 'memory://', lock: false });
});
afterAll(async () => {
  await store?.close();
});

describe('PGlite: recordMany', () => recordManyContract(() => store));
