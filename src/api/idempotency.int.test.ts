import { afterAll, describe } from 'vitest';
import { testServer } from '../store/test-server.js';
import { idempotencyContract } from './idempotency.contract.js';

const pg = await testServer();

describe.skipIf(!pg.available)('Idempotency-Key on a PostgreSQL server', () => {
  afterAll(() => pg.cleanup());
  idempotencyContract(async () => ({ store: { databaseUrl: pg.url }, schema: await pg.createSchema('gw_idem') }));
});
