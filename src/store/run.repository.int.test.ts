import { afterAll, beforeAll, describe } from 'vitest';
import { openStore, type Store } from './index.js';
import { recordManyContract } from './record-many.contract.js';
import { testServer } from './test-server.js';

const server = await testServer();

describe.skipIf(!server.available)('PostgreSQL: recordMany', () => {
  let store: Store;
  beforeAll(async () => {
    store = await openStore({ dataDir: 'memory://', databaseUrl: server.url, schema: await server.createSchema('gw_runs') });
  });
  afterAll(async () => {
    await store?.close();
    await server.cleanup();
  });
  recordManyContract(() => store);
});
