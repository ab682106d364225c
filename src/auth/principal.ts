/**
 * Who a request acts for: the API key's tenant, the key itself and its role. Set on every
 * authenticated `/v1` request as `request.auth` (src/api/auth.ts); domain code receives
 * the tenant id and, where it meters or records, the key id.
 */

export const ROLES = ['viewer', 'runner', 'developer', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/**
 * Roles are ordered: each can do everything the one before it can.
 * viewer: read tasks, runs, jobs, collections, usage. runner: + run tasks, ask, search,
 * jobs, chat completions, embeddings. developer: + manage tasks and collections.
 * admin: + manage the tenant's API keys.
 */
export function roleAllows(role: Role, required: Role): boolean {
  return ROLES.indexOf(role) >= ROLES.indexOf(required);
}

export interface Principal {
  tenantId: string;
  keyId: string;
  role: Role;
  /** Per-key limits; undefined falls back to the configured default (config `limits`). */
  requestsPerMinute?: number;
  tokensPerMinute?: number;
}
