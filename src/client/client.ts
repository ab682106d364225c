/**
 * Typed TypeScript client for the Groundwork HTTP API. Errors come back as
 * GroundworkApiError carrying the server's stable code, details and run id.
 * Imports nothing from the server side: it is safe to ship to users.
 */

export interface TaskSummary {
  name: string;
  description: string;
  active_version: string;
  version_count: number;
  updated_at: string;
}

export interface TaskDetail {
  name: string;
  version: string;
  created_at: string;
  definition: Record<string, unknown>;
}

export interface TaskVersion {
  version: string;
  created_at: string;
  active: boolean;
}

export interface PushResult {
  name: string;
  version: string;
  created: boolean;
  active: boolean;
}

export interface RunResult<Output = unknown> {
  output: Output;
  run_id: string;
  task_version: string;
  model: string;
  attempts: number;
  usage: { input_tokens: number; output_tokens: number; cost_usd: number };
  degraded: boolean;
  latency_ms: number;
}

export interface RunAttempt {
  seq: number;
  tier: number;
  model: string;
  provider: string;
  outcome: 'ok' | 'invalid_output' | 'timeout' | 'rate_limited' | 'provider_error' | 'circuit_open' | 'ungrounded';
  input_tokens: number;
  output_tokens: number;
  tokens_estimated: boolean;
  cost_usd: number;
  latency_ms: number;
  error?: string;
  validation_errors?: string[];
  escalation_reason?: string;
  reask?: boolean;
  repaired?: boolean;
}

export interface RunSummary {
  id: string;
  task: string;
  task_version: string;
  status: 'ok' | 'error';
  model?: string;
  degraded: boolean;
  usage: { input_tokens: number; output_tokens: number; cost_usd: number };
  latency_ms: number;
  created_at: string;
  error?: { code: string; message: string; details: Record<string, unknown> };
  attempt_count: number;
}

export type RunDetail = Omit<RunSummary, 'attempt_count'> & { input: unknown; output?: unknown; attempts: RunAttempt[] };

export interface RunListQuery {
  task?: string;
  status?: 'ok' | 'error';
  limit?: number;
  before?: string;
}

export interface CollectionInfo {
  name: string;
  description: string;
  embedder: string;
  dimensions: number;
  document_count: number;
  chunk_count: number;
  created_at: string;
}

export interface IngestResult {
  source: string;
  status: 'created' | 'replaced' | 'unchanged' | 'failed';
  document_id?: string;
  chunks: number;
  error?: { code: string; message: string };
}

export interface UploadFile {
  /** Unique name in the collection (e.g. a relative path). */
  source: string;
  bytes: Uint8Array;
  mime?: string;
}

export interface SearchOptions {
  k?: number;
  mode?: 'hybrid' | 'lexical' | 'vector';
  filters?: Record<string, string | number | boolean | Array<string | number | boolean>>;
  mmr_lambda?: number;
  min_score?: number;
}

export interface SearchHitInfo {
  chunk_id: string;
  document_id: string;
  source: string;
  title: string;
  text: string;
  heading_path: string[];
  page?: number;
  position: number;
  metadata: Record<string, unknown>;
  score: number;
  lexical_rank?: number;
  vector_rank?: number;
}

export interface AskResult {
  answer: string;
  citations: Array<{ chunk_id: string; document: string; quote: string }>;
  answerable: boolean;
  confidence: number;
  run_id: string;
  task_version: string;
  model: string;
  attempts: number;
  usage: { input_tokens: number; output_tokens: number; cost_usd: number };
  degraded: boolean;
  latency_ms: number;
  grounding: Record<string, unknown>;
}

/** The operations shared by the HTTP client and the CLI's in-process implementation. */
export interface GroundworkApi {
  listTasks(): Promise<TaskSummary[]>;
  getTask(name: string): Promise<TaskDetail>;
  listVersions(name: string): Promise<TaskVersion[]>;
  pushTask(definition: unknown): Promise<PushResult>;
  runTask<Output = unknown>(name: string, input: Record<string, unknown>, options?: { version?: string }): Promise<RunResult<Output>>;
  listRuns(query?: RunListQuery): Promise<RunSummary[]>;
  getRun(id: string): Promise<RunDetail>;
  createCollection(params: { name: string; description?: string; embedder?: string }): Promise<CollectionInfo>;
  listCollections(): Promise<CollectionInfo[]>;
  deleteCollection(name: string): Promise<void>;
  ingestFiles(collection: string, files: UploadFile[], metadata?: Record<string, unknown>): Promise<IngestResult[]>;
  search(collection: string, query: string, options?: SearchOptions): Promise<SearchHitInfo[]>;
  ask(question: string, collection: string, options?: { k?: number; filters?: SearchOptions['filters'] }): Promise<AskResult>;
}

export class GroundworkApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    readonly runId?: string,
  ) {
    super(message);
    this.name = 'GroundworkApiError';
  }
}

export interface ClientOptions {
  /** e.g. http://127.0.0.1:8080 */
  baseUrl: string;
  apiKey?: string;
  fetch?: typeof fetch;
  timeoutMs?: number;
}

export function createClient(options: ClientOptions): GroundworkApi {
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;

  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const multipart = body instanceof FormData;
    if (body !== undefined && !multipart) headers['content-type'] = 'application/json';
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
    const response = await doFetch(`${base}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : multipart ? body : JSON.stringify(body),
      signal: options.timeoutMs ? AbortSignal.timeout(options.timeoutMs) : undefined,
    });
    const text = await response.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      throw new GroundworkApiError(response.status, 'CLIENT_BAD_RESPONSE', `server answered ${response.status} with a non-JSON body`);
    }
    if (!response.ok) {
      const error = (json as { error?: { code: string; message: string; details?: Record<string, unknown>; run_id?: string } })?.error;
      throw new GroundworkApiError(response.status, error?.code ?? 'CLIENT_HTTP_ERROR', error?.message ?? `HTTP ${response.status}`, error?.details, error?.run_id);
    }
    return json as T;
  }

  const enc = encodeURIComponent;
  return {
    listTasks: async () => (await call<{ tasks: TaskSummary[] }>('GET', '/v1/tasks')).tasks,
    getTask: (name) => call('GET', `/v1/tasks/${enc(name)}`),
    listVersions: async (name) => (await call<{ versions: TaskVersion[] }>('GET', `/v1/tasks/${enc(name)}/versions`)).versions,
    pushTask: (definition) => call('POST', '/v1/tasks', definition),
    runTask: (name, input, runOptions) => call('POST', `/v1/tasks/${enc(name)}/run`, { input, ...(runOptions?.version ? { version: runOptions.version } : {}) }),
    async listRuns(query = {}) {
      const params = new URLSearchParams();
      for (const [key, value] of Object.entries(query)) if (value !== undefined) params.set(key, String(value));
      const qs = params.toString();
      return (await call<{ runs: RunSummary[] }>('GET', `/v1/runs${qs ? `?${qs}` : ''}`)).runs;
    },
    getRun: (id) => call('GET', `/v1/runs/${enc(id)}`),
    createCollection: (params) => call('POST', '/v1/collections', params),
    listCollections: async () => (await call<{ collections: CollectionInfo[] }>('GET', '/v1/collections')).collections,
    deleteCollection: async (name) => {
      await call('DELETE', `/v1/collections/${enc(name)}`);
    },
    async ingestFiles(collection, files, metadata) {
      const form = new FormData();
      if (metadata) form.append('metadata', JSON.stringify(metadata));
      for (const file of files) form.append('file', new Blob([file.bytes as BlobPart], { type: file.mime ?? 'application/octet-stream' }), file.source);
      return (await call<{ results: IngestResult[] }>('POST', `/v1/collections/${enc(collection)}/documents`, form)).results;
    },
    ask: (question, collection, askOptions = {}) => call('POST', '/v1/ask', { question, collection, ...askOptions }),
    search: async (collection, query, searchOptions = {}) =>
      (await call<{ hits: SearchHitInfo[] }>('POST', `/v1/collections/${enc(collection)}/search`, { query, ...searchOptions })).hits,
  };
}
