import { afterAll, describe } from 'vitest';
import { testServer } from '../store/test-server.js';
import { releasesContract } from './releases.contract.js';

const pg = await testServer();

describe.skipIf(!pg.available)('datasets, the gate, promotions and rollbacks on a PostgreSQL server', () => {
  afterAll(() => pg.cleanup());
  releasesContract(async () => ({ kind: 'server', store: { databaseUrl: pg.url }, schema: await pg.createSchema('gw_releases') }));
});
