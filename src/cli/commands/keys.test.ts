import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../app/serve.js';
import { loadConfig } from '../../config/config.js';
import { runCli } from '../test-cli.js';

/**
 * `groundwork tenants`, `keys` and `quotas` while `serve` owns the embedded data folder: they
 * go through the server's /operator routes with the operator key it wrote into the folder.
 * The server runs in this process and the commands are run in-process (as usage.test.ts does):
 * the lock still says a server owns the folder, so the commands take the same path as a
 * separate CLI process would.
 */

let dir: string;
let dataDir: string;
let running: RunningServer | undefined;

const cli = (...args: string[]) => runCli(dataDir, ...args);

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

// A fixed free port: the lock file records the configured URL, which the CLI reads.
const serve = async () => startServer(loadConfig({ env: {}, cwd: dir, overrides: { dataDir, host: '127.0.0.1', port: await freePort(), logLevel: 'silent' } }));
const operatorKey = () => readFileSync(join(dataDir, 'operator-key'), 'utf8').trim();
const statusWith = async (key: string, path = '/v1/keys') => (await fetch(`${running!.url}${path}`, { headers: { authorization: `Bearer ${key}` } })).status;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'gw-operator-cli-'));
  dataDir = join(dir, '.groundwork');
  running = await serve();
});
afterAll(async () => {
  await running?.close();
  process.exitCode = 0;
});

describe('operator commands while serve owns the data folder', () => {
  it('serve writes a fresh operator key, readable by the folder owner only', () => {
    const key = operatorKey();
    expect(key).toMatch(/^gwo_[A-Za-z0-9_-]{43}$/);
    expect(statSync(join(dataDir, 'operator-key')).mode & 0o777).toBe(0o600);
    expect(key).not.toBe(running!.localAdmin?.key);
  });

  it('tenants create, keys create and quotas set go through the server', async () => {
    const created = await cli('--json', 'tenants', 'create', 'acme', '--name', 'Acme');
    expect(created).toMatchObject({ code: 0, stderr: '' });
    const { admin_key: adminKey, webhook_secret: secret } = JSON.parse(created.stdout);
    expect(await statusWith(adminKey)).toBe(200);

    const key = await cli('keys', 'create', '--tenant', 'acme', '--role', 'runner', '--name', 'ci');
    expect(key).toMatchObject({ code: 0, stderr: '' });
    const runnerKey = key.stdout.split('\n')[1];
    expect(await statusWith(runnerKey, '/v1/tasks')).toBe(200);
    expect((await cli('keys', 'list', '--tenant', 'acme')).stdout).toMatch(/runner\s+active\s+ci/);

    const quota = await cli('quotas', 'set', 'acme', '--tokens-per-day', '1000');
    expect(quota).toMatchObject({ code: 0, stderr: '' });
    expect(quota.stdout).toMatch(/tokens per day\s+hard\s+used 0 of 1000/);

    expect((await cli('tenants', 'show', 'acme')).stdout).toContain(`webhook signing secret: ${secret}`);
  });

  it("tenants show prints the default tenant's webhook signing secret", async () => {
    const shown = await cli('tenants', 'show', 'default');
    expect(shown.code).toBe(0);
    const { webhookSecret } = await running!.app.auth.getTenant('default');
    expect(shown.stdout).toContain(`webhook signing secret: ${webhookSecret}`);
    expect(shown.stdout).toContain('state: active');
  });

  it('tenants disable, enable and delete (which needs --yes)', async () => {
    const { admin_key: adminKey } = JSON.parse((await cli('--json', 'tenants', 'create', 'globex')).stdout);
    expect((await cli('tenants', 'disable', 'globex')).code).toBe(0);
    expect(await statusWith(adminKey)).toBe(401);
    expect((await cli('tenants', 'list')).stdout).toMatch(/^globex .* disabled$/m);
    expect((await cli('tenants', 'enable', 'globex')).code).toBe(0);
    expect(await statusWith(adminKey)).toBe(200);

    const unconfirmed = await cli('tenants', 'delete', 'globex');
    expect(unconfirmed.code).toBe(1);
    expect(unconfirmed.stderr).toMatch(/--yes/);
    expect(await statusWith(adminKey)).toBe(200);

    const deleted = await cli('tenants', 'delete', 'globex', '--yes');
    expect(deleted).toMatchObject({ code: 0, stderr: '' });
    expect(deleted.stdout).toMatch(/^tenant globex deleted: \d+ rows removed \(.*api_keys 1.*\); its id can never be used again$/);
    expect(await statusWith(adminKey)).toBe(401);
    expect((await cli('tenants', 'create', 'globex')).stderr).toMatch(/TENANT_DELETED/);
  });

  it('a restarted server writes a new operator key; the old one stops working; with no server the commands open the folder', async () => {
    const old = operatorKey();
    await running!.close();
    running = await serve();
    expect(operatorKey()).not.toBe(old);
    expect(await statusWith(old, '/operator/tenants')).toBe(401);
    expect(await statusWith(operatorKey(), '/operator/tenants')).toBe(200);

    await running.close();
    running = undefined;
    const direct = await cli('--json', 'tenants', 'list');
    expect(direct.code).toBe(0);
    expect(JSON.parse(direct.stdout).map((t: { id: string }) => t.id)).toEqual(['acme', 'default']);
  });
});
