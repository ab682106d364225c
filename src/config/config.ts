import { existsSync, readFileSync } from 'node:fs';
import { BlockList, isIP } from 'node:net';
import { resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { GroundworkError, type Issue } from '../kernel/errors.js';
import { redactSecrets } from './redact-secrets.js';

/**
 * Configuration: environment variables plus an optional `groundwork.yaml`, parsed once at
 * start-up, every problem reported together (naming the variable or file key), frozen and
 * passed in. Nothing else in the code reads process.env.
 */

const price = z
  .object({
    input_per_mtok: z.number().nonnegative(),
    output_per_mtok: z.number().nonnegative(),
  })
  .strict();

const providerSchema = z
  .object({
    type: z.enum(['openai-compatible', 'anthropic', 'llama-cpp', 'builtin']),
    /** Base URL for HTTP providers, e.g. https://api.openai.com/v1 or http://localhost:11434/v1. */
    base_url: z.string().url().optional(),
    /** Name of the environment variable that holds the API key (never the key itself). */
    api_key_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .optional(),
    /** Extra request headers (e.g. api-version for Azure); values may not be secrets. */
    headers: z.record(z.string(), z.string()).optional(),
    /** OpenAI-compatible servers: use native json_schema response_format (else instructed JSON). */
    native_structured_output: z.boolean().default(true),
  })
  .strict();

const modelSchema = z
  .object({
    provider: z.string().min(1),
    /** The provider's model id (HTTP providers). Defaults to the config key. */
    id: z.string().min(1).optional(),
    /** Path to a GGUF file (llama-cpp provider), relative to the config file. */
    path: z.string().min(1).optional(),
    /** USD per 1M tokens; overrides the built-in price table. */
    price: price.optional(),
    context_window: z.number().int().positive().optional(),
  })
  .strict();

const embedderSchema = z
  .object({
    provider: z.string().min(1),
    /** The provider's embedding model id (HTTP providers). Defaults to the config key. */
    id: z.string().min(1).optional(),
    dimensions: z.number().int().positive().max(16_000).optional(),
    /** Path to a GGUF embedding model (llama-cpp provider), relative to the config file. */
    path: z.string().min(1).optional(),
  })
  .strict();

const evalsSchema = z
  .object({
    /**
     * Models of the eval's LLM judge, cheapest first (names from `models`). None: a task whose
     * eval declares a judge cannot be evaluated here (the judge is never faked).
     */
    judge_route: z.array(z.string().min(1)).min(1).optional(),
    judge_timeout_ms: z.number().int().min(100).max(600_000).default(60_000),
  })
  .strict();

const askSchema = z
  .object({
    /** Models for the built-in `ask` task, cheapest first; the extractive engine is a good last tier. */
    route: z.array(z.string().min(1)).min(1).default(['builtin-extractive']),
    /** Sources shown to the model. */
    k: z.number().int().min(1).max(20).default(6),
    /**
     * Relevance floor: a retrieved chunk counts only if it shares a term with the question or
     * its embedding similarity reaches this. With none left, ask abstains without a model call.
     */
    min_similarity: z.number().min(0).max(1).default(0.2),
    /** Token budget for the sources block. */
    max_source_tokens: z.number().int().min(100).max(200_000).default(3_000),
    timeout_ms: z.number().int().min(100).max(600_000).default(30_000),
  })
  .strict();

const resilienceSchema = z
  .object({
    /** Retries after the first attempt, per tier, for retryable failures. */
    retries: z.number().int().min(0).max(10).default(2),
    backoff_base_ms: z.number().int().min(0).default(250),
    backoff_max_ms: z.number().int().min(0).default(8_000),
    /** Retry-After values above this are capped (a provider asking for an hour is not waited on). */
    retry_after_cap_ms: z.number().int().min(0).default(30_000),
    attempt_timeout_ms: z.number().int().positive().default(60_000),
    /** The breaker opens when this share of the last `breaker_window` calls failed… */
    breaker_failure_rate: z.number().gt(0).lt(1).default(0.5),
    breaker_window: z.number().int().min(2).max(1_000).default(100),
    /** …and at least this many of them were made (no opening on a handful of samples). */
    breaker_min_calls: z.number().int().min(1).max(1_000).default(20),
    breaker_half_open_after_ms: z.number().int().positive().default(30_000),
  })
  .strict();

const limitsSchema = z
  .object({
    /** Where rate-limit counters live: memory (one process: the embedded default), postgres (server default), redis. */
    backend: z.enum(['auto', 'memory', 'postgres', 'redis']).default('auto'),
    /** redis://… when backend is redis (env GROUNDWORK_REDIS_URL). */
    redis_url: z.string().optional(),
    /** Per key, unless the key sets its own. */
    requests_per_minute: z.number().int().positive().default(600),
    tokens_per_minute: z.number().int().positive().default(1_000_000),
  })
  .strict();

const jobsSchema = z
  .object({
    /** Whether `serve` also works jobs. Default: yes embedded (one process), no with DATABASE_URL (run `groundwork worker`). */
    in_process: z.boolean().optional(),
    /** Jobs one process works at once. */
    concurrency: z.number().int().min(1).max(256).default(4),
    /** Tries per job (first included) before it is dead-lettered. */
    max_attempts: z.number().int().min(1).max(20).default(3),
    retry_delay_ms: z.number().int().min(0).default(1_000),
    /** Per-job deadline for one try. */
    timeout_ms: z.number().int().min(1_000).max(86_400_000).default(300_000),
    webhook_max_attempts: z.number().int().min(1).max(20).default(5),
    webhook_timeout_ms: z.number().int().min(100).max(60_000).default(10_000),
    /**
     * Webhook receivers on addresses that are refused by default (loopback, private, link-local,
     * CGNAT…): CIDR blocks ("10.0.0.0/8", "::1/128") or exact host names of internal receivers.
     */
    webhook_allow: z.array(z.string().min(1).max(253)).max(100).default([]),
    /** How often an idle worker asks the queue for work (a local enqueue wakes it at once). */
    poll_interval_ms: z.number().int().min(50).max(60_000).default(1_000),
    /** A try still active this long past its timeout counts as lost (its worker died) and is delivered again. */
    expiry_grace_ms: z.number().int().min(1_000).max(3_600_000).default(30_000),
    /** How often queue maintenance runs: re-delivers lost tries, archives finished ones. */
    maintenance_interval_ms: z.number().int().min(1_000).max(3_600_000).default(30_000),
  })
  .strict();

const authSchema = z
  .object({
    /** How long a process trusts a key it looked up (revocation elsewhere takes up to this long). */
    key_cache_ms: z.number().int().min(0).max(300_000).default(5_000),
  })
  .strict();

const metricsSchema = z
  .object({
    /** Count and serve GET /metrics (Prometheus text); false: nothing counted, no route. */
    enabled: z.boolean().default(true),
    /**
     * The bearer token a scraper sends (env GROUNDWORK_METRICS_TOKEN). Without one, /metrics
     * answers only requests from this machine (loopback): its labels name tasks and tenants.
     */
    token: z.string().min(16).optional(),
  })
  .strict();

const httpSchema = z
  .object({
    /** A client must send its request head within this time (slow-header clients are cut). */
    headers_timeout_ms: z.number().int().min(1_000).max(600_000).default(10_000),
    /** A client must send its whole request (head and body) within this time. */
    request_timeout_ms: z.number().int().min(1_000).max(3_600_000).default(60_000),
    /** An idle keep-alive connection is closed after this long. */
    keep_alive_timeout_ms: z.number().int().min(100).max(600_000).default(5_000),
  })
  .strict();

const fileSchema = z
  .object({
    data_dir: z.string().optional(),
    database_url: z.string().optional(),
    tasks_dir: z.string().optional(),
    host: z.string().optional(),
    port: z.number().int().min(0).max(65_535).optional(),
    body_limit_bytes: z.number().int().positive().optional(),
    upload_limit_bytes: z.number().int().positive().optional(),
    upload_max_files: z.number().int().min(1).max(10_000).optional(),
    log_level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).optional(),
    shutdown_timeout_ms: z.number().int().positive().optional(),
    providers: z.record(z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/i), providerSchema).default({}),
    models: z.record(z.string().min(1), modelSchema).default({}),
    routes: z.record(z.string().min(1), z.array(z.string().min(1)).min(1)).default({}),
    /** Embedders for collections; `builtin` (no weights, no network) is always available. */
    embedders: z.record(z.string().regex(/^[a-z0-9][a-z0-9_.-]*$/i), embedderSchema).default({}),
    resilience: resilienceSchema.default(resilienceSchema.parse({})),
    ask: askSchema.default(askSchema.parse({})),
    evals: evalsSchema.default(evalsSchema.parse({})),
    metrics: metricsSchema.default(metricsSchema.parse({})),
    limits: limitsSchema.default(limitsSchema.parse({})),
    jobs: jobsSchema.default(jobsSchema.parse({})),
    auth: authSchema.default(authSchema.parse({})),
    http: httpSchema.default(httpSchema.parse({})),
  })
  .strict();

export type LimitsConfig = z.infer<typeof limitsSchema>;
export type EvalsConfig = z.infer<typeof evalsSchema>;
export type MetricsConfig = z.infer<typeof metricsSchema>;
export type JobsConfig = z.infer<typeof jobsSchema> & { in_process: boolean };
export type AuthConfig = z.infer<typeof authSchema>;
export type HttpConfig = z.infer<typeof httpSchema>;
export type ProviderConfig = z.infer<typeof providerSchema> & { name: string; api_key?: string };
export type ModelConfig = z.infer<typeof modelSchema> & { name: string };
export type ResilienceConfig = z.infer<typeof resilienceSchema>;
export type AskConfig = z.infer<typeof askSchema>;
export type EmbedderConfig = z.infer<typeof embedderSchema> & { name: string };

export interface Config {
  dataDir: string;
  /** postgres://… for server mode; undefined for the embedded store in dataDir. */
  databaseUrl: string | undefined;
  tasksDir: string;
  host: string;
  port: number;
  bodyLimitBytes: number;
  /** Per uploaded document (multipart file or JSON text document) and per ingest request body. */
  uploadLimitBytes: number;
  /** Files in one multipart ingest request. */
  uploadMaxFiles: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  shutdownTimeoutMs: number;
  providers: Readonly<Record<string, Readonly<ProviderConfig>>>;
  models: Readonly<Record<string, Readonly<ModelConfig>>>;
  routes: Readonly<Record<string, readonly string[]>>;
  embedders: Readonly<Record<string, Readonly<EmbedderConfig>>>;
  resilience: Readonly<ResilienceConfig>;
  ask: Readonly<AskConfig>;
  /** The eval's LLM judge: its route (none: no judge) and deadline. */
  evals: Readonly<EvalsConfig>;
  /** GET /metrics: on or off, and the scraper's token. */
  metrics: Readonly<MetricsConfig>;
  limits: Readonly<LimitsConfig>;
  jobs: Readonly<JobsConfig>;
  auth: Readonly<AuthConfig>;
  /** Timeouts for slow clients. */
  http: Readonly<HttpConfig>;
  /** Absolute path of the config file that was read, if any. */
  configFile: string | undefined;
}

export interface LoadConfigOptions {
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Explicit config file path (overrides GROUNDWORK_CONFIG). */
  file?: string;
  /** Values that win over everything (CLI flags). */
  overrides?: Partial<Pick<Config, 'dataDir' | 'databaseUrl' | 'tasksDir' | 'host' | 'port' | 'logLevel'>>;
}

const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** Model name of the built-in extractive engine (no weights): the default and last tier for `ask`. */
export const BUILTIN_EXTRACTIVE = 'builtin-extractive';

/** Reads, validates and freezes the configuration; throws CONFIG_INVALID listing every problem. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const cwd = options.cwd ?? process.cwd();
  const issues: Issue[] = [];

  const explicit = options.file ?? env.GROUNDWORK_CONFIG;
  const candidate = resolve(cwd, explicit ?? 'groundwork.yaml');
  let fileValues: z.infer<typeof fileSchema> = fileSchema.parse({});
  let configFile: string | undefined;
  if (existsSync(candidate)) {
    configFile = candidate;
    let raw: unknown;
    try {
      raw = parseYaml(readFileSync(candidate, 'utf8')) ?? {};
    } catch (error) {
      issues.push({ path: candidate, message: `not valid YAML: ${(error as Error).message.split('\n')[0]}` });
    }
    if (raw !== undefined) {
      const parsed = fileSchema.safeParse(raw);
      if (parsed.success) fileValues = parsed.data;
      else for (const issue of parsed.error.issues) issues.push({ path: `${candidate}: ${issue.path.join('.') || '(root)'}`, message: issue.message });
    }
  } else if (explicit !== undefined) {
    issues.push({ path: options.file ? '--config' : 'GROUNDWORK_CONFIG', message: `config file ${candidate} does not exist` });
  }
  const baseDir = configFile ? resolve(configFile, '..') : cwd;

  const port = intFromEnv(env, 'GROUNDWORK_PORT', issues, { min: 0, max: 65_535 });
  const bodyLimit = intFromEnv(env, 'GROUNDWORK_BODY_LIMIT_BYTES', issues, { min: 1 });
  const uploadLimit = intFromEnv(env, 'GROUNDWORK_UPLOAD_LIMIT_BYTES', issues, { min: 1 });
  const uploadMaxFiles = intFromEnv(env, 'GROUNDWORK_UPLOAD_MAX_FILES', issues, { min: 1, max: 10_000 });
  const shutdownTimeout = intFromEnv(env, 'GROUNDWORK_SHUTDOWN_TIMEOUT_MS', issues, { min: 1 });
  const logLevel = env.GROUNDWORK_LOG_LEVEL;
  const logLevels = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
  if (logLevel !== undefined && !(logLevels as readonly string[]).includes(logLevel)) {
    issues.push({ path: 'GROUNDWORK_LOG_LEVEL', message: `must be one of ${logLevels.join(', ')}` });
  }
  const databaseUrl = options.overrides?.databaseUrl ?? env.DATABASE_URL ?? fileValues.database_url;
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(databaseUrl)) {
    issues.push({ path: 'DATABASE_URL', message: 'must start with postgres:// or postgresql://' });
  }

  // Built in, always there: the extractive engine answers grounded tasks with no model at all.
  const providers: Record<string, ProviderConfig> = { builtin: Object.freeze({ name: 'builtin', type: 'builtin', native_structured_output: true }) };
  for (const [name, provider] of Object.entries(fileValues.providers)) {
    const resolved: ProviderConfig = { ...provider, name };
    if (provider.type === 'openai-compatible' && !provider.base_url) {
      issues.push({ path: `providers.${name}.base_url`, message: 'is required for openai-compatible providers' });
    }
    if (provider.api_key_env) {
      const key = env[provider.api_key_env];
      if (key) resolved.api_key = key;
    }
    providers[name] = Object.freeze(resolved);
  }

  const models: Record<string, ModelConfig> = { [BUILTIN_EXTRACTIVE]: Object.freeze({ name: BUILTIN_EXTRACTIVE, provider: 'builtin', id: 'extractive' }) };
  for (const [name, model] of Object.entries(fileValues.models)) {
    const provider = providers[model.provider];
    if (!provider) {
      issues.push({
        path: `models.${name}.provider`,
        message: `unknown provider "${model.provider}" (declared: ${Object.keys(providers).join(', ') || 'none'})`,
      });
    } else if (provider.type === 'llama-cpp') {
      if (!model.path) issues.push({ path: `models.${name}.path`, message: 'is required for llama-cpp models (a .gguf file)' });
      else if (!existsSync(resolve(baseDir, model.path)))
        issues.push({ path: `models.${name}.path`, message: `file ${resolve(baseDir, model.path)} does not exist` });
    }
    models[name] = Object.freeze({ ...model, name, path: model.path ? resolve(baseDir, model.path) : undefined });
  }

  const routes: Record<string, readonly string[]> = {};
  for (const [name, tiers] of Object.entries(fileValues.routes)) {
    // Unknown models are config errors; a missing API key is reported when a task uses
    // the route, so one config can list providers that only some installations have keys for.
    tiers.forEach((model, index) => {
      if (!models[model])
        issues.push({ path: `routes.${name}[${index}]`, message: `unknown model "${model}" (configured: ${Object.keys(models).join(', ') || 'none'})` });
    });
    routes[name] = Object.freeze([...tiers]);
  }

  const embedders: Record<string, EmbedderConfig> = {};
  for (const [name, embedder] of Object.entries(fileValues.embedders)) {
    const provider = providers[embedder.provider];
    if (name === 'builtin') issues.push({ path: `embedders.${name}`, message: '"builtin" is reserved for the built-in embedder' });
    if (!provider) {
      issues.push({
        path: `embedders.${name}.provider`,
        message: `unknown provider "${embedder.provider}" (declared: ${Object.keys(providers).join(', ') || 'none'})`,
      });
    } else if (provider.type === 'anthropic') {
      issues.push({ path: `embedders.${name}.provider`, message: 'Anthropic has no embeddings API; use an OpenAI-compatible or llama-cpp provider' });
    } else if (provider.type === 'llama-cpp' && (!embedder.path || !existsSync(resolve(baseDir, embedder.path)))) {
      issues.push({
        path: `embedders.${name}.path`,
        message: embedder.path ? `file ${resolve(baseDir, embedder.path)} does not exist` : 'is required for llama-cpp embedders (a .gguf file)',
      });
    } else if (provider.api_key_env && !provider.api_key) {
      issues.push({
        path: `embedders.${name}`,
        message: `provider "${provider.name}" has no API key: environment variable ${provider.api_key_env} is not set`,
      });
    }
    // The dimension is part of a collection's embedder identity, so it must be known up front.
    if (embedder.dimensions === undefined)
      issues.push({ path: `embedders.${name}.dimensions`, message: 'is required (the vector length this embedder returns)' });
    embedders[name] = Object.freeze({ ...embedder, name, path: embedder.path ? resolve(baseDir, embedder.path) : undefined });
  }

  if (env.GROUNDWORK_METRICS_TOKEN !== undefined && env.GROUNDWORK_METRICS_TOKEN.length < 16)
    issues.push({ path: 'GROUNDWORK_METRICS_TOKEN', message: 'must be at least 16 characters (the token guarding /metrics)' });
  fileValues.evals.judge_route?.forEach((model, index) => {
    if (!models[model])
      issues.push({ path: `evals.judge_route[${index}]`, message: `unknown model "${model}" (configured: ${Object.keys(models).join(', ')})` });
  });
  fileValues.ask.route.forEach((model, index) => {
    if (!models[model]) issues.push({ path: `ask.route[${index}]`, message: `unknown model "${model}" (configured: ${Object.keys(models).join(', ')})` });
  });

  fileValues.jobs.webhook_allow.forEach((entry, index) => {
    if (!isWebhookAllowEntry(entry)) {
      issues.push({
        path: `jobs.webhook_allow[${index}]`,
        message: `"${entry}" is neither a CIDR block ("10.0.0.0/8", "::1/128"), an IP address nor an exact host name`,
      });
    }
  });

  if (issues.length > 0) {
    throw new GroundworkError(
      'CONFIG_INVALID',
      `configuration has ${issues.length} problem(s):\n${issues.map((i) => `  - ${i.path}: ${i.message}`).join('\n')}`,
      {
        details: { issues },
      },
    );
  }

  const config: Config = {
    dataDir: resolveDataDir(cwd, options.overrides?.dataDir ?? env.GROUNDWORK_DATA_DIR ?? fileValues.data_dir ?? '.groundwork'),
    databaseUrl,
    tasksDir: resolve(options.overrides?.tasksDir ? cwd : baseDir, options.overrides?.tasksDir ?? env.GROUNDWORK_TASKS_DIR ?? fileValues.tasks_dir ?? 'tasks'),
    host: options.overrides?.host ?? env.GROUNDWORK_HOST ?? fileValues.host ?? '127.0.0.1',
    port: options.overrides?.port ?? port ?? fileValues.port ?? 8080,
    bodyLimitBytes: bodyLimit ?? fileValues.body_limit_bytes ?? DEFAULT_BODY_LIMIT,
    uploadLimitBytes: uploadLimit ?? fileValues.upload_limit_bytes ?? 20 * 1024 * 1024,
    uploadMaxFiles: uploadMaxFiles ?? fileValues.upload_max_files ?? 100,
    logLevel: options.overrides?.logLevel ?? (logLevel as Config['logLevel'] | undefined) ?? fileValues.log_level ?? 'info',
    shutdownTimeoutMs: shutdownTimeout ?? fileValues.shutdown_timeout_ms ?? 30_000,
    providers: Object.freeze(providers),
    models: Object.freeze(models),
    routes: Object.freeze(routes),
    embedders: Object.freeze(embedders),
    resilience: Object.freeze({ ...fileValues.resilience }),
    ask: Object.freeze({ ...fileValues.ask, route: Object.freeze([...fileValues.ask.route]) as string[] }),
    evals: Object.freeze({
      ...fileValues.evals,
      ...(fileValues.evals.judge_route ? { judge_route: Object.freeze([...fileValues.evals.judge_route]) as string[] } : {}),
    }),
    limits: Object.freeze({ ...fileValues.limits, redis_url: env.GROUNDWORK_REDIS_URL ?? fileValues.limits.redis_url }),
    metrics: Object.freeze({ ...fileValues.metrics, token: env.GROUNDWORK_METRICS_TOKEN ?? fileValues.metrics.token }),
    jobs: Object.freeze({
      ...fileValues.jobs,
      webhook_allow: Object.freeze([...fileValues.jobs.webhook_allow]) as string[],
      in_process: fileValues.jobs.in_process ?? databaseUrl === undefined,
    }),
    auth: Object.freeze({ ...fileValues.auth }),
    http: Object.freeze({ ...fileValues.http }),
    configFile,
  };
  return Object.freeze(config);
}

/**
 * Why a model name cannot be used in a route, or undefined when it can. Shared by config
 * routes and task definitions (which may list models inline).
 */
export function checkModelUsable(
  model: string,
  models: Readonly<Record<string, Readonly<ModelConfig>>>,
  providers: Readonly<Record<string, Readonly<ProviderConfig>>>,
): string | undefined {
  // Own names only: a model named "constructor" or "__proto__" in a task must not find Object's prototype.
  const entry = Object.hasOwn(models, model) ? models[model] : undefined;
  if (!entry) return `unknown model "${model}" (configured: ${Object.keys(models).join(', ') || 'none'})`;
  const provider = Object.hasOwn(providers, entry.provider) ? providers[entry.provider] : undefined;
  if (!provider) return `model "${model}" uses unknown provider "${entry.provider}"`;
  if (provider.api_key_env && !provider.api_key) {
    return `provider "${provider.name}" of model "${model}" has no API key: environment variable ${provider.api_key_env} is not set`;
  }
  if (provider.type === 'anthropic' && !provider.api_key) {
    return `provider "${provider.name}" of model "${model}" needs api_key_env (Anthropic requires an API key)`;
  }
  return undefined;
}

/**
 * A config safe to print: the password of every URL in it (database_url, limits.redis_url,
 * providers' base_url…), API keys and secret-looking headers replaced by a marker.
 */
export function redactConfig(config: Config): unknown {
  return redactSecrets(config);
}

/** `memory://` (an in-memory embedded store, for tests and throwaway runs) is kept as is. */
function resolveDataDir(cwd: string, dir: string): string {
  return dir.startsWith('memory://') ? dir : resolve(cwd, dir);
}

// An exact DNS name (labels of letters, digits, hyphens, underscores; no wildcards), trailing dot allowed.
const HOST_NAME = /^(?=.{1,253}\.?$)[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*\.?$/i;

/** A jobs.webhook_allow entry: a CIDR block or an address (as net.BlockList takes them), or a host name. */
function isWebhookAllowEntry(entry: string): boolean {
  const [address, prefix, rest] = entry.split('/');
  const family = isIP(address);
  if (family === 0) return prefix === undefined && HOST_NAME.test(entry) && !/^[\d.]+$/.test(entry);
  if (rest !== undefined || (prefix !== undefined && !/^\d{1,3}$/.test(prefix))) return false;
  try {
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) new BlockList().addAddress(address, type);
    else new BlockList().addSubnet(address, Number(prefix), type);
    return true;
  } catch {
    return false;
  }
}

function intFromEnv(env: Record<string, string | undefined>, name: string, issues: Issue[], range: { min: number; max?: number }): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < range.min || (range.max !== undefined && value > range.max)) {
    issues.push({
      path: name,
      message: `must be an integer${range.max !== undefined ? ` between ${range.min} and ${range.max}` : ` ≥ ${range.min}`}, got "${raw}"`,
    });
    return undefined;
  }
  return value;
}
