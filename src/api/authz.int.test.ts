import { afterAll, describe } from 'vitest';
import { testServer } from '../store/test-server.js';
import { authzContract } from './authz.contract.js';

const pg = await testServer();

describe.skipIf(!pg.available)('authorization matrix on a PostgreSQL server', () => {
  afterAll(() => pg.cleanup());
  authzContract(async () => ({ store: { databaseUrl: pg.url }, schema: await pg.createSchema('gw_authz') }));
});
