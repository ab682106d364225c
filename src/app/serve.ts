import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/config.js';
import { MEMORY_DATA_DIR, pgliteDir } from '../store/database.js';
import type { App } from './app.js';
import { writeOperatorKey } from './operator-key.js';
import { serverLoggerOptions } from './server-logger.js';
import { startupSteps } from './startup-steps.js';

/**
 * `groundwork serve`: open the store (taking the data-folder lock), push the task files,
 * listen, and shut down gracefully on SIGTERM/SIGINT: stop accepting, let in-flight
 * requests finish (bounded by shutdownTimeoutMs), close the store, release the lock.
 * Each start-up step that is slow says so while it runs (startup-steps.ts): a first start
 * on a loaded machine can take many seconds, and silence until "listening" looks like a hang.
 */

export interface RunningServer {
  url: string;
  app: App;
  /** Embedded mode: the local admin key (also in `<dataDir>/admin-key`), for the CLI and first steps. */
  localAdmin?: { key: string; keyFile: string | undefined; created: boolean };
  server: FastifyInstance;
  /** Graceful shutdown; resolves when everything is closed. Idempotent. */
  close(): Promise<void>;
}

export async function startServer(config: Config, options: { installSignalHandlers?: boolean } = {}): Promise<RunningServer> {
  const logger = serverLoggerOptions(config.logLevel);
  const url = `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${config.port}`;
  const state = { shuttingDown: false };
  // The logger lives on the server; the runner needs one before it exists, so defer.
  let server: FastifyInstance | undefined;
  // Until the server (and its pino logger) exists, steps log lines of the same shape themselves.
  const steps = startupSteps({ level: config.logLevel, logger: () => server?.log });
  // The app and the HTTP layer load here, not when this module does: loading them is a step
  // of its own (the model SDKs, fastify, the parsers), timed and logged like the others. The
  // store opens meanwhile: PGlite starts in its own thread, so on two cores the two overlap.
  const lock = { role: 'serve' as const, url };
  const [code, opened] = await Promise.allSettled([
    steps.run('loading the server code', () => Promise.all([import('./app.js'), import('../api/server.js'), import('../api/idempotency.js')])),
    steps.run(storeStep(config), async () => {
      const { openStore } = await import('../store/index.js');
      return openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, lock });
    }),
  ]);
  if (code.status === 'rejected') {
    if (opened.status === 'fulfilled') await opened.value.close();
    throw code.reason;
  }
  if (opened.status === 'rejected') throw opened.reason;
  const [{ createApp }, { buildServer }, { releasePendingClaims }] = code.value;
  const app = await createApp(config, {
    store: opened.value,
    lock,
    logger: { error: (details, message) => server?.log.error(details, message) },
  });
  let localAdmin: RunningServer['localAdmin'];
  try {
    const pushed = await steps.run('pushing the task files', () => app.syncTaskFiles());
    // The embedded default stays two commands: the first start makes an admin key for the
    // default tenant and keeps it in the data folder (mode 0600), where the CLI finds it.
    if (!config.databaseUrl) localAdmin = await app.auth.ensureLocalAdmin(config.dataDir === MEMORY_DATA_DIR ? undefined : config.dataDir);
    // Embedded, this process owns the data folder: every pending Idempotency-Key claim was a dead
    // predecessor's, so it is released now rather than answered IN_PROGRESS until its lease ends.
    if (app.store.db.kind === 'embedded') await releasePendingClaims(app.store.db);
    // The CLI's operator commands (tenants, keys, quotas) reach this server's /operator routes
    // with the key in the data folder: only who can read the folder can act as an operator.
    const operatorKeyHash = !config.databaseUrl && config.dataDir !== MEMORY_DATA_DIR ? writeOperatorKey(config.dataDir) : undefined;
    server = await steps.run('building the HTTP server', () => buildServer(app, { logger, state, operatorKeyHash }));
    if (app.store.tightened > 0) {
      server.log.warn(
        { dataDir: config.dataDir, entries: app.store.tightened },
        `tightened permissions of ${app.store.tightened} entries in ${config.dataDir} (they were open to group or other users): folders are now 0700, files 0600`,
      );
    }
    const listening = server;
    await steps.run('listening', () => listening.listen({ host: config.host, port: config.port }));
    // Embedded (one process owns the data folder): serve works the jobs too. With DATABASE_URL
    // the default is separate `groundwork worker` processes (config jobs.in_process).
    if (config.jobs.in_process) await steps.run('starting the job worker', () => app.jobs.start(app, { logger: listening.log }));
    // New versions of gated tasks in the task files wait as candidates: each gets its gate eval.
    if (pushed.some((p) => p.candidate && p.created)) {
      const [{ queueCandidateEvals }, { DEFAULT_TENANT }] = await Promise.all([import('./eval-jobs.js'), import('../store/ports.js')]);
      await queueCandidateEvals(app, DEFAULT_TENANT, pushed, listening.log);
    }
  } catch (error) {
    await server?.close().catch(() => undefined);
    await app.close();
    throw error;
  }
  const address = server.server.address();
  const actualUrl = typeof address === 'object' && address ? `http://${config.host.includes(':') ? `[${config.host}]` : config.host}:${address.port}` : url;
  // Bound to port 0, the lock said ":0" until now: CLI commands follow the lock to this server.
  if (actualUrl !== url) await app.store.announce(actualUrl);

  let closing: Promise<void> | undefined;
  const running: RunningServer = {
    url: actualUrl,
    app,
    localAdmin,
    server,
    close() {
      closing ??= (async () => {
        state.shuttingDown = true;
        const forced = setTimeout(() => server?.server.closeAllConnections(), config.shutdownTimeoutMs);
        forced.unref();
        try {
          // Jobs in flight get the same grace as requests; what is left is released to the queue.
          await Promise.all([server?.close(), app.jobs.stop({ timeoutMs: config.shutdownTimeoutMs })]);
        } finally {
          clearTimeout(forced);
          await app.close();
        }
      })();
      return closing;
    },
  };

  if (options.installSignalHandlers) {
    const onSignal = (signal: NodeJS.Signals) => {
      server?.log.info({ signal }, 'shutting down: finishing in-flight requests');
      running.close().then(
        () => process.exit(0),
        (error) => {
          server?.log.error({ err: error }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  }
  return running;
}

/** What opening the store means here; a first start says so, as it takes seconds (initdb, every migration). */
function storeStep(config: Config): { label: string; announce?: string } {
  if (config.databaseUrl) return { label: 'connecting to PostgreSQL and migrating' };
  if (config.dataDir === MEMORY_DATA_DIR) return { label: 'opening the in-memory store' };
  if (existsSync(join(pgliteDir(config.dataDir), 'PG_VERSION'))) return { label: `opening the embedded store in ${config.dataDir}` };
  return {
    label: `creating the embedded store in ${config.dataDir}`,
    announce: `creating the embedded store in ${config.dataDir} (first start: from the migrated template, or initialised and migrated when this machine has none yet, which takes a few seconds)`,
  };
}
