import { Command } from 'commander';
import { action, configFrom } from '../context.js';

export function serveCommand(): Command {
  return new Command('serve')
    .description('start the HTTP API (pushes the task files, then listens; SIGTERM drains in-flight requests)')
    .option('--host <host>', 'address to listen on (env GROUNDWORK_HOST, default 127.0.0.1)')
    .option('--port <port>', 'port to listen on (env GROUNDWORK_PORT, default 8080)', (v) => {
      const port = Number(v);
      if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new Error(`--port must be an integer 0..65535, got "${v}"`);
      return port;
    })
    .option('--print-config', 'print the effective configuration (secrets redacted) and exit')
    .action(
      action(async (options: { host?: string; port?: number; printConfig?: boolean }, command: Command) => {
        const config = await configFrom(command, { host: options.host, port: options.port });
        if (options.printConfig) {
          const { redactConfig } = await import('../../config/config.js');
          console.log(JSON.stringify(redactConfig(config), null, 2));
          return;
        }
        const { startServer } = await import('../../app/serve.js');
        const running = await startServer(config, { installSignalHandlers: true });
        // performance.now() counts from the process's start: node, the CLI and the config included.
        const startupMs = Math.round(performance.now());
        running.server.log.info(
          { startup_ms: startupMs },
          `Groundwork listening on ${running.url} (docs: ${running.url}/docs, store: ${running.app.store.db.kind}; started in ${(startupMs / 1000).toFixed(1)} s)`,
        );
        const admin = running.localAdmin;
        if (admin?.keyFile) {
          running.server.log.info(
            `${admin.created ? 'created the local admin API key' : 'local admin API key'}: ${admin.keyFile} (send it as Authorization: Bearer <key>; the CLI reads it from there)`,
          );
        }
      }),
    );
}
