#!/usr/bin/env node
/**
 * Checks the package as users get it: packs the built tree (`npm pack`, so `files` counts),
 * unpacks it as node_modules/groundwork of a scratch consumer, type-checks a small TypeScript
 * file that imports `groundwork/client` and `groundwork/testing` with moduleResolution NodeNext
 * (so a wrong `exports` path or a missing .d.ts fails), runs it, and runs the `groundwork` bin.
 *
 *   npm run build && npm run check:package
 *
 * The consumer lives in .tmp/ inside the repository so that the repository's TypeScript,
 * @types/node and dependencies resolve by walking up, with nothing to download.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, '.tmp', 'package-check');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** Runs a command in the consumer folder; its own error output is shown, then the check fails. */
function run(command, args, options = {}) {
  try {
    return execFileSync(command, args, { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], ...options });
  } catch (error) {
    if (typeof error.stdout === 'string') process.stdout.write(error.stdout);
    return fail(`\`${[command, ...args].join(' ')}\` failed (exit ${error.status ?? error.code})`);
  }
}
function fail(message) {
  console.error(`check-package: ${message}`);
  process.exit(1);
}

if (!existsSync(join(root, 'dist', 'src', 'client', 'client.d.ts'))) fail('no dist/src/client/client.d.ts: run `npm run build` first');
rmSync(work, { recursive: true, force: true });
mkdirSync(join(work, 'node_modules', 'groundwork'), { recursive: true });

// 1. Pack (scripts off: the build is the caller's job) and check every exported file is in it.
const [packed] = JSON.parse(run('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: root }));
const shipped = new Set(packed.files.map((entry) => entry.path));
const targets = [
  ...Object.values(manifest.bin),
  ...Object.values(manifest.exports).flatMap((entry) => (typeof entry === 'string' ? [entry] : Object.values(entry))),
];
const missing = targets.map((path) => path.replace(/^\.\//, '')).filter((path) => !shipped.has(path));
if (missing.length > 0) fail(`the package does not contain ${missing.join(', ')}`);
const unwanted = [...shipped].filter((path) => /\.test\.|(^|\/)test-[^/]+\.|^src\/|^bench\/|^dist\/bench\//.test(path));
if (unwanted.length > 0) fail(`the package ships files users do not need: ${unwanted.slice(0, 5).join(', ')}${unwanted.length > 5 ? ', …' : ''}`);
run('tar', ['-xzf', packed.filename, '-C', join(work, 'node_modules', 'groundwork'), '--strip-components=1']);

// 2. A consumer, type-checked the way a user's NodeNext project would see the package.
writeFileSync(join(work, 'package.json'), JSON.stringify({ name: 'groundwork-consumer', private: true, type: 'module' }));
writeFileSync(
  join(work, 'tsconfig.json'),
  JSON.stringify({
    compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: false, types: ['node'], outDir: '.' },
    files: ['consumer.ts'],
  }),
);
writeFileSync(
  join(work, 'consumer.ts'),
  `import { createClient, GroundworkApiError, type GroundworkApi } from 'groundwork/client';
import { exampleFromSchema, startMockLlm, type MockLlm } from 'groundwork/testing';

const api: GroundworkApi = createClient({ baseUrl: 'http://127.0.0.1:1' });
if (typeof api.listTasks !== 'function') throw new Error('client: no listTasks');
if (!(new GroundworkApiError(404, 'NOT_FOUND', 'x') instanceof Error)) throw new Error('client: GroundworkApiError');
const example = exampleFromSchema({ type: 'object', properties: { n: { type: 'integer' } }, required: ['n'] });
if (typeof example !== 'object') throw new Error('testing: exampleFromSchema');
const mock: MockLlm = await startMockLlm({ seed: 1 });
const models = (await (await fetch(\`\${mock.url}/models\`)).json()) as { data: { id: string }[] };
await mock.close();
if (models.data[0]?.id !== 'mock-llm') throw new Error('testing: the mock model server did not answer');
console.log('consumer: groundwork/client and groundwork/testing import, type-check and run');
`,
);
run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', '.'], { stdio: 'inherit' });
process.stdout.write(run(process.execPath, ['consumer.js']));

// 3. The bin, from the unpacked package: it finds its own package.json for --version.
const version = run(process.execPath, [join('node_modules', 'groundwork', manifest.bin.groundwork), '--version']).trim();
if (version !== manifest.version) fail(`groundwork --version printed "${version}", package.json says ${manifest.version}`);

rmSync(work, { recursive: true, force: true });
console.log(`check-package: ${packed.filename}: ${packed.entryCount} files, exports and bin work`);
