import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { isGroundworkError } from '../kernel/errors.js';
import { JOB_KINDS, JOB_STATUSES, type EvalRequest, type Job, type JobService } from '../jobs/index.js';
import type { EvalPlan } from '../app/eval-service.js';
import { presentJob } from './job-presenter.js';
import { presentEvalPlan } from './presenters.js';
import { principalOf } from './auth.js';
import { collectionName, errorBody, evalBody, evalPlan, taskName, textDocumentsBody, version } from './schemas.js';

/**
 * Durable jobs over HTTP: create (task runs, ingestion) → 202 with the queued job, read,
 * list, cancel, and follow as server-sent events. Every query is scoped by the caller's
 * tenant: another tenant's job id is a 404, exactly like an unknown one.
 */

const jobOptions = {
  webhook_url: z
    .string()
    .max(2_048)
    .optional()
    .describe('http(s) URL POSTed `{ job }` when the job finishes, signed with the tenant webhook secret (header Groundwork-Signature)'),
  max_attempts: z.number().int().min(1).max(20).optional().describe('tries before the job fails for good (default: server config)'),
  timeout_ms: z.number().int().min(1_000).max(86_400_000).optional().describe('deadline of one try (default: server config)'),
};

const taskJobBody = z
  .object({
    input: z.record(z.string(), z.unknown()).describe('task input; validated against the task input schema now'),
    version: version.optional().describe('run this version instead of the active one (pinned at creation either way)'),
    ...jobOptions,
  })
  .strict();

const ingestJobBody = textDocumentsBody.extend(jobOptions).strict();

const evalJobBody = evalBody
  .extend({
    promote: z.boolean().optional().describe('promote the version when its gate passes (needs `gate`)'),
    dry_run: z.boolean().optional().describe('answer 200 with the plan (trials, calls, estimated cost): no model called, nothing queued'),
    ...jobOptions,
  })
  .strict();

const jobJson = z
  .object({
    id: z.string(),
    kind: z.enum(JOB_KINDS as [Job['kind'], ...Job['kind'][]]),
    status: z.enum(JOB_STATUSES as [Job['status'], ...Job['status'][]]),
    task: z.string().optional(),
    task_version: z.string().optional(),
    collection: z.string().optional(),
    documents: z.number().int().optional().describe('documents in an ingestion job'),
    dataset: z.string().optional().describe('the dataset of an eval job'),
    eval_id: z.string().optional().describe('the record of an eval job: GET /v1/evals/{id}'),
    progress: z.object({ done: z.number().int(), total: z.number().int() }).nullable(),
    result: z
      .unknown()
      .optional()
      .describe(
        'a task run: the run result (as POST /v1/tasks/{name}/run answers); ingestion: { results: [per-document outcome] }; an eval: its id, exit code, gate verdict and scorecard',
      ),
    error: z
      .object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()) })
      .optional()
      .describe('failed: why; queued again after a failed try: that try\u2019s error'),
    attempts: z.number().int(),
    max_attempts: z.number().int(),
    timeout_ms: z.number().int(),
    webhook_url: z.string().optional(),
    webhook: z
      .object({
        status: z.enum(['pending', 'delivered', 'failed']),
        attempts: z.number().int(),
        last_status: z.number().int().optional(),
        last_error: z.string().optional(),
        delivered_at: z.string().optional(),
      })
      .optional(),
    run_id: z.string().optional(),
    created_at: z.string(),
    updated_at: z.string(),
    started_at: z.string().optional(),
    finished_at: z.string().optional(),
  })
  .describe('Job');

const jobResponse = z.object({ job: jobJson });
const jobParams = z.object({ id: z.string().min(1).max(100) }).strict();
const listQuery = z
  .object({
    status: z.enum(JOB_STATUSES as [Job['status'], ...Job['status'][]]).optional(),
    kind: z.enum(JOB_KINDS as [Job['kind'], ...Job['kind'][]]).optional(),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    before: z.string().max(100).optional().describe('job id: return older jobs (pagination)'),
  })
  .strict();

// Comments keep idle event streams open through proxies that close silent connections.
const KEEPALIVE_MS = 15_000;

/** An eval's options as the API takes them (snake_case), as the job service takes them: the route's and the in-process API's one mapping. */
export function toEvalRequest(task: string, body: Omit<z.infer<typeof evalJobBody>, 'dry_run'>): EvalRequest {
  return {
    task,
    version: body.version,
    baseline: body.baseline,
    dataset: body.dataset,
    gate: body.gate,
    trials: body.trials,
    concurrency: body.concurrency,
    maxCostUsd: body.max_cost_usd,
    promote: body.promote,
  };
}

/** What the job routes use: the job service, the upload limit, and an eval's dry run. */
export interface JobRoutesDeps {
  jobs: JobService;
  uploadLimitBytes: number;
  planEval(tenantId: string, request: EvalRequest): Promise<EvalPlan>;
}

export function jobRoutes(deps: JobRoutesDeps): FastifyPluginAsyncZod {
  return async (server) => {
    // Open event streams end when the server starts closing, so shutdown need not wait for them.
    const streams = new Set<AbortController>();
    server.addHook('preClose', async () => {
      for (const stream of streams) stream.abort();
    });

    server.post(
      '/tasks/:name/jobs',
      {
        config: { role: 'runner', idempotent: true },
        schema: {
          tags: ['jobs'],
          summary: 'Run a task in the background',
          description:
            'Checks the task and its input now, queues the run and answers 202 with the queued job. Follow it with GET /v1/jobs/{id}, its event stream, or a webhook.',
          params: z.object({ name: taskName }).strict(),
          body: taskJobBody,
          response: { 202: jobResponse, 400: errorBody, 404: errorBody },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const { body } = request;
        const job = await deps.jobs.enqueueTaskRun(principal.tenantId, {
          task: request.params.name,
          version: body.version,
          input: body.input,
          webhookUrl: body.webhook_url,
          maxAttempts: body.max_attempts,
          timeoutMs: body.timeout_ms,
          keyId: principal.keyId,
        });
        return reply.status(202).send({ job: presentJob(job) });
      },
    );

    server.post(
      '/tasks/:name/evals',
      {
        config: { role: 'developer', idempotent: true },
        schema: {
          tags: ['evals'],
          summary: 'Run an eval in the background',
          description:
            "Checks the task version, the baseline, the stored dataset (every input against the version's input schema) and the gate now, pins the version and the dataset version, and queues the eval: 202 with the job. Each case is a recorded run; the job's eval_id names the eval's record (GET /v1/evals/{id}), which holds the scorecard, the paired comparison with the baseline and the gate's checks. A promotion of the version is refused while the eval runs.",
          params: z.object({ name: taskName }).strict(),
          body: evalJobBody,
          response: { 200: z.object({ plan: evalPlan }), 202: jobResponse, 400: errorBody, 404: errorBody },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const { body } = request;
        const evalRequest = toEvalRequest(request.params.name, body);
        if (body.dry_run) return reply.status(200).send({ plan: presentEvalPlan(await deps.planEval(principal.tenantId, evalRequest)) });
        const job = await deps.jobs.enqueueEval(principal.tenantId, {
          ...evalRequest,
          webhookUrl: body.webhook_url,
          maxAttempts: body.max_attempts,
          timeoutMs: body.timeout_ms,
          keyId: principal.keyId,
        });
        return reply.status(202).send({ job: presentJob(job) });
      },
    );

    server.post(
      '/collections/:collection/jobs',
      {
        config: { role: 'developer', idempotent: true },
        bodyLimit: deps.uploadLimitBytes,
        schema: {
          tags: ['jobs'],
          summary: 'Ingest text documents in the background',
          description:
            'The JSON body of POST /v1/collections/{collection}/documents plus job options. The result holds one outcome per document; progress counts documents.',
          params: z.object({ collection: collectionName }).strict(),
          body: ingestJobBody,
          response: { 202: jobResponse, 400: errorBody, 404: errorBody, 413: errorBody },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const { body } = request;
        const job = await deps.jobs.enqueueIngest(principal.tenantId, {
          collection: request.params.collection,
          documents: body.documents,
          webhookUrl: body.webhook_url,
          maxAttempts: body.max_attempts,
          timeoutMs: body.timeout_ms,
          keyId: principal.keyId,
        });
        return reply.status(202).send({ job: presentJob(job) });
      },
    );

    server.get(
      '/jobs',
      {
        config: { role: 'viewer' },
        schema: {
          tags: ['jobs'],
          summary: 'Jobs, newest first',
          querystring: listQuery,
          response: { 200: z.object({ jobs: z.array(jobJson), next_before: z.string().optional() }) },
        },
      },
      async (request) => {
        const jobs = await deps.jobs.list(principalOf(request).tenantId, request.query);
        const last = jobs.at(-1);
        return { jobs: jobs.map(presentJob), next_before: jobs.length === request.query.limit && last ? last.id : undefined };
      },
    );

    server.get(
      '/jobs/:id',
      {
        config: { role: 'viewer' },
        schema: {
          tags: ['jobs'],
          summary: 'One job: status, progress, result or typed error, attempts',
          params: jobParams,
          response: { 200: jobResponse, 404: errorBody },
        },
      },
      async (request) => ({ job: presentJob(await deps.jobs.get(principalOf(request).tenantId, request.params.id)) }),
    );

    server.delete(
      '/jobs/:id',
      {
        config: { role: 'runner' },
        schema: {
          tags: ['jobs'],
          summary: 'Cancel a job',
          description: 'A queued job is never run; a running one is stopped within about a second. A finished job answers 409 JOB_ALREADY_FINISHED.',
          params: jobParams,
          response: { 200: jobResponse, 404: errorBody, 409: errorBody },
        },
      },
      async (request) => ({ job: presentJob(await deps.jobs.cancel(principalOf(request).tenantId, request.params.id)) }),
    );

    server.get(
      '/jobs/:id/events',
      {
        config: { role: 'viewer' },
        schema: {
          tags: ['jobs'],
          summary: 'Follow a job as server-sent events',
          description:
            'text/event-stream: the job now, then one event per status change (`event: status`) or progress change (`event: progress`), each `data: { job }` with `id:` its revision; the stream ends after a finished state. Read from the database, so any replica can serve it.',
          params: jobParams,
          response: { 200: z.string().describe('text/event-stream'), 404: errorBody },
        },
      },
      async (request, reply) => {
        const tenantId = principalOf(request).tenantId;
        const first = await deps.jobs.get(tenantId, request.params.id); // 404 before the stream starts
        const closed = new AbortController();
        streams.add(closed);
        reply.raw.once('close', () => closed.abort());
        reply.hijack();
        reply.raw.writeHead(200, {
          ...(reply.getHeaders() as Record<string, string>),
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache, no-transform',
          'x-accel-buffering': 'no',
        });
        const keepalive = setInterval(() => reply.raw.write(': keep-alive\n\n'), KEEPALIVE_MS);
        let status: Job['status'] | undefined;
        try {
          for await (const job of deps.jobs.watch(tenantId, first.id, closed.signal)) {
            const event = job.status === status ? 'progress' : 'status';
            status = job.status;
            reply.raw.write(`id: ${job.revision}\nevent: ${event}\ndata: ${JSON.stringify({ job: presentJob(job) })}\n\n`);
          }
        } catch (error) {
          const body = isGroundworkError(error) ? error.toBody() : { error: { code: 'INTERNAL', message: 'the event stream failed', details: {} } };
          if (!isGroundworkError(error)) request.log.error({ err: error }, 'job event stream failed');
          if (!closed.signal.aborted) reply.raw.write(`event: error\ndata: ${JSON.stringify(body)}\n\n`);
        } finally {
          clearInterval(keepalive);
          streams.delete(closed);
          reply.raw.end();
        }
      },
    );
  };
}
