import { afterAll, describe } from 'vitest';
import { testServer } from '../store/test-server.js';
import { reservationsContract } from './reservations.contract.js';

const pg = await testServer();

describe.skipIf(!pg.available)('quota and tokens-per-minute reservations on a PostgreSQL server', () => {
  afterAll(() => pg.cleanup());
  reservationsContract(async () => ({ kind: 'server', store: { databaseUrl: pg.url }, schema: await pg.createSchema('gw_reserve') }));
});
