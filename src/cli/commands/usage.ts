import { Command, InvalidArgumentError } from 'commander';
import { GroundworkApiError } from '../../client/client.js';
import type { Config } from '../../config/config.js';
import { GroundworkError } from '../../kernel/errors.js';
import type { LimitsService, QuotaJson, QuotaMetric, QuotaPeriod, QuotaSetting, UsageJson } from '../../limits/index.js';
import { parseUsageQuery, USAGE_GROUPS } from '../../limits/usage.js';
import { readDataDirLock } from '../../store/data-dir-lock.js';
import { DEFAULT_TENANT } from '../../store/ports.js';
import { action, configFrom, globalOptions, localApiKey, printJson } from '../context.js';
import type { withOperator as WithOperator } from '../operator.js';

/**
 * `groundwork usage` (a tenant's tokens, cost and runs) and `groundwork quotas` (an
 * installation operator's quota settings). Both work on the database directly, like `keys`,
 * and ask the running server instead when a `serve` process owns the embedded folder: `usage`
 * with an API key, `quotas` through its /operator routes (cli/operator.ts).
 */

/** cli/operator.ts, and the app it opens, load when a quota command runs (not for --help). */
const withOperator: typeof WithOperator = async (config, fn) => (await import('../operator.js')).withOperator(config, fn);

async function withLimits<T>(config: Config, purpose: string, fn: (limits: LimitsService) => Promise<T>): Promise<T> {
  if (!config.databaseUrl) {
    const owner = readDataDirLock(config.dataDir);
    if (owner) {
      throw new GroundworkError(
        'STORE_LOCKED',
        `the data folder ${config.dataDir} is owned by ${owner.role} pid ${owner.pid}${owner.url ? ` at ${owner.url}` : ''}: stop it first to ${purpose}`,
        { details: { owner } },
      );
    }
  }
  const [{ openStore }, { createLimits }] = await Promise.all([import('../../store/index.js'), import('../../limits/index.js')]);
  const store = await openStore({ dataDir: config.dataDir, databaseUrl: config.databaseUrl, lock: { role: 'cli' } });
  const limits = createLimits({ db: store.db, config });
  try {
    return await fn(limits);
  } finally {
    await limits.close();
    await store.close();
  }
}

/** GET /v1/usage on the server that owns the embedded folder, with GROUNDWORK_API_KEY or the folder's admin key. */
async function usageOverHttp(config: Config, url: string, params: URLSearchParams): Promise<UsageJson> {
  const key = localApiKey(config);
  const response = await fetch(`${url.replace(/\/+$/, '')}/v1/usage?${params}`, {
    headers: { accept: 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
  });
  const body = (await response.json().catch(() => undefined)) as { error?: { code: string; message: string; details?: Record<string, unknown> } } | undefined;
  if (!response.ok) {
    throw new GroundworkApiError(
      response.status,
      body?.error?.code ?? 'CLIENT_HTTP_ERROR',
      body?.error?.message ?? `HTTP ${response.status}`,
      body?.error?.details,
    );
  }
  return body as unknown as UsageJson;
}

const usd = (value: number) => `$${value.toFixed(value !== 0 && Math.abs(value) < 0.01 ? 6 : 2)}`;

function printUsage(report: UsageJson): void {
  console.log(`usage from ${report.from} to ${report.to}, by ${report.group_by}`);
  if (report.rows.length === 0) {
    console.log('no runs in this range');
    return;
  }
  const header = [
    report.group_by.padEnd(28),
    'runs'.padStart(7),
    'errors'.padStart(7),
    'input tok'.padStart(12),
    'output tok'.padStart(12),
    'cost'.padStart(12),
  ];
  console.log(header.join('  '));
  const line = (group: string, row: UsageJson['totals']) =>
    [
      group.padEnd(28),
      String(row.runs).padStart(7),
      String(row.errors).padStart(7),
      String(row.input_tokens).padStart(12),
      String(row.output_tokens).padStart(12),
      usd(row.cost_usd).padStart(12),
    ].join('  ');
  for (const row of report.rows) console.log(line(row.group, row));
  console.log(line('total', report.totals));
}

export function usageCommand(): Command {
  return new Command('usage')
    .description('tokens, cost, runs and errors by day, task, model or key (from the recorded runs)')
    .option('--from <date>', 'ISO date (UTC day) or date-time with zone; default 30 days ago')
    .option('--to <date>', 'ISO date (that day included) or date-time; default now')
    .option('--group-by <what>', `one of ${USAGE_GROUPS.join(', ')}`, 'day')
    .option('--tenant <id>', "tenant to report on (direct database access; a running server answers for its key's tenant)", DEFAULT_TENANT)
    .action(
      action(async (options: { from?: string; to?: string; groupBy: string; tenant: string }, command: Command) => {
        const config = await configFrom(command);
        const raw = { from: options.from, to: options.to, group_by: options.groupBy };
        // Bad dates or groupings are reported before anything is opened.
        parseUsageQuery(raw, Date.now());
        const owner = config.databaseUrl ? undefined : readDataDirLock(config.dataDir);
        let report: UsageJson;
        if (owner?.role === 'serve' && owner.url) {
          const params = new URLSearchParams(Object.entries(raw).filter((e): e is [string, string] => e[1] !== undefined));
          report = await usageOverHttp(config, owner.url, params);
        } else {
          const { presentUsage } = await import('../../limits/index.js');
          report = await withLimits(config, 'read usage from it directly', async (limits) =>
            presentUsage(await limits.usage(options.tenant, parseUsageQuery(raw, Date.now()))),
          );
        }
        if (globalOptions(command).json) printJson(report);
        else printUsage(report);
      }),
    );
}

const parseLimit = (value: string): number => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`expected a number ≥ 0, got "${value}"`);
  return n;
};

const QUOTA_FLAGS: ReadonlyArray<{
  flag: string;
  option: 'tokensPerDay' | 'tokensPerMonth' | 'usdPerDay' | 'usdPerMonth';
  metric: QuotaMetric;
  period: QuotaPeriod;
}> = [
  { flag: 'tokens-per-day', option: 'tokensPerDay', metric: 'tokens', period: 'day' },
  { flag: 'tokens-per-month', option: 'tokensPerMonth', metric: 'tokens', period: 'month' },
  { flag: 'usd-per-day', option: 'usdPerDay', metric: 'usd', period: 'day' },
  { flag: 'usd-per-month', option: 'usdPerMonth', metric: 'usd', period: 'month' },
];

function printQuotas(tenantId: string, quotas: QuotaJson[]): void {
  if (quotas.length === 0) {
    console.log(`tenant ${tenantId} has no quotas`);
    return;
  }
  for (const q of quotas) {
    const fmt = (v: number) => (q.metric === 'usd' ? usd(v) : `${v}`);
    console.log(
      `${`${q.metric} per ${q.period}`.padEnd(16)}  ${q.enforcement.padEnd(4)}  used ${fmt(q.used)} of ${fmt(q.limit)}${q.reserved > 0 ? ` (+${fmt(q.reserved)} in flight)` : ''}  resets ${q.resets_at}`,
    );
  }
}

export function quotasCommand(): Command {
  const quotas = new Command('quotas').description("set and show tenants' quotas (tokens and USD per UTC day or month)");

  const set = quotas
    .command('set <tenant>')
    .description('set one or more quotas of a tenant (hard unless --soft)')
    .option('--soft', 'allow requests over the quota, flag them and log an alert once per period (default: hard, reject)');
  for (const q of QUOTA_FLAGS) set.option(`--${q.flag} <n>`, `${q.metric === 'usd' ? 'USD' : 'tokens'} per ${q.period}`, parseLimit);
  set.action(
    action(async (tenantId: string, options: Partial<Record<(typeof QUOTA_FLAGS)[number]['option'], number>> & { soft?: boolean }, command: Command) => {
      const settings: QuotaSetting[] = QUOTA_FLAGS.filter((q) => options[q.option] !== undefined).map((q) => ({
        metric: q.metric,
        period: q.period,
        limit: options[q.option] as number,
        enforcement: options.soft ? 'soft' : 'hard',
      }));
      if (settings.length === 0) throw new InvalidArgumentError(`give at least one of ${QUOTA_FLAGS.map((q) => `--${q.flag}`).join(', ')}`);
      const result = await withOperator(await configFrom(command), async (ops) => {
        for (const setting of settings) await ops.setQuota(tenantId, setting);
        return ops.getQuotas(tenantId);
      });
      if (globalOptions(command).json) printJson({ tenant: tenantId, quotas: result });
      else printQuotas(tenantId, result);
    }),
  );

  const unset = quotas.command('unset <tenant>').description('remove quotas of a tenant');
  for (const q of QUOTA_FLAGS) unset.option(`--${q.flag}`, `remove the ${q.metric} per ${q.period} quota`);
  unset.action(
    action(async (tenantId: string, options: Partial<Record<(typeof QUOTA_FLAGS)[number]['option'], boolean>>, command: Command) => {
      const chosen = QUOTA_FLAGS.filter((q) => options[q.option]);
      if (chosen.length === 0) throw new InvalidArgumentError(`give at least one of ${QUOTA_FLAGS.map((q) => `--${q.flag}`).join(', ')}`);
      const result = await withOperator(await configFrom(command), async (ops) => {
        for (const q of chosen) await ops.removeQuota(tenantId, q.metric, q.period);
        return ops.getQuotas(tenantId);
      });
      if (globalOptions(command).json) printJson({ tenant: tenantId, quotas: result });
      else printQuotas(tenantId, result);
    }),
  );

  quotas
    .command('show <tenant>')
    .description("a tenant's quotas with its usage in their current periods")
    .action(
      action(async (tenantId: string, _options: unknown, command: Command) => {
        const result = await withOperator(await configFrom(command), (ops) => ops.getQuotas(tenantId));
        if (globalOptions(command).json) printJson({ tenant: tenantId, quotas: result });
        else printQuotas(tenantId, result);
      }),
    );
  return quotas;
}
