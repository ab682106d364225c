/**
 * Durable jobs: task runs and ingestions worked in the background with retries, backoff,
 * dead letters, per-try timeouts, cancellation, progress and signed completion webhooks.
 * pg-boss (on the store's own database port) is the queue; the `jobs` table is the record.
 */
export { createJobService, type JobService, type JobServiceDeps, type JobLogger, type StartOptions } from './job-service.js';
export type { JobHost } from './job-runner.js';
export { signWebhook, verifyWebhook, checkWebhookUrl, SIGNATURE_HEADER, MAX_RESPONSE_BYTES } from './webhooks.js';
export { isGloballyReachable, type SelfAddress } from './webhook-target.js';
export { QUEUES } from './queue.js';
export * from './types.js';
