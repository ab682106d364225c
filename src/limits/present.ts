import type { QuotaStatus, UsageReport } from './ports.js';

/** The JSON shapes of usage and quotas, shared by the HTTP API and the CLI's --json. */

export interface UsageNumbersJson {
  runs: number;
  errors: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

export interface UsageJson {
  from: string;
  to: string;
  group_by: UsageReport['groupBy'];
  rows: Array<{ group: string } & UsageNumbersJson>;
  totals: UsageNumbersJson;
}

export interface QuotaJson {
  metric: QuotaStatus['metric'];
  period: QuotaStatus['period'];
  limit: number;
  enforcement: QuotaStatus['enforcement'];
  used: number;
  reserved: number;
  period_start: string;
  resets_at: string;
}

export function presentUsage(report: UsageReport): UsageJson {
  const numbers = (row: UsageReport['totals']): UsageNumbersJson => ({
    runs: row.runs,
    errors: row.errors,
    input_tokens: row.inputTokens,
    output_tokens: row.outputTokens,
    cost_usd: row.costUsd,
  });
  return {
    from: report.from.toISOString(),
    to: report.to.toISOString(),
    group_by: report.groupBy,
    rows: report.rows.map((row) => ({ group: row.group, ...numbers(row) })),
    totals: numbers(report.totals),
  };
}

export function presentQuota(status: QuotaStatus): QuotaJson {
  return {
    metric: status.metric,
    period: status.period,
    limit: status.limit,
    enforcement: status.enforcement,
    used: status.used,
    reserved: status.reserved,
    period_start: status.periodStart.toISOString(),
    resets_at: status.resetsAt.toISOString(),
  };
}
