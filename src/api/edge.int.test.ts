import { afterAll, describe } from 'vitest';
import { testServer } from '../store/test-server.js';
import { edgeContract } from './edge.contract.js';

const pg = await testServer();

describe.skipIf(!pg.available)('the HTTP edge on a PostgreSQL server', () => {
  afterAll(() => pg.cleanup());
  edgeContract(async () => ({ kind: 'server', store: { databaseUrl: pg.url }, schema: await pg.createSchema('gw_edge') }));
});
