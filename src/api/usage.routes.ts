import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { parseUsageQuery, presentQuota, presentUsage, USAGE_GROUPS, USAGE_MAX_DAYS, type LimitsService } from '../limits/index.js';
import { errorBody } from './schemas.js';
import { tenantOf } from './tenant.js';

/** The tenant's usage (from its recorded runs) and its quotas with where it stands. Readable by viewers. */

const usageQuery = z
  .object({
    from: z.string().max(40).optional().describe('ISO 8601 date (2025-01-31, UTC) or date-time with zone; default 30 days ago'),
    to: z.string().max(40).optional().describe('ISO 8601 date (that whole day included) or date-time (exclusive); default now'),
    group_by: z
      .enum(USAGE_GROUPS as [string, ...string[]])
      .default('day')
      .describe('day (UTC), task, model or key'),
  })
  .strict();

const usageNumbers = {
  runs: z.number().int(),
  errors: z.number().int(),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  cost_usd: z.number(),
};

const usageResponse = z.object({
  from: z.string(),
  to: z.string(),
  group_by: z.enum(USAGE_GROUPS as [string, ...string[]]),
  rows: z.array(z.object({ group: z.string().describe("the day, task, model or key id; '(none)' where a run has none"), ...usageNumbers })),
  totals: z.object(usageNumbers),
});

const quota = z.object({
  metric: z.enum(['tokens', 'usd']),
  period: z.enum(['day', 'month']).describe('UTC day or month'),
  limit: z.number(),
  enforcement: z.enum(['hard', 'soft']).describe('hard: requests over it are rejected (QUOTA_EXCEEDED); soft: allowed and flagged'),
  used: z.number(),
  reserved: z.number().describe('held by requests in flight'),
  period_start: z.string(),
  resets_at: z.string(),
});

export function usageRoutes(deps: { limits: Pick<LimitsService, 'usage' | 'quotas'> }): FastifyPluginAsyncZod {
  return async (server) => {
    server.get(
      '/usage',
      {
        config: { role: 'viewer' },
        schema: {
          tags: ['usage'],
          summary: `Tokens, cost, runs and errors of the tenant, by day, task, model or key (at most ${USAGE_MAX_DAYS} days)`,
          querystring: usageQuery,
          response: { 200: usageResponse, 400: errorBody },
        },
      },
      async (request) => {
        const query = parseUsageQuery(request.query, Date.now());
        return presentUsage(await deps.limits.usage(tenantOf(request), query));
      },
    );

    server.get(
      '/quotas',
      {
        config: { role: 'viewer' },
        schema: {
          tags: ['usage'],
          summary: "The tenant's quotas and its usage in their current periods",
          response: { 200: z.object({ quotas: z.array(quota) }) },
        },
      },
      async (request) => ({ quotas: (await deps.limits.quotas.getQuotas(tenantOf(request))).map(presentQuota) }),
    );
  };
}
