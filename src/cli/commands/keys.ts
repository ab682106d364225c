import { Command, InvalidArgumentError } from 'commander';
import type { ApiKeyRecord, TenantRecord } from '../../auth/auth-service.js';
import { ROLES, type Role } from '../../auth/principal.js';
import { DEFAULT_TENANT } from '../../store/ports.js';
import { action, configFrom, globalOptions, printJson } from '../context.js';
import type { withOperator as WithOperator } from '../operator.js';

/**
 * `groundwork tenants` and `groundwork keys`: an installation operator's tools. They work on
 * the database directly (like `migrate`), so the first admin key can be made before any key
 * exists, and through the running server's /operator routes while a `serve` process owns the
 * embedded folder (with the operator key it wrote there). A tenant's admins can also manage
 * their own keys over HTTP (/v1/keys).
 */

/** cli/operator.ts, and the app it opens, load when an operator command runs (not for --help). */
const withOperator: typeof WithOperator = async (config, fn) => (await import('../operator.js')).withOperator(config, fn);

const parseRole = (value: string): Role => {
  if (!(ROLES as readonly string[]).includes(value)) throw new InvalidArgumentError(`role must be one of ${ROLES.join(', ')}`);
  return value as Role;
};

// The same bounds as POST /v1/keys: the columns are 32-bit integers.
const positiveIntUpTo =
  (max: number) =>
  (value: string): number => {
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
  const limits = [key.requestsPerMinute ? `${key.requestsPerMinute} req/min` : '', key.tokensPerMinute ? `${key.tokensPerMinute} tok/min` : '']
    .filter(Boolean)
    .join(', ');
  return `${key.id}  ${key.prefix}…  ${key.role.padEnd(9)}  ${state.padEnd(7)}  ${key.name}${limits ? `  (${limits})` : ''}${key.expiresAt ? `  expires ${key.expiresAt.toISOString()}` : ''}`;
}

function tenantJson(tenant: TenantRecord) {
  return {
    id: tenant.id,
    name: tenant.name,
    state: tenant.state,
    created_at: tenant.createdAt.toISOString(),
    ...(tenant.disabledAt ? { disabled_at: tenant.disabledAt.toISOString() } : {}),
    ...(tenant.deletedAt ? { deleted_at: tenant.deletedAt.toISOString() } : {}),
  };
}

function describeState(tenant: TenantRecord): string {
  if (tenant.deletedAt) return `deleted ${tenant.deletedAt.toISOString()}`;
  if (tenant.disabledAt) return `disabled since ${tenant.disabledAt.toISOString()}`;
  return tenant.state;
}

export function tenantsCommand(): Command {
  const tenants = new Command('tenants').description('create, list, show, disable, enable and delete tenants');
  tenants
    .command('create <id>')
    .description('create a tenant and its first admin key (printed once)')
    .option('--name <name>', 'display name')
    .action(
      action(async (id: string, options: { name?: string }, command: Command) => {
        const result = await withOperator(await configFrom(command), (ops) => ops.createTenant(id, options.name));
        if (globalOptions(command).json) {
          printJson({ tenant: result.tenant.id, admin_key: result.key, key_id: result.keyId, webhook_secret: result.webhookSecret });
          return;
        }
        console.log(`tenant ${result.tenant.id} created`);
        console.log(`admin key (shown once, store it now): ${result.key}`);
        console.log(`webhook signing secret: ${result.webhookSecret}`);
      }),
    );
  tenants
    .command('list')
    .description('list tenants (a disabled one says so)')
    .action(
      action(async (_options: unknown, command: Command) => {
        const list = await withOperator(await configFrom(command), (ops) => ops.listTenants());
        if (globalOptions(command).json) printJson(list.map(tenantJson));
        else for (const t of list) console.log(`${t.id}  ${t.name}  ${t.createdAt.toISOString()}${t.state === 'active' ? '' : `  ${t.state}`}`);
      }),
    );
  tenants
    .command('show <id>')
    .description('a tenant, its state and its webhook signing secret')
    .action(
      action(async (id: string, _options: unknown, command: Command) => {
        const { tenant, webhookSecret } = await withOperator(await configFrom(command), (ops) => ops.getTenant(id));
        if (globalOptions(command).json) {
          printJson({ ...tenantJson(tenant), ...(webhookSecret === undefined ? {} : { webhook_secret: webhookSecret }) });
          return;
        }
        console.log(`tenant ${tenant.id}${tenant.name ? ` (${tenant.name})` : ''}`);
        console.log(`state: ${describeState(tenant)}`);
        console.log(`created: ${tenant.createdAt.toISOString()}`);
        if (webhookSecret !== undefined) console.log(`webhook signing secret: ${webhookSecret}`);
      }),
    );
  tenants
    .command('disable <id>')
    .description("stop the tenant's keys (its data is kept): at once on the server that does it, within auth.key_cache_ms on other replicas")
    .action(
      action(async (id: string, _options: unknown, command: Command) => {
        const tenant = await withOperator(await configFrom(command), (ops) => ops.disableTenant(id));
        if (globalOptions(command).json) printJson(tenantJson(tenant));
        else console.log(`tenant ${tenant.id} disabled: its API keys no longer authenticate (\`groundwork tenants enable ${tenant.id}\` undoes it)`);
      }),
    );
  tenants
    .command('enable <id>')
    .description("let a disabled tenant's keys work again")
    .action(
      action(async (id: string, _options: unknown, command: Command) => {
        const tenant = await withOperator(await configFrom(command), (ops) => ops.enableTenant(id));
        if (globalOptions(command).json) printJson(tenantJson(tenant));
        else console.log(`tenant ${tenant.id} enabled: its API keys authenticate again`);
      }),
    );
  tenants
    .command('delete <id>')
    .description('delete a tenant and all its data for ever; its id can never be used again (needs --yes)')
    .option('--yes', 'confirm: remove every task, run, collection, job, key and quota of the tenant')
    .action(
      action(async (id: string, options: { yes?: boolean }, command: Command) => {
        if (!options.yes) {
          throw new InvalidArgumentError(
            `deleting tenant ${id} removes all its data for ever, and its id can never be used again: add --yes to confirm (\`groundwork tenants disable ${id}\` only stops its keys)`,
          );
        }
        const { tenant, removed } = await withOperator(await configFrom(command), (ops) => ops.deleteTenant(id));
        if (globalOptions(command).json) {
          printJson({ tenant: tenantJson(tenant), removed });
          return;
        }
        const parts = Object.entries(removed).map(([table, n]) => `${table} ${n}`);
        const total = Object.values(removed).reduce((sum, n) => sum + n, 0);
        console.log(`tenant ${tenant.id} deleted: ${total} rows removed${parts.length > 0 ? ` (${parts.join(', ')})` : ''}; its id can never be used again`);
      }),
    );
  return tenants;
}

export function keysCommand(): Command {
  const keys = new Command('keys').description("create, list and revoke a tenant's API keys");
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
      action(
        async (
          options: { tenant: string; role: Role; name?: string; expires?: Date; requestsPerMinute?: number; tokensPerMinute?: number },
          command: Command,
        ) => {
          const { key, record } = await withOperator(await configFrom(command), (ops) =>
            ops.createKey(options.tenant, {
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
        },
      ),
    );
  keys
    .command('list')
    .description("list a tenant's keys (prefixes only)")
    .option('--tenant <id>', 'tenant', DEFAULT_TENANT)
    .action(
      action(async (options: { tenant: string }, command: Command) => {
        const list = await withOperator(await configFrom(command), (ops) => ops.listKeys(options.tenant));
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
        const record = await withOperator(await configFrom(command), (ops) => ops.revokeKey(options.tenant, id));
        if (globalOptions(command).json) printJson(record);
        else console.log(`revoked ${record.id} (${record.prefix}…)`);
      }),
    );
  return keys;
}
