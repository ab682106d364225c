import { afterAll, describe } from 'vitest';
import { testServer } from '../store/test-server.js';
import { apiContract } from './api.contract.js';

const pg = await testServer();

describe.skipIf(!pg.available)('HTTP API on a PostgreSQL server', () => {
  afterAll(() => pg.cleanup());
  apiContract(async () => ({ kind: 'server', store: { databaseUrl: pg.url }, schema: await pg.createSchema('gw_api') }));
});
