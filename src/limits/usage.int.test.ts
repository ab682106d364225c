import { afterAll, beforeAll, describe } from 'vitest';
import { openStore, type Store } from '../store/index.js';
import { testServer } from '../store/test-server.js';
import { usageContract } from './usage.contract.js';

const pg = await testServer();
let store: Store;

describe.skipIf(!pg.available)('usage reports on a PostgreSQL server', () => {
  beforeAll(async () => {
    store = await openStore({ dataDir: 'memory://', databaseUrl: pg.url, schema: await pg.createSchema('gw_usage') });
  });
  afterAll(async () => {
    await store?.close();
    await pg.cleanup();
  });
  usageContract(() => store);
});
