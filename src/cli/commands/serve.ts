import { Command } from 'commander';
import { startServer } from '../../app/serve.js';
import { redactConfig } from '../../config/config.js';
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
        const config = configFrom(command, { host: options.host, port: options.port });
        if (options.printConfig) {
          console.log(JSON.stringify(redactConfig(config), null, 2));
          return;
        }
        const running = await startServer(config, { installSignalHandlers: true });
        running.server.log.info(`Groundwork listening on ${running.url} (docs: ${running.url}/docs, store: ${running.app.store.db.kind})`);
        const admin = running.localAdmin;
        if (admin?.keyFile) {
          running.server.log.info(
            `${admin.created ? 'created the local admin API key' : 'local admin API key'}: ${admin.keyFile} (send it as Authorization: Bearer <key>; the CLI reads it from there)`,
          );
        }
      }),
    );
}
