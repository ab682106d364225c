import { afterAll, describe } from 'vitest';
import { testServer } from '../store/test-server.js';
import { groundingContract } from './grounding.contract.js';

const pg = await testServer();

describe.skipIf(!pg.available)('verified answers on a PostgreSQL server', () => {
  afterAll(() => pg.cleanup());
  groundingContract(async () => ({ kind: 'server', store: { databaseUrl: pg.url }, schema: await pg.createSchema('gw_grounding') }));
});
