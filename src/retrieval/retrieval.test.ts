import { afterAll, beforeAll } from 'vitest';
import { openDatabase } from '../store/database.js';
import { migrate } from '../store/migrations.js';
import type { Database } from '../store/ports.js';
import { retrievalContract } from './retrieval.contract.js';

let db: Database;
beforeAll(async () => {
  db = await openDatabase({ dataDir: 'memory://' });
  await migrate(db);
});
afterAll(async () => {
  await db?.close();
});

retrievalContract('PGlite', () => db);
