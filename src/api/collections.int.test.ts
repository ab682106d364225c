import { afterAll, describe } from 'vitest';
import { testServer } from '../store/test-server.js';
import { collectionsContract } from './collections.contract.js';

const pg = await testServer();

describe.skipIf(!pg.available)('collections API on a PostgreSQL server', () => {
  afterAll(() => pg.cleanup());
  collectionsContract(async () => ({ store: { databaseUrl: pg.url }, schema: await pg.createSchema('gw_coll') }));
});
