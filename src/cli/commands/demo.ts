import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Command } from 'commander';
import { packageRoot } from '../../kernel/package-info.js';
import type { GroundworkApi } from '../../client/client.js';
import { action, globalOptions, withApi } from '../context.js';
import { collectFiles, printAnswer } from './collections.js';

/**
 * The README's main job, on the embedded default (PGlite in ./.groundwork, no servers, no
 * network, no model downloads):
 * - `support-kb` (default): ingest the bundled support knowledge base and answer support
 *   questions from it with verified citations, abstaining where the documents are silent;
 * - `ticket-triage`: triage example tickets into validated JSON with a tiny local GGUF model.
 */
export function demoCommand(): Command {
  return new Command('demo')
    .description('run a bundled example on the embedded default (no servers, no network) and print the results')
    .argument('[example]', 'support-kb (ingest + answer with citations) or ticket-triage (typed task)', 'support-kb')
    .option('--route <route>', 'ticket-triage: route of the example config (local, mock, openai, anthropic)', 'local')
    .action(
      action(async (example: string, options: { route: string }, command: Command) => {
        const root = join(packageRoot(), 'examples');
        const dataDir = globalOptions(command).dataDir;
        if (example === 'support-kb') return supportKb(join(root, 'support-kb'), dataDir);
        if (example === 'ticket-triage') return ticketTriage(join(root, 'ticket-triage'), options.route, dataDir);
        throw new Error(`unknown example "${example}": support-kb or ticket-triage`);
      }),
    );
}

async function supportKb(dir: string, dataDir: string | undefined): Promise<void> {
  const { loadConfig } = await import('../../config/config.js');
  const config = loadConfig({ file: join(dir, 'groundwork.yaml'), overrides: { dataDir } });
  const questions = JSON.parse(readFileSync(join(dir, 'questions.json'), 'utf8')) as string[];
  const files = collectFiles([join(dir, 'docs')]).map((f) => ({ source: relative(dir, f.path), bytes: new Uint8Array(readFileSync(f.path)) }));
  console.log('Groundwork demo: answering support questions from the bundled knowledge base, with verified citations');
  await withApi(config, async (api, where) => {
    console.log(`store: ${where}`);
    await ensureCollection(api, 'support-kb');
    for (const r of await api.ingestFiles('support-kb', files, { source: 'demo' })) {
      console.log(`  ${r.status.padEnd(9)} ${r.source}${r.error ? `  ${r.error.code}` : ` (${r.chunks} chunks)`}`);
    }
    for (const question of questions) {
      console.log(`\nQ: ${question}`);
      printAnswer(await api.ask(question, 'support-kb'));
    }
  });
  console.log('\nAnswers come from the built-in extractive engine (no model weights): it quotes source sentences,');
  console.log('and every citation was checked against its chunk before printing. Add a model to `ask.route` in the');
  console.log('config for written answers. Inspect the runs: npx groundwork runs list --task ask');
}

async function ensureCollection(api: GroundworkApi, name: string): Promise<void> {
  if (!(await api.listCollections()).some((c) => c.name === name)) {
    await api.createCollection({ name, description: 'bundled demo: support knowledge base' });
  }
}

async function ticketTriage(dir: string, route: string, dataDir: string | undefined): Promise<void> {
  const [{ loadConfig }, { loadTaskFiles }] = await Promise.all([import('../../config/config.js'), import('../../tasks/task-files.js')]);
  const config = loadConfig({ file: join(dir, 'groundwork.yaml'), overrides: { dataDir } });
  const [task] = loadTaskFiles(join(dir, 'tasks'), config).map((f) => ({ ...f.definition, route }));
  const inputs = readdirSync(join(dir, 'inputs'))
    .filter((f) => f.endsWith('.json'))
    .sort();

  console.log(`Groundwork demo: support-ticket triage (task "${task.name}", route "${route}": ${(config.routes[route] ?? []).join(' → ')})`);
  await withApi(config, async (api, where) => {
    console.log(`store: ${where}`);
    const pushed = await api.pushTask(task);
    console.log(`task version ${pushed.version} ${pushed.created ? 'stored' : 'already stored'}, active\n`);
    for (const file of inputs) {
      const input = JSON.parse(readFileSync(join(dir, 'inputs', file), 'utf8')) as Record<string, unknown>;
      const result = await api.runTask(task.name, input);
      console.log(`ticket ${file}: "${String(input.subject)}"`);
      console.log(`  output   ${JSON.stringify(result.output)}`);
      console.log(
        `  run      ${result.run_id}  model=${result.model}  attempts=${result.attempts}  tokens=${result.usage.input_tokens}/${result.usage.output_tokens}  cost=$${result.usage.cost_usd.toFixed(6)}  ${Math.round(result.latency_ms)} ms${result.degraded ? '  (degraded: a fallback tier answered)' : ''}`,
      );
    }
  });
  if (route === 'local') {
    console.log("\nEvery output above was validated against the task's output schema. The bundled model (examples/models/stories260K.gguf)");
    console.log('is a 260K-parameter toy: its JSON is grammar-constrained and schema-valid, its content meaningless.');
    console.log('Point a route at a real model (README: "Models and providers") for real answers.');
  }
  console.log('Inspect the traces: npx groundwork runs list, then npx groundwork runs show <run id>');
}
