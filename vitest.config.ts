import { configDefaults, defineConfig } from 'vitest/config';

// Test files that need a process of their own: they replace a module (vi.mock), which a
// module another file already loaded in the same process would not see.
const ISOLATED = ['src/app/serve.jobs.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two workers even on two cores (Vitest's default there is one): many tests wait on child
    // processes, sockets and PGlite's own thread, so a second worker fills that time.
    maxWorkers: 2,
    // The JSON report lets .ci/run print one plain "N passed, N failed" closing line.
    reporters: ['default', 'json'],
    outputFile: { json: '.tmp/vitest-report.json' },
    projects: [
      {
        extends: true,
        test: {
          name: 'shared',
          include: ['src/**/*.test.ts', 'bench/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...ISOLATED],
          // A worker process runs many test files: the modules they share (fastify, the AI SDK,
          // PGlite's compiled WASM…) load once per worker instead of once per file, which was
          // most of the suite's CPU time. Tests close what they open and restore what they
          // change (timers, cwd, umask, spies), so a file sees nothing of the ones before it.
          isolate: false,
        },
      },
      { extends: true, test: { name: 'isolated', include: ISOLATED } },
    ],
  },
});
