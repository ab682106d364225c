/**
 * ARCHITECTURE.md's "Dependency rules", checked by `npm run lint` (dependency-cruiser).
 *
 * Every import between our files (src/, bench/) must match one `allowed` entry below, or the
 * lint fails with `not-in-allowed`: anything not listed is refused, as ARCHITECTURE.md says.
 * The `forbidden` rules add what an allow-list cannot say (a file inside a folder that must
 * import nothing, a provider that must not reach the wrappers, production reaching test code).
 * Change a rule here and in ARCHITECTURE.md together.
 *
 * "types only" means `import type` / `export type` (or every named binding marked `type`):
 * those imports are erased at compile time, so nothing of the target runs.
 */

/** Test code: tests, contract suites, test helpers and fixtures, dev scripts (what tsconfig.build.json leaves out). */
const TEST = [
  '\\.test\\.ts$',
  '\\.contract\\.ts$',
  '\\.eval\\.ts$',
  '(^|/)test-[^/]+\\.ts$',
  '^src/ingest/fixtures/',
  '^src/api/fuzz/',
  '^src/grounding/squad-quick\\.ts$',
];
const TYPES = ['type-only', 'type-import'];

/** `from` folder (production files) → `to` paths it may import. */
function may(from, to) {
  return { from: { path: from, pathNot: TEST }, to: { path: to } };
}
/** `from` folder (production files) → `to` paths it may import types from. */
function mayTypes(from, to) {
  return { from: { path: from, pathNot: TEST }, to: { path: to, dependencyTypes: TYPES } };
}
const folder = (name) => `^src/${name}/`;
const file = (path) => `^src/${path.replaceAll('.', '\\.')}$`;

module.exports = {
  allowed: [
    // Third-party packages and Node's built-ins (which folder uses which library is not checked).
    { from: {}, to: { pathNot: '^(src|bench)/' } },
    // Every folder may import its own files (the `forbidden` rules below narrow models, embeddings and auth).
    { from: { path: '^src/([^/]+)/' }, to: { path: '^src/$1/' } },
    { from: { path: '^bench/' }, to: { path: '^bench/' } },

    // kernel → nothing of ours.
    may(folder('config'), [folder('kernel')]),
    // models → models/spec.ts (and each other, see `forbidden`), config (types), the abort helpers, the cheap cancellation, lazy packages.
    mayTypes(folder('models'), [folder('config')]),
    may(folder('models'), [file('kernel/abort.ts'), file('kernel/cancellation.ts'), file('kernel/tokenizer.ts'), file('kernel/lazy-package.ts')]),
    // store → kernel, models/spec.ts (types only).
    may(folder('store'), [folder('kernel')]),
    mayTypes(folder('store'), [file('models/spec.ts')]),
    // ingest → kernel, embeddings/spec.ts, retrieval/ports.ts.
    may(folder('ingest'), [folder('kernel'), file('embeddings/spec.ts'), file('retrieval/ports.ts')]),
    // embeddings → config (types), the abort helpers, the lazy tokenizer; from models: the HTTP error helpers, tokens,
    // and the llama.cpp model loader lazily (a dynamic import, or types).
    mayTypes(folder('embeddings'), [folder('config'), file('models/providers/llama-cpp.ts')]),
    may(folder('embeddings'), [file('kernel/abort.ts'), file('kernel/tokenizer.ts'), file('models/providers/ai-sdk-adapter.ts'), file('models/tokens.ts')]),
    {
      from: { path: folder('embeddings'), pathNot: TEST },
      to: { path: file('models/providers/llama-cpp.ts'), dependencyTypes: ['dynamic-import'] },
    },
    // retrieval → kernel, store/ports.ts, store/json-param.ts, embeddings/spec.ts, ingest/types.ts.
    may(folder('retrieval'), [folder('kernel'), file('store/ports.ts'), file('store/json-param.ts'), file('embeddings/spec.ts'), file('ingest/types.ts')]),
    // grounding → retrieval/ports.ts (types), models/spec.ts, the lazy tokenizer.
    mayTypes(folder('grounding'), [file('retrieval/ports.ts')]),
    may(folder('grounding'), [file('models/spec.ts'), file('kernel/tokenizer.ts')]),
    // evals (datasets, scorers, scorecards, the gate: pure functions so far) → kernel.
    may(folder('evals'), [folder('kernel')]),
    // runs (what every run shares: the attempt log, the quota meter, the no-answer error) → kernel,
    // models/spec.ts, store/ports.ts, limits/ports.ts and auth/principal.ts (types only).
    may(folder('runs'), [folder('kernel')]),
    mayTypes(folder('runs'), [file('models/spec.ts'), file('store/ports.ts'), file('limits/ports.ts'), file('auth/principal.ts')]),
    // observability (metrics) → store/ports.ts (types: the run records it counts), prom-client.
    mayTypes(folder('observability'), [file('store/ports.ts')]),
    // tasks → kernel, config, models/spec.ts, store/ports.ts, grounding, runs, retrieval (the service type), the eval gate and normalisers (definitions declare them).
    may(folder('tasks'), [
      folder('kernel'),
      folder('config'),
      file('models/spec.ts'),
      file('store/ports.ts'),
      folder('grounding'),
      folder('runs'),
      file('evals/gate.ts'),
      file('evals/normalise.ts'),
    ]),
    mayTypes(folder('tasks'), [folder('retrieval')]),
    // auth → kernel, store/ports.ts (tests may use the store's index, see the test rule).
    may(folder('auth'), [folder('kernel'), file('store/ports.ts')]),
    // limits → kernel, config (types), auth/principal.ts, store/ports.ts.
    may(folder('limits'), [folder('kernel'), file('auth/principal.ts'), file('store/ports.ts')]),
    mayTypes(folder('limits'), [folder('config')]),
    // jobs → kernel, config (types), store/ports.ts + json-param.ts, auth/principal.ts,
    // tasks (types: the prepared task checks its own input), ingest (types; text-documents.ts, source-path.ts).
    may(folder('jobs'), [
      folder('kernel'),
      file('store/ports.ts'),
      file('store/json-param.ts'),
      file('auth/principal.ts'),
      file('ingest/text-documents.ts'),
      file('ingest/source-path.ts'),
      file('evals/report.ts'),
    ]),
    mayTypes(folder('jobs'), [folder('config'), folder('tasks'), folder('ingest')]),
    // gateway → kernel, config, models (spec, registry, the router, pricing, tokens, instrumentation,
    // OpenAI's wire pieces), embeddings, limits/ports.ts, auth/principal.ts, store/ports.ts + run-batcher.ts, runs.
    may(folder('gateway'), [
      folder('kernel'),
      folder('runs'),
      folder('config'),
      file('models/spec.ts'),
      file('models/registry.ts'),
      file('models/router.ts'),
      file('models/pricing.ts'),
      file('models/tokens.ts'),
      file('models/resilience/instrument.ts'),
      file('models/providers/openai-wire.ts'),
      folder('embeddings'),
      file('limits/ports.ts'),
      file('auth/principal.ts'),
      file('store/ports.ts'),
      file('store/run-batcher.ts'),
    ]),
    // api → tasks, store/ports.ts, kernel, auth, limits, jobs (index, types; the job presenter is the api's own),
    // gateway (types), ingest (types; text-documents.ts, source-path.ts), grounding and retrieval/ports.ts (types),
    // app/app.ts and app/eval-service.ts (types), observability (types: the metrics the /metrics route renders).
    may(folder('api'), [
      folder('tasks'),
      file('store/ports.ts'),
      folder('kernel'),
      folder('auth'),
      folder('limits'),
      file('jobs/index.ts'),
      file('jobs/types.ts'),
      file('ingest/text-documents.ts'),
      file('ingest/source-path.ts'),
      file('evals/report.ts'),
    ]),
    mayTypes(folder('api'), [
      folder('jobs'),
      folder('gateway'),
      folder('ingest'),
      folder('grounding'),
      file('retrieval/ports.ts'),
      file('retrieval/retrieval-service.ts'),
      file('app/app.ts'),
      file('app/eval-service.ts'),
      folder('observability'),
    ]),
    // client → nothing of ours. app → everything above (not cli, testing, bench).
    may(folder('app'), ['^src/(?!cli/|testing/)']),
    // cli → app, client, config, kernel (the error type), tasks/task-files.ts, store, auth, limits,
    // ingest/source-path.ts; `groundwork mock-llm` → the testing kit's public entry.
    may(folder('cli'), [
      folder('app'),
      folder('client'),
      folder('config'),
      folder('kernel'),
      file('tasks/task-files.ts'),
      folder('store'),
      folder('auth'),
      folder('limits'),
      file('ingest/source-path.ts'),
      file('evals/report.ts'),
    ]),
    may(file('cli/commands/mock-llm.ts'), [file('testing/index.ts')]),
    // testing → its own files, and the seeded generator it shares with the server (kernel/random.ts).
    may(folder('testing'), [file('kernel/random.ts')]),
    // bench → app, config, kernel, tasks, testing, grounding, api/fuzz, api/server.ts (the gateway
    // benchmark serves the real HTTP server in-process), store, retrieval, embeddings, evals (the
    // eval benchmarks score with the real scorers).
    {
      from: { path: '^bench/' },
      to: {
        path: [
          folder('app'),
          folder('config'),
          folder('kernel'),
          folder('tasks'),
          folder('testing'),
          folder('grounding'),
          folder('api/fuzz'),
          file('api/server.ts'),
          folder('store'),
          folder('retrieval'),
          folder('embeddings'),
          folder('evals'),
        ],
      },
    },

    // Test code may import anything under src/: what it tests, the real parts around it (a test may
    // build the whole app, or serve it over HTTP), the testing kit and other test helpers.
    { from: { path: TEST }, to: { path: '^src/' } },
  ],
  allowedSeverity: 'error',

  forbidden: [
    {
      name: 'port-imports-nothing',
      comment: 'models/spec.ts, embeddings/spec.ts and auth/principal.ts import nothing of ours: everything else depends on them.',
      severity: 'error',
      from: { path: [file('models/spec.ts'), file('embeddings/spec.ts'), file('auth/principal.ts')] },
      to: { path: '^(src|bench)/' },
    },
    {
      name: 'provider-not-wrappers',
      comment: 'A provider adapter imports the port, never the wrappers, structured output, the router or the registry.',
      severity: 'error',
      from: { path: folder('models/providers'), pathNot: TEST },
      to: { path: [folder('models/resilience'), file('models/structured-output.ts'), file('models/router.ts'), file('models/registry.ts')] },
    },
    {
      name: 'not-to-test-code',
      comment: 'Production code never imports tests, test helpers or fixtures (the build leaves them out).',
      severity: 'error',
      from: { path: '^src/', pathNot: TEST },
      to: { path: TEST },
    },
    {
      name: 'not-to-bench',
      comment: 'Nothing under src/ imports the benchmarks.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^bench/' },
    },
    {
      name: 'no-circular',
      comment: 'No import cycles at run time (ESM evaluates a cycle half-initialised); type-only links do not count.',
      severity: 'error',
      from: {},
      to: { circular: true, viaOnly: { dependencyTypesNot: TYPES } },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'An import that resolves to nothing: a typo, or a package missing from package.json.',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-non-package-json',
      comment: 'A package used but not declared in package.json works only by accident (hoisting).',
      severity: 'error',
      from: {},
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-to-dev-dep',
      comment: 'Shipped code must not need a devDependency at run time (users install without them).',
      severity: 'error',
      from: { path: '^src/', pathNot: TEST },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: TYPES },
    },
  ],

  options: {
    doNotFollow: { path: 'node_modules' },
    // See type-only imports (they are erased by tsc, so a plain cruise of the output would miss them).
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      mainFields: ['module', 'main', 'types', 'typings'],
    },
    skipAnalysisNotInRules: true,
    reporterOptions: {
      text: { highlightFocused: true },
    },
  },
};
