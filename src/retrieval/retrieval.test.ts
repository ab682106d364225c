import { afterAll, beforeAll } from 'vitest';
import { openDatabase } from '../store/database.js';
import { migrate } from '../store/migrations.js';
import type { Database } from '../store/ports.js';
import { retrievalContract } from './retrieval.contract.js';

let db: Database;
beforeAll(async () => {
  // From the migrated template: migrate() then only checks that every migration is applied.
  db = await openDatabase({ dataDir: 'memory://', fromTemplate: true });
  await migrate(db);
});
afterAll(async () => {
  await db?.close();
});

retrievalContract('PGlite', () => db);
