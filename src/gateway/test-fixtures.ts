import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import { gatewayRoutes } from '../api/gateway.routes.js';
import { registerErrorHandling } from '../api/error-handler.js';
import type { Principal } from '../auth/principal.js';
import { loadConfig, type Config, type ModelConfig, type ProviderConfig } from '../config/config.js';
import { createEmbedderRegistry } from '../embeddings/registry.js';
import { createExtractiveEngine } from '../grounding/extractive-engine.js';
import { GroundworkError } from '../kernel/errors.js';
import { newId } from '../kernel/ids.js';
import type { Limits, Reservation, UsageAmount } from '../limits/ports.js';
import { createModelRegistry } from '../models/registry.js';
import type { ModelPort } from '../models/spec.js';
import type { RunRecord } from '../store/ports.js';
import { createGateway, type Gateway } from './index.js';

/** Gateway test plumbing: config around mock servers, a recording Limits fake, a server with only the gateway routes. */

export const PRINCIPAL: Principal = { tenantId: 'tenant-a', keyId: 'key_test', role: 'runner' };

/** An empty folder to load config from (no groundwork.yaml), one per test process. */
let configDir: string | undefined;

/** Config with one openai-compatible provider per upstream URL (`<name>` → model `<name>-model`). */
export function gatewayConfig(
  upstreams: Record<string, string>,
  extra: Partial<Pick<Config, 'routes' | 'embedders' | 'resilience'>> & {
    providers?: Record<string, ProviderConfig>;
    models?: Record<string, ModelConfig>;
  } = {},
): Config {
  configDir ??= mkdtempSync(join(tmpdir(), 'gw-gateway-'));
  const base = loadConfig({ env: {}, cwd: configDir, overrides: { dataDir: 'memory://', logLevel: 'silent' } });
  const providers: Record<string, ProviderConfig> = { ...base.providers };
  const models: Record<string, ModelConfig> = { ...base.models };
  for (const [name, url] of Object.entries(upstreams)) {
    providers[name] = { name, type: 'openai-compatible', base_url: url, native_structured_output: true, api_key: `sk-${name}-secret-key` };
    models[`${name}-model`] = { name: `${name}-model`, provider: name, id: `${name}-upstream-id`, price: { input_per_mtok: 1, output_per_mtok: 2 } };
  }
  return {
    ...base,
    providers: { ...providers, ...extra.providers },
    models: { ...models, ...extra.models },
    routes: extra.routes ?? {},
    embedders: extra.embedders ?? {},
    resilience: { ...base.resilience, retries: 0, backoff_base_ms: 1, attempt_timeout_ms: 2_000, ...extra.resilience },
  };
}

export interface LimitsCall {
  maximum: UsageAmount;
  /** Further holds before later calls (failover, retries). */
  extended: UsageAmount[];
  settled?: UsageAmount;
  released?: boolean;
}

/** A Limits that records reserve/settle/release; `refuse` makes reserve throw QUOTA_EXCEEDED. */
export function recordingLimits(
  options: { refuse?: boolean; refuseExtension?: boolean; overSoft?: boolean } = {},
): Limits & { calls: LimitsCall[]; idle(): Promise<void> } {
  const calls: LimitsCall[] = [];
  let pending: Promise<void>[] = [];
  return {
    calls,
    async admit() {
      return { limit: 1_000, remaining: 999, resetMs: 60_000 };
    },
    async reserve(_principal, maximum) {
      if (options.refuse) throw new GroundworkError('QUOTA_EXCEEDED', 'tenant quota exhausted', { details: { period: 'day' } });
      const call: LimitsCall = { maximum, extended: [] };
      calls.push(call);
      const reservation: Reservation = {
        overSoftQuota: options.overSoft === true,
        extend: async (more) => {
          if (options.refuseExtension) throw new GroundworkError('QUOTA_EXCEEDED', 'tenant quota exhausted', { details: { period: 'day' } });
          call.extended.push(more);
        },
        settle: async (actual) => {
          const done = Promise.resolve().then(() => void (call.settled = actual));
          pending.push(done);
          await done;
        },
        release: async () => {
          call.released = true;
        },
      };
      return reservation;
    },
    async idle() {
      const all = pending;
      pending = [];
      await Promise.all(all);
    },
    async close() {},
  };
}

/** Runs recorded through a RunBatcher-shaped sink, immediately. */
export function recordedRuns(): { add(tenantId: string, run: RunRecord): void; runs: Array<RunRecord & { tenantId: string }> } {
  const runs: Array<RunRecord & { tenantId: string }> = [];
  return { runs, add: (tenantId, run) => runs.push({ ...run, tenantId }) };
}

export interface GatewayUnderTest {
  gateway: Gateway;
  server: FastifyInstance;
  limits: ReturnType<typeof recordingLimits>;
  recorded: ReturnType<typeof recordedRuns>;
  /** Base URL of the listening server (after listen()). */
  listen(): Promise<string>;
  close(): Promise<void>;
}

/**
 * The gateway routes on a bare fastify (error handling and zod compilers as in the real server)
 * with `request.auth` set by a hook, so these tests need neither the auth service nor a store.
 */
/**
 * `engines`: ports a test scripts, served as built-in engines (a `builtin` provider's model
 * `id`), so they sit behind the registry's real wrappers like any provider that does not
 * speak OpenAI's wire format.
 */
export async function gatewayUnderTest(
  config: Config,
  options: { limits?: ReturnType<typeof recordingLimits>; engines?: Record<string, () => ModelPort> } = {},
): Promise<GatewayUnderTest> {
  const limits = options.limits ?? recordingLimits();
  const recorded = recordedRuns();
  const registry = createModelRegistry(config, { builtinModels: { extractive: () => createExtractiveEngine(), ...options.engines } });
  const embedders = createEmbedderRegistry({ providers: config.providers, embedders: config.embedders });
  const gateway = createGateway({ config, models: registry, embedders, runs: recorded, limits, logger: { error: () => {} }, newId, now: Date.now });
  const server = Fastify({ logger: false, forceCloseConnections: true });
  server.setValidatorCompiler(validatorCompiler);
  server.setSerializerCompiler(serializerCompiler);
  server.removeContentTypeParser(['text/plain']);
  registerErrorHandling(server);
  server.addHook('onRequest', async (request) => {
    if (request.headers.authorization === 'Bearer test-key') request.auth = PRINCIPAL;
  });
  await server.register(gatewayRoutes({ gateway }), { prefix: '/v1' });
  return {
    gateway,
    server,
    limits,
    recorded,
    async listen() {
      await server.listen({ port: 0, host: '127.0.0.1' });
      return `http://127.0.0.1:${(server.server.address() as AddressInfo).port}`;
    },
    async close() {
      await server.close();
      await registry.close();
      await embedders.close();
    },
  };
}

/** Parses an SSE body into its data payloads (`[DONE]` kept as the string). */
export function sseData(body: string): unknown[] {
  return body
    .split('\n\n')
    .filter((event) => event.startsWith('data: '))
    .map((event) => {
      const data = event.slice(6);
      return data === '[DONE]' ? data : JSON.parse(data);
    });
}
