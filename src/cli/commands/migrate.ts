import { Command } from 'commander';
import { GroundworkError } from '../../kernel/errors.js';
import { readDataDirLock } from '../../store/data-dir-lock.js';
import { action, configFrom } from '../context.js';

export function migrateCommand(): Command {
  return new Command('migrate').description('apply pending database migrations (forward-only) and exit').action(
    action(async (_options: unknown, command: Command) => {
      const config = await configFrom(command);
      if (!config.databaseUrl) {
        const owner = readDataDirLock(config.dataDir);
        if (owner) {
          throw new GroundworkError(
            'STORE_LOCKED',
            `the data folder ${config.dataDir} is owned by ${owner.role} pid ${owner.pid}${owner.url ? ` at ${owner.url}` : ''}; a running server has already migrated it`,
            {
              details: { owner },
            },
          );
        }
      }
      const { openStore } = await import('../../store/index.js');
      const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, lock: { role: 'cli' }, migrate: false });
      try {
        const { migrate } = await import('../../store/migrations.js');
        const result = await migrate(store.db);
        console.log(result.applied.length === 0 ? 'database is up to date' : `applied ${result.applied.length} migration(s): ${result.applied.join(', ')}`);
      } finally {
        await store.close();
      }
    }),
  );
}
