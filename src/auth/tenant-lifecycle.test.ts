import { describe } from 'vitest';
import { tenantLifecycleContract } from './tenant-lifecycle.contract.js';

describe('tenant lifecycle on the embedded store', () => {
  tenantLifecycleContract(async () => ({ store: { dataDir: 'memory://' } }));
});
