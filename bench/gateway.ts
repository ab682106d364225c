/**
 * bench:gateway — what Groundwork's OpenAI-compatible gateway adds to a chat completion, with
 * everything production has on: API key auth, rate limits (requests/min, tokens/min), hard
 * tenant quotas (reserve before, settle after), cost and a run record per call (batched into
 * the embedded store). Compared in the same run with calling the mock model directly.
 *
 *   npm run bench:gateway [-- --requests 2000 --warmup 500 --seconds 6 --connections 100 --breakdown --data-dir DIR|memory://]
 *
 * Layout: Groundwork runs in the main thread (the "one process" measured; its embedded store
 * runs PGlite in a worker thread of its own); mock-llm and the load generator each run in
 * their own worker thread, so none shares another's event loop (on a 2-core machine they all
 * share the cores).
 * (a) latency: sequential requests on one keep-alive connection after warm-up; added = the
 *     difference of percentiles, through Groundwork minus direct.
 * (b) throughput: `--connections` keep-alive connections, each sending its next request as
 *     soon as the last one answered, for `--seconds` (two interleaved rounds each side), and
 *     the same gateway with metrics off (metrics.enabled: false) in the same rounds: what
 *     recording metrics costs (metrics_on_vs_off_req_per_s).
 * A bare pass-through proxy (fastify + undici, nothing else) is measured the same way in the
 * same run (`bare_proxy_*`): the yardstick, in this layout.
 * Groundwork's own CPU time per request (from /proc on Linux) is reported too, for its main
 * thread and for all its threads (PGlite's worker included: every thread of the process but
 * the mock's and the load generator's). It depends less than req/s on what else the machine
 * runs, but not nothing: when the machine slows, the same code costs more CPU per request,
 * so compare layers and variants within one run.
 * `--breakdown` measures that CPU time with the layers switched on one at a time (a bare
 * fastify proxy, the server's plumbing, the gateway, quotas, auth + rate limit, recording);
 * layers are switched off by replacing them with no-op stubs on the App, for this bench only.
 *
 * Last line: {"bench":"gateway","added_p50_ms":…,"added_p99_ms":…,"req_per_s":…,"direct_req_per_s":…}
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Client, Pool } from 'undici';

interface LoadTarget {
  origin: string;
  path: string;
  headers: Record<string, string>;
}
type LoadCommand =
  | { kind: 'sequential'; target: LoadTarget; requests: number; warmup: number }
  | { kind: 'concurrent'; target: LoadTarget; connections: number; seconds: number; warmupSeconds: number }
  | { kind: 'stop' };
/** Messages from the load thread: phase marks (so the main thread can read its CPU clock) and results. */
type LoadMessage = { mark: 'start' | 'end' } | { latencies: number[] } | { completed: number; failed: number; seconds: number };

const BODY = JSON.stringify({
  model: 'default',
  messages: [
    { role: 'system', content: 'You triage support tickets. Answer in one short sentence.' },
    { role: 'user', content: 'My card was charged twice for order #88123 yesterday. Please refund the duplicate.' },
  ],
  max_tokens: 64,
  temperature: 0,
});

if (!isMainThread && workerData?.role === 'mock') await mockThread();
else if (!isMainThread && workerData?.role === 'load') loadThread();
else await main();

async function mockThread(): Promise<void> {
  const { startMockLlm } = await import('../src/testing/index.js');
  const mock = await startMockLlm({ seed: 1, respond: () => 'Billing issue: refund the duplicate charge for order 88123.' });
  parentPort!.postMessage({ url: mock.url, tid: ownTid() });
}

function loadThread(): void {
  parentPort!.postMessage({ tid: ownTid() });
  parentPort!.on('message', async (command: LoadCommand) => {
    if (command.kind === 'stop') process.exit(0);
    parentPort!.postMessage(command.kind === 'sequential' ? await sequential(command) : await concurrent(command));
  });
}

async function sequential(command: Extract<LoadCommand, { kind: 'sequential' }>): Promise<LoadMessage> {
  const client = new Client(command.target.origin, { pipelining: 1, keepAliveTimeout: 60_000 });
  const send = async () => {
    const response = await client.request({ path: command.target.path, method: 'POST', headers: command.target.headers, body: BODY });
    await response.body.text();
    if (response.statusCode !== 200) throw new Error(`HTTP ${response.statusCode}`);
  };
  for (let i = 0; i < command.warmup; i++) await send();
  parentPort!.postMessage({ mark: 'start' } satisfies LoadMessage);
  const latencies: number[] = [];
  for (let i = 0; i < command.requests; i++) {
    const t0 = performance.now();
    await send();
    latencies.push(performance.now() - t0);
  }
  parentPort!.postMessage({ mark: 'end' } satisfies LoadMessage);
  await client.close();
  return { latencies };
}

async function concurrent(command: Extract<LoadCommand, { kind: 'concurrent' }>): Promise<LoadMessage> {
  const pool = new Pool(command.target.origin, { connections: command.connections, pipelining: 1, keepAliveTimeout: 60_000 });
  let counting = false;
  let stop = false;
  let completed = 0;
  let failed = 0;
  const loop = async () => {
    while (!stop) {
      const response = await pool.request({ path: command.target.path, method: 'POST', headers: command.target.headers, body: BODY });
      await response.body.text();
      if (!counting) continue;
      if (response.statusCode === 200) completed++;
      else failed++;
    }
  };
  const loops = Array.from({ length: command.connections }, loop);
  await sleep(command.warmupSeconds * 1000);
  counting = true;
  parentPort!.postMessage({ mark: 'start' } satisfies LoadMessage);
  const started = performance.now();
  await sleep(command.seconds * 1000);
  counting = false;
  parentPort!.postMessage({ mark: 'end' } satisfies LoadMessage);
  const seconds = (performance.now() - started) / 1000;
  stop = true;
  await Promise.all(loops);
  await pool.close();
  return { completed, failed, seconds };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      requests: { type: 'string', default: '2000' },
      warmup: { type: 'string', default: '500' },
      seconds: { type: 'string', default: '6' },
      connections: { type: 'string', default: '100' },
      breakdown: { type: 'boolean', default: false },
      'data-dir': { type: 'string' },
    },
  });
  const requests = Number(values.requests);
  const warmup = Number(values.warmup);
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);

  const { createApp } = await import('../src/app/app.js');
  const { buildServer } = await import('../src/api/server.js');
  const { loadConfig } = await import('../src/config/config.js');
  const { machine, percentile, writeResult } = await import('./report.js');

  const mockWorker = new Worker(new URL(import.meta.url), { workerData: { role: 'mock' } });
  const { url: mockUrl, tid: mockTid } = await new Promise<{ url: string; tid: string }>((resolve) => mockWorker.once('message', resolve));

  // The embedded default: PGlite in a data folder (memory:// pays emscripten's in-memory file
  // growth on every WAL write, which a real installation never does).
  const workDir = mkdtempSync(join(tmpdir(), 'gw-bench-gateway-'));
  const dataDir = values['data-dir'] ?? join(workDir, 'data');
  const base = loadConfig({ env: {}, cwd: workDir, overrides: { dataDir, logLevel: 'silent' } });
  const config = {
    ...base,
    providers: { ...base.providers, mock: { name: 'mock', type: 'openai-compatible' as const, base_url: mockUrl, native_structured_output: true } },
    models: { ...base.models, 'mock-model': { name: 'mock-model', provider: 'mock', price: { input_per_mtok: 0.15, output_per_mtok: 0.6 } } },
    routes: { default: ['mock-model'] },
    // Generous, but on: every request is counted and every call's tokens charged.
    limits: { ...base.limits, requests_per_minute: 100_000_000, tokens_per_minute: 1_000_000_000 },
  };
  const app = await createApp(config, { lock: false, logger: { error: (details, message) => console.error(message, details) } });
  const server = await buildServer(app, { logger: false });
  // The same gateway with metrics off (nothing counted), in the same run: what recording metrics costs.
  const quiet = await createApp(
    { ...config, dataDir: join(workDir, 'data-no-metrics'), metrics: { enabled: false } },
    { lock: false, logger: { error: (details, message) => console.error(message, details) } },
  );
  const quietServer = await buildServer(quiet, { logger: false });
  const mockBase = new URL(mockUrl);
  const upstream = new Pool(mockBase.origin, { connections: 256 });
  // The same forwarding the gateway does, without the gateway: for --breakdown.
  const forward = async (body: unknown): Promise<string> => {
    const response = await upstream.request({
      path: `${mockBase.pathname}/chat/completions`,
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ ...(body as object), model: 'mock-model' }),
    });
    return response.body.text();
  };
  server.post('/v1/bench-forward', { config: { role: 'runner' }, schema: { hide: true } }, async (request, reply) =>
    reply.type('application/json').send(await forward(request.body)),
  );
  await server.listen({ port: 0, host: '127.0.0.1' });
  const address = server.server.address() as { port: number };
  await quietServer.listen({ port: 0, host: '127.0.0.1' });
  // The reference the issue quotes: a bare pass-through proxy (fastify + undici, nothing else),
  // measured in the same layout and run, so what Groundwork adds over plain proxying shows.
  const Fastify = (await import('fastify')).default;
  const bare = Fastify({ logger: false });
  bare.post('/forward', async (request, reply) => reply.type('application/json').send(await forward(request.body)));
  await bare.listen({ port: 0, host: '127.0.0.1' });

  // A real tenant, key and hard quotas that this run will not exhaust (on both gateways).
  const tenantOn = async (target: App) => {
    await target.auth.createTenant({ id: 'bench' });
    const { key: made } = await target.auth.createKey('bench', { role: 'runner', name: 'bench' });
    await target.limits.quotas.setQuota('bench', { metric: 'usd', period: 'day', limit: 1_000_000, enforcement: 'hard' });
    await target.limits.quotas.setQuota('bench', { metric: 'tokens', period: 'day', limit: 10_000_000_000, enforcement: 'hard' });
    return made;
  };
  const key = await tenantOn(app);
  const quietKey = await tenantOn(quiet);

  const headers = { 'content-type': 'application/json', authorization: `Bearer ${key}` };
  const direct: LoadTarget = { origin: mockBase.origin, path: `${mockBase.pathname}/chat/completions`, headers };
  const through: LoadTarget = { origin: `http://127.0.0.1:${address.port}`, path: '/v1/chat/completions', headers };
  const quietTarget: LoadTarget = {
    origin: `http://127.0.0.1:${(quietServer.server.address() as { port: number }).port}`,
    path: '/v1/chat/completions',
    headers: { ...headers, authorization: `Bearer ${quietKey}` },
  };
  const bareTarget: LoadTarget = { origin: `http://127.0.0.1:${(bare.server.address() as { port: number }).port}`, path: '/forward', headers };

  const loadWorker = new Worker(new URL(import.meta.url), { workerData: { role: 'load' } });
  const { tid: loadTid } = await new Promise<{ tid: string }>((resolve) => loadWorker.once('message', resolve));
  // Groundwork's CPU in all its threads (the PGlite worker, libuv's pool, V8's helpers): every
  // thread of this process but the mock's and the load generator's.
  const groundworkCpuMs = () => processCpuMs([mockTid, loadTid]);
  /**
   * Runs a load command; `cpuMs` is this thread's CPU time between the load thread's start and
   * end marks, `allCpuMs` that of all Groundwork's threads.
   */
  const run = <T extends LoadMessage>(command: LoadCommand): Promise<T & { cpuMs: number; allCpuMs: number }> =>
    new Promise((resolve, reject) => {
      let startCpu = 0;
      let cpuMs = 0;
      let startAll = 0;
      let allCpuMs = 0;
      const onMessage = (message: LoadMessage) => {
        if ('mark' in message) {
          if (message.mark === 'start') {
            startCpu = threadCpuMs();
            startAll = groundworkCpuMs();
          } else {
            cpuMs = threadCpuMs() - startCpu;
            allCpuMs = groundworkCpuMs() - startAll;
          }
          return;
        }
        loadWorker.off('message', onMessage);
        loadWorker.off('error', onError);
        resolve({ ...(message as T), cpuMs, allCpuMs });
      };
      const onError = (error: Error) => {
        loadWorker.off('message', onMessage);
        reject(error);
      };
      loadWorker.on('message', onMessage);
      loadWorker.once('error', onError);
      loadWorker.postMessage(command);
    });
  const throughput = (target: LoadTarget) =>
    run<{ completed: number; failed: number; seconds: number }>({ kind: 'concurrent', target, connections, seconds: seconds / 2, warmupSeconds: 1 });

  // Interleave two rounds of each so drift on a noisy machine hits both sides alike.
  const directLat: number[] = [];
  const bareLat: number[] = [];
  const gwLat: number[] = [];
  const cpuPerRequest: number[] = [];
  for (let round = 0; round < 2; round++) {
    directLat.push(...(await run<{ latencies: number[] }>({ kind: 'sequential', target: direct, requests: requests / 2, warmup })).latencies);
    bareLat.push(...(await run<{ latencies: number[] }>({ kind: 'sequential', target: bareTarget, requests: requests / 2, warmup })).latencies);
    const gw = await run<{ latencies: number[] }>({ kind: 'sequential', target: through, requests: requests / 2, warmup });
    gwLat.push(...gw.latencies);
    cpuPerRequest.push((gw.cpuMs * 1000) / gw.latencies.length);
  }
  const directRps: number[] = [];
  const bareRps: number[] = [];
  const gwRps: number[] = [];
  const quietRps: number[] = [];
  const quietCpuLoaded: number[] = [];
  const cpuPerRequestLoaded: number[] = [];
  const allCpuPerRequestLoaded: number[] = [];
  let failed = 0;
  for (let round = 0; round < 2; round++) {
    const d = await throughput(direct);
    directRps.push(d.completed / d.seconds);
    const b = await throughput(bareTarget);
    bareRps.push(b.completed / b.seconds);
    // Metrics off before on in one round, after it in the other: the order's drift cancels.
    const quietRound = async () => {
      const q = await throughput(quietTarget);
      quietRps.push(q.completed / q.seconds);
      quietCpuLoaded.push((q.cpuMs * 1000) / q.completed);
      failed += q.failed;
    };
    if (round === 0) await quietRound();
    const g = await throughput(through);
    if (round === 1) await quietRound();
    gwRps.push(g.completed / g.seconds);
    cpuPerRequestLoaded.push((g.cpuMs * 1000) / g.completed);
    allCpuPerRequestLoaded.push((g.allCpuMs * 1000) / g.completed);
    failed += d.failed + b.failed + g.failed;
  }

  let breakdown: Record<string, { main: number; all_threads: number }> | undefined;
  if (values.breakdown) breakdown = await layers();

  await app.runBatcher.flush();
  const recorded = (
    await app.store.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM runs WHERE tenant_id = 'bench' AND task_name = 'chat.completions'`)
  )[0].n;
  const quota = (await app.limits.quotas.getQuotas('bench')).find((q) => q.metric === 'usd');

  const ms = (value: number) => Math.round(value * 1000) / 1000;
  const cpuKnown = cpuPerRequest.every(Number.isFinite);
  const result = {
    bench: 'gateway',
    added_p50_ms: ms(percentile(gwLat, 50) - percentile(directLat, 50)),
    added_p99_ms: ms(percentile(gwLat, 99) - percentile(directLat, 99)),
    req_per_s: Math.round(average(gwRps)),
    direct_req_per_s: Math.round(average(directRps)),
    bare_proxy_added_p50_ms: ms(percentile(bareLat, 50) - percentile(directLat, 50)),
    bare_proxy_added_p99_ms: ms(percentile(bareLat, 99) - percentile(directLat, 99)),
    bare_proxy_req_per_s: Math.round(average(bareRps)),
    groundwork_p50_ms: ms(percentile(gwLat, 50)),
    groundwork_p99_ms: ms(percentile(gwLat, 99)),
    direct_p50_ms: ms(percentile(directLat, 50)),
    direct_p99_ms: ms(percentile(directLat, 99)),
    groundwork_cpu_us_per_request: cpuKnown ? Math.round(Math.min(...cpuPerRequest)) : null,
    groundwork_cpu_us_per_request_at_100_connections: cpuKnown ? Math.round(Math.min(...cpuPerRequestLoaded)) : null,
    groundwork_all_threads_cpu_us_per_request_at_100_connections: cpuKnown ? Math.round(Math.min(...allCpuPerRequestLoaded)) : null,
    metrics_off_req_per_s: Math.round(average(quietRps)),
    metrics_off_cpu_us_per_request_at_100_connections: cpuKnown ? Math.round(Math.min(...quietCpuLoaded)) : null,
    metrics_on_vs_off_req_per_s: Math.round((average(gwRps) / average(quietRps)) * 1000) / 1000,
    ...(breakdown ? { cpu_us_per_request_by_layer: breakdown } : {}),
    sequential_requests: gwLat.length,
    connections,
    non_200: failed,
    runs_recorded: recorded,
    quota_usd_used: quota ? Math.round(quota.used * 1e6) / 1e6 : null,
    on: 'auth (API key), rate limits, hard usd+token quotas, run recording (batched), cost',
    store: dataDir === 'memory://' ? 'embedded (PGlite, memory://)' : 'embedded (PGlite in a data folder)',
    layout: 'groundwork in the main thread (its PGlite in a worker thread of its own); mock-llm and the load generator in worker threads',
    machine: machine(),
  };

  loadWorker.postMessage({ kind: 'stop' } satisfies LoadCommand);
  await server.close();
  await quietServer.close();
  await bare.close();
  await upstream.close();
  await app.close();
  await quiet.close();
  await mockWorker.terminate();
  writeResult('gateway', result);
  process.exit(0);

  /**
   * CPU µs per request at `connections` connections, layer by layer (best of two rounds), of
   * the main thread and of all Groundwork's threads. Layers are switched off by swapping App
   * members for no-op stubs (bench only).
   */
  async function layers(): Promise<Record<string, { main: number; all_threads: number }>> {
    const plumbingTarget: LoadTarget = { ...through, path: '/v1/bench-forward' };

    const mutable = app as unknown as {
      auth: { authenticate: App['auth']['authenticate'] };
      limits: { admit: App['limits']['admit']; reserve: App['limits']['reserve'] };
      runBatcher: { add: App['runBatcher']['add'] };
    };
    const real = {
      authenticate: app.auth.authenticate.bind(app.auth),
      admit: app.limits.admit.bind(app.limits),
      reserve: app.limits.reserve.bind(app.limits),
      add: app.runBatcher.add.bind(app.runBatcher),
    };
    const principal = await real.authenticate(`Bearer ${key}`);
    const layer = (on: { quotas: boolean; auth: boolean; recording: boolean }) => {
      mutable.limits.reserve = on.quotas
        ? real.reserve
        : async () => ({ overSoftQuota: false, extend: async () => {}, settle: async () => {}, release: async () => {} });
      mutable.auth.authenticate = on.auth ? real.authenticate : async () => principal;
      mutable.limits.admit = on.auth ? real.admit : async () => ({ limit: 1, remaining: 1, resetMs: 60_000 });
      mutable.runBatcher.add = on.recording ? real.add : () => {};
    };
    const steps: Array<[string, LoadTarget, { quotas: boolean; auth: boolean; recording: boolean }]> = [
      ['bare fastify proxy (undici, no hooks)', bareTarget, { quotas: false, auth: false, recording: false }],
      ['+ Groundwork server plumbing (hooks, ids; auth stubbed)', plumbingTarget, { quotas: false, auth: false, recording: false }],
      ['+ gateway (routing, breaker, cost, run record built)', through, { quotas: false, auth: false, recording: false }],
      ['+ quotas (reserve, settle)', through, { quotas: true, auth: false, recording: false }],
      ['+ auth + rate limit (key lookup, admit, token charge)', through, { quotas: true, auth: true, recording: false }],
      ['+ recording (batched PGlite writes): everything on', through, { quotas: true, auth: true, recording: true }],
    ];
    const best: Record<string, { main: number; all_threads: number }> = {};
    for (let round = 0; round < 2; round++) {
      for (const [name, target, on] of steps) {
        layer(on);
        const r = await throughput(target);
        const main = Math.round((r.cpuMs * 1000) / r.completed);
        const all = Math.round((r.allCpuMs * 1000) / r.completed);
        best[name] = {
          main: Math.min(best[name]?.main ?? Number.POSITIVE_INFINITY, main),
          all_threads: Math.min(best[name]?.all_threads ?? Number.POSITIVE_INFINITY, all),
        };
      }
    }
    layer({ quotas: true, auth: true, recording: true });
    return best;
  }
}

type App = Awaited<ReturnType<typeof import('../src/app/app.js').createApp>>;

/** CPU time (user + system) of this thread in ms; NaN where /proc is not available. */
function threadCpuMs(): number {
  return taskCpuMs(String(process.pid));
}

/** CPU time of every thread of this process but `except` (thread ids), in ms; NaN without /proc. */
function processCpuMs(except: string[]): number {
  const tasks = `/proc/${process.pid}/task`;
  if (!existsSync(tasks)) return Number.NaN;
  let total = 0;
  for (const tid of readdirSync(tasks)) {
    const ms = except.includes(tid) ? 0 : taskCpuMs(tid);
    if (Number.isFinite(ms)) total += ms; // a thread that ended between listing and reading counts 0
  }
  return total;
}

function taskCpuMs(tid: string): number {
  const stat = `/proc/${process.pid}/task/${tid}/stat`;
  if (!existsSync(stat)) return Number.NaN;
  try {
    // Fields after the command name: utime and stime are the 12th and 13th, in clock ticks (100/s).
    const fields = readFileSync(stat, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/** This thread's id as Linux knows it (the first field of /proc/thread-self/stat); '' without /proc. */
function ownTid(): string {
  return existsSync('/proc/thread-self/stat') ? readFileSync('/proc/thread-self/stat', 'utf8').split(' ')[0] : '';
}

function average(values: number[]): number {
  return values.reduce((a, b) => a + b, 0) / values.length;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
