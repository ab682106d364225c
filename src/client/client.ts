/**
 * Typed TypeScript client for the Groundwork HTTP API. Errors come back as
 * GroundworkApiError carrying the server's stable code, details and run id.
 * Imports nothing from the server side: it is safe to ship to users.
 *
 * Every request and response type here is derived from api-types.ts, which is generated from
 * the server's own OpenAPI document (`npm run gen:client`; a test fails while it is stale), and
 * every call names its route as the document spells it, so the client cannot drift from the
 * server: a changed or removed route, field or enum fails to compile here.
 */
import type { paths } from './api-types.js';

// ---- the document's operations, by route and method

type Route = keyof paths;
type Method = 'get' | 'post' | 'delete';
/** `method route` as the document describes it; never when the server does not serve it. */
type Operation<R extends Route, M extends Method> = Exclude<paths[R][M], undefined>;
/** The methods the document serves on `route` (a route without `method` fails to compile). */
type MethodOf<R extends Route> = { [M in Method]: [Operation<R, M>] extends [never] ? never : M }[Method];
/** A response's JSON body; undefined for one without a body (204). */
type JsonBody<Response> = Response extends { content: { 'application/json': infer Body } } ? Body : undefined;
/** What the operation answers when it succeeds (200, 201 or 204). */
type Answer<Op> = Op extends { responses: infer Responses } ? JsonBody<Responses[(200 | 201 | 204) & keyof Responses]> : never;
/** The operation's JSON request body. */
type RequestBody<Op> = Op extends { requestBody: { content: { 'application/json': infer Body } } } ? Body : never;
type PathParams<Op> = Op extends { parameters: { path: infer Params } } ? Params : never;
type QueryParams<Op> = Op extends { parameters: { query?: infer Query } } ? NonNullable<Query> : never;

/** The success body of `method route`. */
type Ok<R extends Route, M extends MethodOf<R>> = Answer<Operation<R, M>>;
/** The JSON request body of `method route`. */
type Body<R extends Route, M extends MethodOf<R>> = RequestBody<Operation<R, M>>;

// ---- the types the client exposes

export type TaskSummary = Ok<'/v1/tasks', 'get'>['tasks'][number];
export type TaskDetail = Ok<'/v1/tasks/{name}', 'get'>;
export type TaskVersion = Ok<'/v1/tasks/{name}/versions', 'get'>['versions'][number];
export type PushResult = Ok<'/v1/tasks', 'post'>;
/** A run's answer; `Output` is the task's output type (the document can only say `unknown`). */
export type RunResult<Output = unknown> = Omit<Ok<'/v1/tasks/{name}/run', 'post'>, 'output'> & { output: Output };
export type RunSummary = Ok<'/v1/runs', 'get'>['runs'][number];
export type RunDetail = Ok<'/v1/runs/{id}', 'get'>;
export type RunAttempt = RunDetail['attempts'][number];
export type RunListQuery = QueryParams<Operation<'/v1/runs', 'get'>>;
export type CollectionInfo = Ok<'/v1/collections', 'post'>;
export type CreateCollectionParams = Body<'/v1/collections', 'post'>;
export type IngestResult = Ok<'/v1/collections/{collection}/documents', 'post'>['results'][number];
export type SearchOptions = Omit<Body<'/v1/collections/{collection}/search', 'post'>, 'query'>;
export type SearchHitInfo = Ok<'/v1/collections/{collection}/search', 'post'>['hits'][number];
export type AskResult = Ok<'/v1/ask', 'post'>;
export type AskOptions = Omit<Body<'/v1/ask', 'post'>, 'question' | 'collection'>;
export type ReleaseResult = Ok<'/v1/tasks/{name}/promote', 'post'>;
export type ReleaseInfo = Ok<'/v1/tasks/{name}/releases', 'get'>['releases'][number];
export type PromoteOptions = Omit<Body<'/v1/tasks/{name}/promote', 'post'>, 'version'>;
export type DatasetUpload = Body<'/v1/tasks/{name}/datasets', 'post'>;
export type StoredDataset = Ok<'/v1/tasks/{name}/datasets', 'post'>;
export type DatasetInfo = Ok<'/v1/tasks/{name}/datasets', 'get'>['datasets'][number];
export type CaseFromRun = Body<'/v1/datasets/{name}/cases', 'post'>;
export type EvalSummary = Ok<'/v1/tasks/{name}/evals', 'get'>['evals'][number];
export type EvalDetail = Ok<'/v1/evals/{id}', 'get'>;
export type JobInfo = Ok<'/v1/jobs/{id}', 'get'>['job'];
export type EvalJobOptions = Omit<Body<'/v1/tasks/{name}/evals', 'post'>, 'dry_run'>;
export type EvalPlanInfo = Ok<'/v1/tasks/{name}/evals', 'post'>['plan'];
/** The 202 answer of a queued eval. */
type EvalQueued = JsonBody<Operation<'/v1/tasks/{name}/evals', 'post'>['responses'][202]>;
/** The body of every error answer. */
type ErrorBody = JsonBody<Operation<'/v1/tasks/{name}/run', 'post'>['responses'][400]>;

/** A file to upload (multipart/form-data: the document cannot describe the upload itself). */
export interface UploadFile {
  /** Unique name in the collection (e.g. a relative path). */
  source: string;
  bytes: Uint8Array;
  mime?: string;
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
  createCollection(params: CreateCollectionParams): Promise<CollectionInfo>;
  listCollections(): Promise<CollectionInfo[]>;
  deleteCollection(name: string): Promise<void>;
  ingestFiles(collection: string, files: UploadFile[], metadata?: Record<string, unknown>): Promise<IngestResult[]>;
  search(collection: string, query: string, options?: SearchOptions): Promise<SearchHitInfo[]>;
  ask(question: string, collection: string, options?: AskOptions): Promise<AskResult>;
  /** Makes a version active through its gate (or, with `override` and a reason, an admin's decision). */
  promoteTask(name: string, version: string, options?: PromoteOptions): Promise<ReleaseResult>;
  /** Makes the previously active version active again. */
  rollbackTask(name: string, reason?: string): Promise<ReleaseResult>;
  listReleases(name: string): Promise<ReleaseInfo[]>;
  uploadDataset(task: string, upload: DatasetUpload): Promise<StoredDataset>;
  listDatasets(task: string): Promise<DatasetInfo[]>;
  addCaseFromRun(dataset: string, params: CaseFromRun): Promise<StoredDataset>;
  listEvals(task: string): Promise<EvalSummary[]>;
  getEval(id: string): Promise<EvalDetail>;
  /** Queues an eval of a stored dataset as a durable job (its eval_id names its record). */
  startEval(task: string, options: EvalJobOptions): Promise<JobInfo>;
  /** What that eval would run and cost; nothing called, nothing queued. */
  planEval(task: string, options: EvalJobOptions): Promise<EvalPlanInfo>;
  getJob(id: string): Promise<JobInfo>;
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

/** What one call sends: the route's path parameters, its query and its body, each as the document types them. */
type CallInput<Op> = ([PathParams<Op>] extends [never] ? { path?: undefined } : { path: PathParams<Op> }) & {
  query?: QueryParams<Op>;
  body?: RequestBody<Op> | FormData;
};
/** A route with `{param}`s must be given them; one without may be called with nothing else. */
type CallArgs<Op> = [PathParams<Op>] extends [never] ? [input?: CallInput<Op>] : [input: CallInput<Op>];

export function createClient(options: ClientOptions): GroundworkApi {
  const base = options.baseUrl.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;

  /** `method route` with the route's `{param}`s filled in, answering the document's success body. */
  async function call<R extends Route, M extends MethodOf<R>>(method: M, route: R, ...[input]: CallArgs<Operation<R, M>>): Promise<Ok<R, M>> {
    const pathParams = (input?.path ?? {}) as Record<string, string | number>;
    let url = base + route.replace(/\{([^}]+)\}/g, (_, name: string) => encodeURIComponent(String(pathParams[name])));
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries((input?.query ?? {}) as Record<string, unknown>)) if (value !== undefined) query.set(key, String(value));
    if (query.toString()) url += `?${query}`;
    return (await send(method.toUpperCase(), url, input?.body)) as Ok<R, M>;
  }

  async function send(method: string, url: string, body: unknown): Promise<unknown> {
    const headers: Record<string, string> = { accept: 'application/json' };
    const multipart = body instanceof FormData;
    if (body !== undefined && !multipart) headers['content-type'] = 'application/json';
    if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
    const response = await doFetch(url, {
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
      // Partial: a proxy in front of the server may answer an error that is not ours.
      const error = (json as Partial<ErrorBody> | undefined)?.error as Partial<ErrorBody['error']> | undefined;
      throw new GroundworkApiError(
        response.status,
        error?.code ?? 'CLIENT_HTTP_ERROR',
        error?.message ?? `HTTP ${response.status}`,
        error?.details,
        error?.run_id,
      );
    }
    return json;
  }

  return {
    listTasks: async () => (await call('get', '/v1/tasks')).tasks,
    getTask: (name) => call('get', '/v1/tasks/{name}', { path: { name } }),
    listVersions: async (name) => (await call('get', '/v1/tasks/{name}/versions', { path: { name } })).versions,
    pushTask: (definition) => call('post', '/v1/tasks', { body: definition as Body<'/v1/tasks', 'post'> }),
    runTask: async <Output>(name: string, input: Record<string, unknown>, runOptions?: { version?: string }) =>
      (await call('post', '/v1/tasks/{name}/run', {
        path: { name },
        body: { input, ...(runOptions?.version ? { version: runOptions.version } : {}) },
      })) as RunResult<Output>,
    listRuns: async (query = {}) => (await call('get', '/v1/runs', { query })).runs,
    getRun: (id) => call('get', '/v1/runs/{id}', { path: { id } }),
    createCollection: (params) => call('post', '/v1/collections', { body: params }),
    listCollections: async () => (await call('get', '/v1/collections')).collections,
    deleteCollection: async (name) => {
      await call('delete', '/v1/collections/{collection}', { path: { collection: name } });
    },
    async ingestFiles(collection, files, metadata) {
      const form = new FormData();
      if (metadata) form.append('metadata', JSON.stringify(metadata));
      for (const file of files) form.append('file', new Blob([file.bytes as BlobPart], { type: file.mime ?? 'application/octet-stream' }), file.source);
      return (await call('post', '/v1/collections/{collection}/documents', { path: { collection }, body: form })).results;
    },
    ask: (question, collection, askOptions = {}) => call('post', '/v1/ask', { body: { question, collection, ...askOptions } }),
    search: async (collection, query, searchOptions = {}) =>
      (await call('post', '/v1/collections/{collection}/search', { path: { collection }, body: { query, ...searchOptions } })).hits,
    promoteTask: (name, version, promoteOptions = {}) => call('post', '/v1/tasks/{name}/promote', { path: { name }, body: { version, ...promoteOptions } }),
    rollbackTask: (name, reason) => call('post', '/v1/tasks/{name}/rollback', { path: { name }, body: reason === undefined ? {} : { reason } }),
    listReleases: async (name) => (await call('get', '/v1/tasks/{name}/releases', { path: { name } })).releases,
    uploadDataset: (task, upload) => call('post', '/v1/tasks/{name}/datasets', { path: { name: task }, body: upload }),
    listDatasets: async (task) => (await call('get', '/v1/tasks/{name}/datasets', { path: { name: task } })).datasets,
    addCaseFromRun: (dataset, params) => call('post', '/v1/datasets/{name}/cases', { path: { name: dataset }, body: params }),
    listEvals: async (task) => (await call('get', '/v1/tasks/{name}/evals', { path: { name: task } })).evals,
    getEval: (id) => call('get', '/v1/evals/{id}', { path: { id } }),
    // The route answers 202 with the queued job, or 200 with the plan of a dry run.
    startEval: async (task, evalOptions) =>
      ((await call('post', '/v1/tasks/{name}/evals', { path: { name: task }, body: evalOptions })) as unknown as EvalQueued).job,
    planEval: async (task, evalOptions) =>
      (await call('post', '/v1/tasks/{name}/evals', { path: { name: task }, body: { ...evalOptions, dry_run: true } })).plan,
    getJob: async (id) => (await call('get', '/v1/jobs/{id}', { path: { id } })).job,
  };
}
