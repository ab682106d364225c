import { afterAll, describe } from 'vitest';
import { testServer } from '../store/test-server.js';
import { tenantLifecycleContract } from './tenant-lifecycle.contract.js';

const pg = await testServer();

describe.skipIf(!pg.available)('tenant lifecycle on a PostgreSQL server', () => {
  afterAll(() => pg.cleanup());
  tenantLifecycleContract(async () => ({ store: { databaseUrl: pg.url }, schema: await pg.createSchema('gw_tenants') }));
});
