import { z } from 'zod';

/** Request/response shapes of the HTTP API (zod → validation and the OpenAPI document). */

export const errorBody = z
  .object({
    error: z.object({
      code: z.string().describe('stable UPPER_SNAKE error code'),
      message: z.string(),
      details: z.record(z.string(), z.unknown()),
      run_id: z.string().optional(),
    }),
  })
  .describe('Typed error');

export const taskName = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'task names are lowercase letters, digits and dashes');
export const version = z.string().regex(/^[0-9a-f]{16}$/, 'a version is the 16-hex-digit content hash');

export const runBody = z
  .object({
    input: z.record(z.string(), z.unknown()).describe('task input; validated against the task input schema'),
    version: version.optional().describe('run this version instead of the active one'),
  })
  .strict();

export const runResponse = z.object({
  output: z.unknown().describe('validated against the task output schema'),
  run_id: z.string(),
  task_version: z.string(),
  model: z.string(),
  attempts: z.number().int().describe('model calls made, retries, re-asks and escalations included'),
  usage: z.object({ input_tokens: z.number().int(), output_tokens: z.number().int(), cost_usd: z.number() }),
  degraded: z.boolean().describe('true when a fallback tier (not the first) answered'),
  latency_ms: z.number(),
  grounding: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('grounded tasks: retrieval scores, chunks used, citations proposed / verified / dropped, abstained, ungrounded'),
});

export const taskSummary = z.object({
  name: z.string(),
  description: z.string(),
  active_version: z.string(),
  version_count: z.number().int(),
  updated_at: z.string(),
});

export const taskDetail = z.object({
  name: z.string(),
  version: z.string(),
  created_at: z.string(),
  definition: z.record(z.string(), z.unknown()),
});

export const taskVersionItem = z.object({ version: z.string(), created_at: z.string(), active: z.boolean() });

export const pushResponse = z.object({
  name: z.string(),
  version: z.string(),
  created: z.boolean(),
  active: z.boolean(),
  candidate: z.boolean().describe('a new version of a gated task: stored, not active until promoted through its gate'),
});

const versionHash = z.string().regex(/^[0-9a-f]{16}$/, 'must be a task version (16 hex digits)');
export const datasetName = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'must be a dataset name (lowercase letters, digits, "_", "." and "-")');

export const release = z.object({
  seq: z.number().int(),
  action: z.enum(['push', 'promote', 'override', 'rollback']),
  from_version: z.string().nullable(),
  to_version: z.string(),
  actor: z.string(),
  reason: z.string().nullable(),
  eval_id: z.string().nullable(),
  evidence: z.unknown().describe('what the release rested on: the eval, its scorecards and gate checks'),
  created_at: z.string(),
});

export const releaseOutcome = z.object({ task: z.string(), active_version: z.string(), changed: z.boolean(), release: release.nullable() });

export const promoteBody = z
  .object({
    version: versionHash,
    override: z.boolean().optional().describe('skip the gate (admin keys only); needs a reason, recorded with the release'),
    reason: z.string().max(2_000).optional(),
  })
  .strict();

export const rollbackBody = z.object({ reason: z.string().max(2_000).optional() }).strict();

export const datasetSummary = z.object({ name: z.string(), version: z.string(), task: z.string(), cases: z.number().int(), created_at: z.string() });

export const datasetUpload = z
  .object({
    name: datasetName,
    jsonl: z.string().optional().describe('the cases as JSON Lines (one case per line)'),
    cases: z.array(z.unknown()).max(100_000).optional().describe('the cases as a JSON array'),
    lenient: z.boolean().optional().describe('store the good cases and report the bad ones instead of refusing the dataset'),
  })
  .strict();

export const caseFromRun = z
  .object({
    run_id: z.string().min(1).max(200),
    expected: z.unknown().optional().describe("the case's expected output (default: the run's output)"),
    id: z.string().min(1).max(200).optional(),
    tags: z.array(z.string().max(100)).max(50).optional(),
  })
  .strict();

export const evalBody = z
  .object({
    dataset: datasetName,
    version: versionHash.optional().describe('default: the active version'),
    baseline: z.string().max(40).optional().describe("'active' (default), 'none', or a version"),
    gate: z.boolean().optional(),
    trials: z.number().int().min(1).max(20).optional(),
    concurrency: z.number().int().min(1).max(64).optional(),
    max_cost_usd: z.number().positive().optional(),
  })
  .strict();

export const evalPlan = z.object({
  task: z.string(),
  version: z.string(),
  baseline_version: z.string().nullable(),
  dataset: z.object({ name: z.string(), version: z.string(), cases: z.number().int() }),
  trials: z.number().int().describe('cases × trials, for each version evaluated'),
  calls: z.number().int().describe('at least one model call per trial; re-asks and fallbacks add more'),
  estimated_usd: z.number().describe("each trial's first call at its worst case (input tokens estimated, the output limit), on the first tier"),
});

export const evalSummary = z.object({
  id: z.string(),
  task: z.string(),
  version: z.string(),
  baseline_version: z.string().nullable(),
  dataset: z.object({ name: z.string(), version: z.string() }),
  status: z.enum(['running', 'done', 'failed']),
  gate_passed: z.boolean().nullable(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  created_by: z.string(),
  created_at: z.string(),
  finished_at: z.string().nullable(),
});

export const evalDetail = evalSummary.extend({ report: z.unknown().describe('scorecard, baseline scorecard, paired comparison, gate checks, trials') });

export const attempt = z.object({
  seq: z.number().int(),
  tier: z.number().int(),
  model: z.string(),
  provider: z.string(),
  outcome: z.enum(['ok', 'invalid_output', 'timeout', 'rate_limited', 'provider_error', 'circuit_open', 'ungrounded']),
  input_tokens: z.number().int(),
  output_tokens: z.number().int(),
  tokens_estimated: z.boolean(),
  cost_usd: z.number(),
  latency_ms: z.number(),
  error: z.string().optional(),
  validation_errors: z.array(z.string()).optional(),
  escalation_reason: z.string().optional(),
  reask: z.boolean().optional(),
  repaired: z.boolean().optional(),
});

const runBase = {
  id: z.string(),
  task: z.string(),
  task_version: z.string(),
  status: z.enum(['ok', 'error']),
  model: z.string().optional(),
  degraded: z.boolean(),
  usage: z.object({ input_tokens: z.number().int(), output_tokens: z.number().int(), cost_usd: z.number() }),
  latency_ms: z.number(),
  created_at: z.string(),
  error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()) }).optional(),
  grounding: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('grounded runs: retrieval scores, citations proposed/verified/dropped, abstained, ungrounded'),
  key_id: z.string().optional().describe('the API key that made the run'),
  eval_id: z.string().optional().describe('the eval this run is a case (or a judge verdict) of'),
};

export const runSummary = z.object({ ...runBase, attempt_count: z.number().int() });
export const runDetail = z.object({ ...runBase, input: z.unknown(), output: z.unknown().optional(), attempts: z.array(attempt) });

export const runListQuery = z
  .object({
    task: taskName.optional(),
    status: z.enum(['ok', 'error']).optional(),
    eval_id: z.string().max(200).optional().describe('only the runs of this eval'),
    limit: z.coerce.number().int().min(1).max(500).default(50),
    before: z.string().max(100).optional().describe('run id: return older runs (pagination)'),
  })
  .strict();

// ---- collections, documents, search

export const collectionName = z.string().regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'collection names are lowercase letters, digits, "-" and "_" (max 63)');

export const createCollectionBody = z
  .object({
    name: collectionName,
    description: z.string().max(2_000).optional(),
    embedder: z.string().min(1).max(200).optional().describe('configured embedder name; default "builtin" (no weights, no network)'),
  })
  .strict();

export const collectionResponse = z.object({
  name: z.string(),
  description: z.string(),
  embedder: z.string().describe('identity of the embedder whose vectors the collection holds'),
  dimensions: z.number().int(),
  document_count: z.number().int(),
  chunk_count: z.number().int(),
  created_at: z.string(),
});

const metadataValue = z.union([z.string().max(1_000), z.number(), z.boolean()]);
export const metadataSchema = z
  .record(z.string().max(100), z.union([metadataValue, z.null(), z.array(metadataValue).max(100)]))
  .refine((m) => Object.keys(m).length <= 50, 'at most 50 metadata keys');
export const filtersSchema = z.record(z.string().max(100), z.union([metadataValue, z.array(metadataValue).min(1).max(100)]));

export const textDocumentsBody = z
  .object({
    documents: z
      .array(
        z
          .object({
            source: z.string().min(1).max(500).describe('unique name in the collection; its extension picks the parser unless format is given'),
            text: z.string().describe('document content'),
            format: z.enum(['text', 'markdown', 'html', 'csv', 'json', 'jsonl']).optional(),
            metadata: metadataSchema.optional(),
          })
          .strict(),
      )
      .min(1)
      .max(1_000),
  })
  .strict();

export const ingestOutcome = z.object({
  source: z.string(),
  status: z.enum(['created', 'replaced', 'unchanged', 'failed']),
  document_id: z.string().optional(),
  chunks: z.number().int(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
});

export const documentResponse = z.object({
  id: z.string(),
  collection: z.string(),
  source: z.string(),
  title: z.string(),
  format: z.string(),
  content_hash: z.string(),
  metadata: z.record(z.string(), z.unknown()),
  status: z.enum(['ready', 'failed']),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  chunk_count: z.number().int(),
  bytes: z.number().int(),
  created_at: z.string(),
  updated_at: z.string(),
});

export const searchBody = z
  .object({
    query: z.string().min(1).max(4_000),
    k: z.number().int().min(1).max(100).default(10),
    mode: z.enum(['hybrid', 'lexical', 'vector']).default('hybrid'),
    filters: filtersSchema.optional(),
    mmr_lambda: z.number().min(0).max(1).optional().describe('maximal marginal relevance: 1 = relevance only, lower = more diverse'),
    min_score: z.number().min(0).optional(),
    embedder: z.string().max(200).optional().describe('must match the collection embedder'),
  })
  .strict();

export const searchHit = z.object({
  chunk_id: z.string(),
  document_id: z.string(),
  source: z.string(),
  title: z.string(),
  text: z.string(),
  heading_path: z.array(z.string()),
  page: z.number().int().optional(),
  position: z.number().int(),
  metadata: z.record(z.string(), z.unknown()),
  score: z.number(),
  lexical_rank: z.number().int().optional(),
  vector_rank: z.number().int().optional(),
});
