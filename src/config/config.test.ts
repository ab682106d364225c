import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GroundworkError } from '../kernel/errors.js';
import { checkModelUsable, loadConfig, redactConfig } from './config.js';

function dirWith(yaml?: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
  if (yaml !== undefined) writeFileSync(join(dir, 'groundwork.yaml'), yaml);
  return dir;
}

function problems(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(GroundworkError);
    expect((error as GroundworkError).code).toBe('CONFIG_INVALID');
    return (error as GroundworkError).details.issues as Array<{ path: string; message: string }>;
  }
  throw new Error('expected CONFIG_INVALID');
}

describe('loadConfig', () => {
  it('starts with no file and no env: embedded store in ./.groundwork, port 8080', () => {
    const cwd = dirWith();
    const config = loadConfig({ env: {}, cwd });
    expect(config.dataDir).toBe(join(cwd, '.groundwork'));
    expect(config.databaseUrl).toBeUndefined();
    expect(config.port).toBe(8080);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('reports every problem at once, naming each variable', () => {
    const cwd = dirWith();
    const issues = problems(() =>
      loadConfig({
        env: {
          GROUNDWORK_PORT: 'eighty',
          GROUNDWORK_LOG_LEVEL: 'loud',
          DATABASE_URL: 'mysql://x',
          GROUNDWORK_BODY_LIMIT_BYTES: '-1',
          GROUNDWORK_METRICS_TOKEN: 'short',
        },
        cwd,
      }),
    );
    expect(issues.map((i) => i.path).sort()).toEqual([
      'DATABASE_URL',
      'GROUNDWORK_BODY_LIMIT_BYTES',
      'GROUNDWORK_LOG_LEVEL',
      'GROUNDWORK_METRICS_TOKEN',
      'GROUNDWORK_PORT',
    ]);
  });

  it('reads providers, models and routes from groundwork.yaml and resolves API keys from the named variable', () => {
    const cwd = dirWith(`
providers:
  openai: { type: openai-compatible, base_url: https://api.openai.com/v1, api_key_env: OPENAI_API_KEY }
models:
  gpt-4o-mini: { provider: openai, price: { input_per_mtok: 0.15, output_per_mtok: 0.6 } }
routes:
  cheap: [gpt-4o-mini]
`);
    const config = loadConfig({ env: { OPENAI_API_KEY: 'sk-secret-value' }, cwd });
    expect(config.providers.openai.api_key).toBe('sk-secret-value');
    expect(config.routes.cheap).toEqual(['gpt-4o-mini']);
    expect(checkModelUsable('gpt-4o-mini', config.models, config.providers)).toBeUndefined();
    expect(JSON.stringify(redactConfig(config))).not.toContain('sk-secret-value');
  });

  it('names unknown providers, unknown route models, bad keys and missing base URLs in the file', () => {
    const cwd = dirWith(`
providers:
  vllm: { type: openai-compatible }
models:
  a: { provider: nowhere }
routes:
  r: [a, ghost]
colour: blue
`);
    const issues = problems(() => loadConfig({ env: {}, cwd }));
    const text = issues.map((i) => `${i.path}: ${i.message}`).join('\n');
    expect(text).toMatch(/colour/);
    // The unknown top-level key fails the whole file shape; fix it and the rest is reported.
    const cwd2 = dirWith(`
providers:
  vllm: { type: openai-compatible }
models:
  a: { provider: nowhere }
routes:
  r: [a, ghost]
`);
    const paths = problems(() => loadConfig({ env: {}, cwd: cwd2 })).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['providers.vllm.base_url', 'models.a.provider', 'routes.r[1]']));
  });

  it('says which variable holds a missing API key, without failing start-up for unused providers', () => {
    const cwd = dirWith(`
providers:
  openai: { type: openai-compatible, base_url: https://api.openai.com/v1, api_key_env: OPENAI_API_KEY }
models:
  gpt-4o: { provider: openai }
routes:
  smart: [gpt-4o]
`);
    const config = loadConfig({ env: {}, cwd });
    expect(checkModelUsable('gpt-4o', config.models, config.providers)).toMatch(/OPENAI_API_KEY is not set/);
  });

  it('checks jobs.webhook_allow entries: CIDR blocks, addresses and host names pass, anything else is named', () => {
    const good = loadConfig({
      env: {},
      cwd: dirWith(
        'jobs:\n  webhook_allow: ["10.0.0.0/8", "127.0.0.1/32", "::1/128", "fd00::/8", "192.168.1.20", "hooks.internal", "Receiver.Corp.Example."]\n',
      ),
    });
    expect(good.jobs.webhook_allow).toHaveLength(7);
    const cwd = dirWith(
      'jobs:\n  webhook_allow: ["10.0.0.0/8", "10.0.0.0/33", "10.0.0/8", "::1/129", "10.0.0.0/8/1", "*.internal", "http://hooks.internal", "10.0.0.0/x"]\n',
    );
    const issues = problems(() => loadConfig({ env: {}, cwd }));
    expect(issues.map((i) => i.path)).toEqual([1, 2, 3, 4, 5, 6, 7].map((i) => `jobs.webhook_allow[${i}]`));
    expect(issues[0].message).toMatch(/CIDR block/);
  });

  it('reports YAML syntax errors with the file name', () => {
    const cwd = dirWith('providers: [unclosed');
    const issues = problems(() => loadConfig({ env: {}, cwd }));
    expect(issues[0].path).toContain('groundwork.yaml');
    expect(issues[0].message).toMatch(/not valid YAML/);
  });

  it('fails when an explicitly named config file does not exist', () => {
    const issues = problems(() => loadConfig({ env: { GROUNDWORK_CONFIG: 'nope.yaml' }, cwd: dirWith() }));
    expect(issues[0].path).toBe('GROUNDWORK_CONFIG');
  });

  it('lets CLI overrides win over env and file', () => {
    const cwd = dirWith('port: 9000\n');
    const config = loadConfig({ env: { GROUNDWORK_PORT: '9100' }, cwd, overrides: { port: 9200 } });
    expect(config.port).toBe(9200);
    expect(loadConfig({ env: { GROUNDWORK_PORT: '9100' }, cwd }).port).toBe(9100);
    expect(loadConfig({ env: {}, cwd }).port).toBe(9000);
  });
});

describe('redactConfig (what `serve --print-config` prints)', () => {
  it('shows no password, key or secret header, wherever in the config it sits', () => {
    const cwd = dirWith(`
providers:
  proxy:
    type: openai-compatible
    base_url: https://gw-user:base-url-pass@llm.internal/v1
    api_key_env: PROXY_KEY
    headers: { x-api-key: header-secret-1, Authorization: "Bearer header-secret-2", api-version: "2024-06-01" }
models:
  m: { provider: proxy }
embedders:
  e: { provider: proxy, dimensions: 8 }
`);
    const config = loadConfig({
      env: {
        GROUNDWORK_REDIS_URL: 'redis://u:s3cret@h:6379',
        DATABASE_URL: 'postgres://app:db-url-pass@db.internal:5432/gw?sslmode=require&password=query-pass',
        PROXY_KEY: 'sk-provider-key-value',
      },
      cwd,
    });
    const printed = JSON.stringify(redactConfig(config));
    for (const secret of ['s3cret', 'db-url-pass', 'query-pass', 'base-url-pass', 'sk-provider-key-value', 'header-secret-1', 'header-secret-2']) {
      expect(printed, secret).not.toContain(secret);
    }
    // Still useful to read: who, where, which variable, which non-secret header.
    const redacted = redactConfig(config) as { databaseUrl: string; limits: { redis_url: string }; providers: Record<string, Record<string, unknown>> };
    expect(redacted.limits.redis_url).toBe('redis://u:***@h:6379');
    expect(redacted.databaseUrl).toBe('postgres://app:***@db.internal:5432/gw?sslmode=require&password=***');
    expect(redacted.providers.proxy).toMatchObject({ base_url: 'https://gw-user:***@llm.internal/v1', api_key_env: 'PROXY_KEY', api_key: '***' });
    expect(redacted.providers.proxy.headers).toEqual({ 'x-api-key': '***', Authorization: '***', 'api-version': '2024-06-01' });
  });

  it('hides the whole authority of a URL the WHATWG parser refuses (multi-host PostgreSQL)', () => {
    const config = loadConfig({ env: { DATABASE_URL: 'postgres://app:multi-host-pass@h1:5432,h2:5433/gw' }, cwd: dirWith() });
    expect((redactConfig(config) as { databaseUrl: string }).databaseUrl).toBe('postgres://***');
  });
});
