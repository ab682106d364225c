import { Command, InvalidArgumentError } from 'commander';
import { join } from 'node:path';
import { ADMIN_KEY_FILE, createAuthService, type ApiKeyRecord, type AuthService } from '../../auth/auth-service.js';
import { ROLES, type Role } from '../../auth/principal.js';
import type { Config } from '../../config/config.js';
import { GroundworkError } from '../../kernel/errors.js';
import { DEFAULT_TENANT, openStore, readDataDirLock } from '../../store/index.js';
import { action, configFrom, globalOptions, printJson } from '../context.js';

/**
 * `groundwork tenants` and `groundwork keys`: bootstrap an installation. They work on the
 * database directly (an operator's tools, like `migrate`), so the first admin key can be
 * made before any key exists. A tenant's admins can also manage keys over HTTP (/v1/keys).
 */

async function withAuth<T>(config: Config, fn: (auth: AuthService) => Promise<T>): Promise<T> {
  if (!config.databaseUrl) {
    const owner = readDataDirLock(config.dataDir);
    if (owner) {
      throw new GroundworkError(
        'STORE_LOCKED',
        `the data folder ${config.dataDir} is owned by ${owner.role} pid ${owner.pid}${owner.url ? ` at ${owner.url}` : ''}: stop it first, or manage keys over HTTP (POST ${owner.url ?? ''}/v1/keys with the admin key in ${join(config.dataDir, ADMIN_KEY_FILE)})`,
        { details: { owner } },
      );
    }
  }
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, lock: { role: 'cli' } });
  try {
    return await fn(createAuthService({ db: store.db, cacheMs: 0 }));
  } finally {
    await store.close();
  }
}

const parseRole = (value: string): Role => {
  if (!(ROLES as readonly string[]).includes(value)) throw new InvalidArgumentError(`role must be one of ${ROLES.join(', ')}`);
  return value as Role;
};

// The same bounds as POST /v1/keys: the columns are 32-bit integers.
const positiveIntUpTo = (max: number) => (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0 || n > max) throw new InvalidArgumentError(`expected an integer from 1 to ${max}, got "${value}"`);
  return n;
};

/** "30d", "12h", "90m" from now, or an ISO time. */
export function parseExpiry(value: string, now = Date.now()): Date {
  const relative = /^(\d+)([dhm])$/.exec(value);
  if (relative) return new Date(now + Number(relative[1]) * { d: 86_400_000, h: 3_600_000, m: 60_000 }[relative[2] as 'd' | 'h' | 'm']);
  const at = new Date(value);
  if (Number.isNaN(at.getTime())) throw new InvalidArgumentError(`--expires takes 30d, 12h, 90m or an ISO time, got "${value}"`);
  return at;
}

function describeKey(key: ApiKeyRecord): string {
  const state = key.revokedAt ? 'revoked' : key.expiresAt && key.expiresAt.getTime() <= Date.now() ? 'expired' : 'active';
  const limits = [key.requestsPerMinute ? `${key.requestsPerMinute} req/min` : '', key.tokensPerMinute ? `${key.tokensPerMinute} tok/min` : ''].filter(Boolean).join(', ');
  return `${key.id}  ${key.prefix}…  ${key.role.padEnd(9)}  ${state.padEnd(7)}  ${key.name}${limits ? `  (${limits})` : ''}${key.expiresAt ? `  expires ${key.expiresAt.toISOString()}` : ''}`;
}

export function tenantsCommand(): Command {
  const tenants = new Command('tenants').description('create and list tenants (works on the database directly)');
  tenants
    .command('create <id>')
    .description('create a tenant and its first admin key (printed once)')
    .option('--name <name>', 'display name')
    .action(
      action(async (id: string, options: { name?: string }, command: Command) => {
        const config = configFrom(command);
        const result = await withAuth(config, async (auth) => {
          const { tenant, webhookSecret } = await auth.createTenant({ id, name: options.name });
          const { key, record } = await auth.createKey(tenant.id, { role: 'admin', name: 'first admin' });
          return { tenant, webhookSecret, key, record };
        });
        if (globalOptions(command).json) {
          printJson({ tenant: result.tenant.id, admin_key: result.key, key_id: result.record.id, webhook_secret: result.webhookSecret });
          return;
        }
        console.log(`tenant ${result.tenant.id} created`);
        console.log(`admin key (shown once, store it now): ${result.key}`);
        console.log(`webhook signing secret: ${result.webhookSecret}`);
      }),
    );
  tenants
    .command('list')
    .description('list tenants')
    .action(
      action(async (_options: unknown, command: Command) => {
        const list = await withAuth(configFrom(command), (auth) => auth.listTenants());
        if (globalOptions(command).json) printJson(list.map((t) => ({ id: t.id, name: t.name, created_at: t.createdAt.toISOString() })));
        else for (const t of list) console.log(`${t.id}  ${t.name}  ${t.createdAt.toISOString()}`);
      }),
    );
  return tenants;
}

export function keysCommand(): Command {
  const keys = new Command('keys').description("create, list and revoke a tenant's API keys (works on the database directly)");
  keys
    .command('create')
    .description('create an API key (printed once; only its hash is stored)')
    .option('--tenant <id>', 'tenant', DEFAULT_TENANT)
    .requiredOption('--role <role>', `one of ${ROLES.join(', ')}`, parseRole)
    .option('--name <name>', 'what the key is for')
    .option('--expires <when>', '30d, 12h, 90m or an ISO time', (v) => parseExpiry(v))
    .option('--requests-per-minute <n>', 'rate limit for this key', positiveIntUpTo(1_000_000))
    .option('--tokens-per-minute <n>', 'token rate limit for this key', positiveIntUpTo(1_000_000_000))
    .action(
      action(async (options: { tenant: string; role: Role; name?: string; expires?: Date; requestsPerMinute?: number; tokensPerMinute?: number }, command: Command) => {
        const { key, record } = await withAuth(configFrom(command), (auth) =>
          auth.createKey(options.tenant, {
            role: options.role,
            name: options.name,
            expiresAt: options.expires,
            requestsPerMinute: options.requestsPerMinute,
            tokensPerMinute: options.tokensPerMinute,
          }),
        );
        if (globalOptions(command).json) printJson({ key, id: record.id, prefix: record.prefix, tenant: record.tenantId, role: record.role });
        else {
          console.log(`key ${record.id} (${record.role}) for tenant ${record.tenantId} — shown once, store it now:`);
          console.log(key);
        }
      }),
    );
  keys
    .command('list')
    .description("list a tenant's keys (prefixes only)")
    .option('--tenant <id>', 'tenant', DEFAULT_TENANT)
    .action(
      action(async (options: { tenant: string }, command: Command) => {
        const list = await withAuth(configFrom(command), (auth) => auth.listKeys(options.tenant));
        if (globalOptions(command).json) printJson(list);
        else for (const key of list) console.log(describeKey(key));
      }),
    );
  keys
    .command('revoke <id>')
    .description('revoke a key (takes effect at once here, within auth.key_cache_ms on other replicas)')
    .option('--tenant <id>', 'tenant', DEFAULT_TENANT)
    .action(
      action(async (id: string, options: { tenant: string }, command: Command) => {
        const record = await withAuth(configFrom(command), (auth) => auth.revokeKey(options.tenant, id));
        if (globalOptions(command).json) printJson(record);
        else console.log(`revoked ${record.id} (${record.prefix}…)`);
      }),
    );
  return keys;
}
