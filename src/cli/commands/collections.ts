import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { Command } from 'commander';
import type { SearchOptions } from '../../client/client.js';
import { sanitizeSource } from '../../ingest/source-path.js';
import { action, configFrom, globalOptions, printJson, withApi } from '../context.js';

/** `groundwork collections …`, `groundwork ingest` and `groundwork search`. */

export function collectionsCommand(): Command {
  const collections = new Command('collections').description('create, list and delete document collections');
  collections
    .command('list')
    .description('collections with their embedder and counts')
    .action(
      action(async (_o: unknown, command: Command) => {
        const list = await withApi(await configFrom(command), (api) => api.listCollections());
        if (globalOptions(command).json) return printJson(list);
        if (list.length === 0) return console.log('no collections yet: groundwork ingest <path…> --collection <name>');
        for (const c of list)
          console.log(`${c.name.padEnd(24)} ${String(c.document_count).padStart(6)} docs ${String(c.chunk_count).padStart(8)} chunks  ${c.embedder}`);
      }),
    );
  collections
    .command('create <name>')
    .description('create a collection')
    .option('--embedder <name>', 'configured embedder (default: builtin, no weights, no network)')
    .option('--description <text>', 'what is in it')
    .action(
      action(async (name: string, options: { embedder?: string; description?: string }, command: Command) => {
        printJson(await withApi(await configFrom(command), (api) => api.createCollection({ name, ...options })));
      }),
    );
  collections
    .command('delete <name>')
    .description('delete a collection with all its documents')
    .action(
      action(async (name: string, _o: unknown, command: Command) => {
        await withApi(await configFrom(command), (api) => api.deleteCollection(name));
        console.log(`deleted collection ${name}`);
      }),
    );
  return collections;
}

/**
 * Files under the given paths (folders recursively, hidden entries skipped). Each source is the
 * path relative to `cwd`, sanitised as the server sanitises it (`../docs/a.md` → `docs/a.md`), so
 * a file gets the same source in-process and over HTTP.
 */
export function collectFiles(paths: string[], cwd: string = process.cwd()): Array<{ source: string; path: string }> {
  const out: Array<{ source: string; path: string }> = [];
  const walk = (path: string) => {
    const stats = statSync(path);
    if (stats.isDirectory()) {
      for (const entry of readdirSync(path).sort()) if (!entry.startsWith('.')) walk(join(path, entry));
    } else if (stats.isFile()) {
      const named = sanitizeSource(relative(cwd, path).split(sep).join('/'));
      if (!named.ok) throw new Error(`cannot ingest ${path}: its name ${named.problem}`);
      const earlier = bySource.get(named.source);
      // Batches are separate requests: two files with one source would silently replace each other.
      if (earlier !== undefined && earlier !== path)
        throw new Error(`${earlier} and ${path} would both be stored as "${named.source}"; run the command from a folder that holds both`);
      if (earlier === undefined) out.push({ source: named.source, path });
      bySource.set(named.source, path);
    }
  };
  const bySource = new Map<string, string>();
  for (const p of paths) walk(resolve(cwd, p));
  return out;
}

export function ingestCommand(): Command {
  return new Command('ingest')
    .description('ingest files and folders into a collection (txt, md, html, pdf, docx, csv, json, jsonl); each file gets its own status')
    .argument('<paths...>', 'files or folders')
    .requiredOption('--collection <name>', 'target collection (created if missing)')
    .option('--embedder <name>', 'embedder for a new collection (default builtin)')
    .option('--metadata <json>', 'JSON object stored with every document (filterable in search)')
    .action(
      action(async (paths: string[], options: { collection: string; embedder?: string; metadata?: string }, command: Command) => {
        const metadata = options.metadata === undefined ? undefined : parseJsonObject(options.metadata, '--metadata');
        const files = collectFiles(paths);
        if (files.length === 0) throw new Error('no files found under the given paths');
        const results = await withApi(await configFrom(command), async (api) => {
          const existing = await api.listCollections();
          if (!existing.some((c) => c.name === options.collection)) await api.createCollection({ name: options.collection, embedder: options.embedder });
          const all = [];
          // Small batches keep each request under the upload limit and show progress.
          for (let i = 0; i < files.length; i += 20) {
            const batch = files.slice(i, i + 20).map((f) => ({ source: f.source, bytes: new Uint8Array(readFileSync(f.path)) }));
            all.push(...(await api.ingestFiles(options.collection, batch, metadata)));
          }
          return all;
        });
        if (globalOptions(command).json) return printJson(results);
        for (const r of results)
          console.log(`${r.status.padEnd(9)} ${r.source}${r.status === 'failed' ? `  ${r.error?.code}: ${r.error?.message}` : `  (${r.chunks} chunks)`}`);
        const failed = results.filter((r) => r.status === 'failed').length;
        console.log(`${results.length - failed} ingested, ${failed} failed`);
        if (failed > 0) process.exitCode = 1;
      }),
    );
}

export function searchCommand(): Command {
  return new Command('search')
    .description('hybrid search (BM25 + vectors, fused) in a collection')
    .argument('<query>', 'what to look for')
    .requiredOption('--collection <name>', 'collection to search')
    .option('-k <n>', 'results (1-100)', (v) => Number(v), 5)
    .option('--mode <mode>', 'hybrid, lexical or vector', 'hybrid')
    .option('--filter <key=value...>', 'metadata equality filters')
    .option('--mmr <lambda>', 'diversify results (0..1, 1 = relevance only)', (v) => Number(v))
    .action(
      action(
        async (query: string, options: { collection: string; k: number; mode: SearchOptions['mode']; filter?: string[]; mmr?: number }, command: Command) => {
          const filters = options.filter ? Object.fromEntries(options.filter.map(parseFilter)) : undefined;
          const hits = await withApi(await configFrom(command), (api) =>
            api.search(options.collection, query, { k: options.k, mode: options.mode, filters, mmr_lambda: options.mmr }),
          );
          if (globalOptions(command).json) return printJson(hits);
          hits.forEach((h, i) => {
            const where = [h.title, ...h.heading_path].filter(Boolean).join(' › ');
            console.log(`${i + 1}. ${where}${h.page ? ` (p. ${h.page})` : ''}  [${h.source}]  score ${h.score.toFixed(4)}`);
            console.log(`   ${h.text.replace(/\s+/g, ' ').slice(0, 240)}`);
          });
          if (hits.length === 0) console.log('no results');
        },
      ),
    );
}

function parseFilter(entry: string): [string, string | number | boolean] {
  const eq = entry.indexOf('=');
  if (eq <= 0) throw new Error(`--filter must be key=value, got "${entry}"`);
  const raw = entry.slice(eq + 1);
  const value = raw === 'true' ? true : raw === 'false' ? false : raw !== '' && !Number.isNaN(Number(raw)) ? Number(raw) : raw;
  return [entry.slice(0, eq), value];
}

function parseJsonObject(text: string, flag: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error(`${flag} must be a JSON object`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error(`${flag} must be a JSON object`);
  return value as Record<string, unknown>;
}

export function askCommand(): Command {
  return new Command('ask')
    .description('answer a question from a collection, citing verified quotes (abstains when the sources do not say)')
    .argument('<question>', 'the question')
    .requiredOption('--collection <name>', 'collection to answer from')
    .option('-k <n>', 'sources to retrieve (1-20)', (v) => Number(v))
    .option('--filter <key=value...>', 'metadata equality filters')
    .action(
      action(async (question: string, options: { collection: string; k?: number; filter?: string[] }, command: Command) => {
        const filters = options.filter ? Object.fromEntries(options.filter.map(parseFilter)) : undefined;
        const result = await withApi(await configFrom(command), (api) => api.ask(question, options.collection, { k: options.k, filters }));
        if (globalOptions(command).json) return printJson(result);
        printAnswer(result);
      }),
    );
}

/** Human-readable answer with its citations; shared with the demo. */
export function printAnswer(result: Awaited<ReturnType<import('../../client/client.js').GroundworkApi['ask']>>): void {
  if (!result.answerable) {
    console.log(`  not answerable from the sources${result.answer ? ` (unverified draft: ${result.answer})` : ''}`);
  } else {
    console.log(`  ${result.answer}`);
    for (const c of result.citations) console.log(`    [${c.document}] "${c.quote}"`);
  }
  const g = result.grounding as { citations_verified?: number; citations_dropped?: number; chunks_used?: number };
  console.log(
    `  run ${result.run_id}  model=${result.model}  confidence=${result.confidence.toFixed(2)}  sources=${g.chunks_used ?? 0}  citations verified=${g.citations_verified ?? 0} dropped=${g.citations_dropped ?? 0}  ${Math.round(result.latency_ms)} ms`,
  );
}
