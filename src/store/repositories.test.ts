import { afterAll, beforeAll } from 'vitest';
import { openStore, type Store } from './index.js';
import { repositoryContract } from './repository.contract.js';

let store: Store;
beforeAll(async () => {
  store = await openStore({ dataDir: 'memory://', lock: false });
});
afterAll(async () => {
  await store?.close();
});

repositoryContract('PGlite', () => store);
