import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Command } from 'commander';
import { packageRoot } from '../../app/paths.js';
import { loadConfig } from '../../config/config.js';
import { loadTaskFiles } from '../../tasks/task-files.js';
import { action, globalOptions, withApi } from '../context.js';

/**
 * The README's main job: triage the example support tickets with the example task on the
 * embedded default — PGlite store in ./.groundwork and a local GGUF model in-process —
 * then print each validated result and where its trace is. No servers, no network.
 */
export function demoCommand(): Command {
  return new Command('demo')
    .description('run the support-ticket triage example on the embedded default (no servers, no network) and print the results')
    .option('--route <route>', 'route of the example config to use (local, mock, openai, anthropic)', 'local')
    .action(
      action(async (options: { route: string }, command: Command) => {
        const example = join(packageRoot(), 'examples', 'ticket-triage');
        const globals = globalOptions(command);
        const config = loadConfig({ file: join(example, 'groundwork.yaml'), overrides: { dataDir: globals.dataDir } });
        const [task] = loadTaskFiles(join(example, 'tasks'), config).map((f) => ({ ...f.definition, route: options.route }));
        const inputs = readdirSync(join(example, 'inputs')).filter((f) => f.endsWith('.json')).sort();

        console.log(`Groundwork demo: support-ticket triage (task "${task.name}", route "${options.route}": ${(config.routes[options.route] ?? []).join(' → ')})`);
        await withApi(config, async (api, where) => {
          console.log(`store: ${where}`);
          const pushed = await api.pushTask(task);
          console.log(`task version ${pushed.version} ${pushed.created ? 'stored' : 'already stored'}, active\n`);
          for (const file of inputs) {
            const input = JSON.parse(readFileSync(join(example, 'inputs', file), 'utf8')) as Record<string, unknown>;
            const result = await api.runTask(task.name, input);
            console.log(`ticket ${file}: "${String(input.subject)}"`);
            console.log(`  output   ${JSON.stringify(result.output)}`);
            console.log(
              `  run      ${result.run_id}  model=${result.model}  attempts=${result.attempts}  tokens=${result.usage.input_tokens}/${result.usage.output_tokens}  cost=$${result.usage.cost_usd.toFixed(6)}  ${Math.round(result.latency_ms)} ms${result.degraded ? '  (degraded: a fallback tier answered)' : ''}`,
            );
          }
        });
        if (options.route === 'local') {
          console.log(
            `\nEvery output above was validated against the task's output schema. The bundled model (${relative(process.cwd(), join(example, '..', 'models', 'stories260K.gguf'))})`,
          );
          console.log('is a 260K-parameter toy: its JSON is grammar-constrained and schema-valid, its content meaningless.');
          console.log('Point a route at a real model (README: "Models and providers") for real answers.');
        }
        console.log('Inspect the traces: npx groundwork runs list, then npx groundwork runs show <run id>');
      }),
    );
}
