import { chatCompletions, type GatewayCall, type GatewayReply } from './chat.js';
import { type GatewayContext, type GatewayDeps } from './context.js';
import { embeddings } from './embeddings.js';
import { createPlans } from './targets.js';
import { createUpstream, type Upstream } from './upstream.js';

/**
 * The OpenAI-compatible gateway: `/v1/chat/completions` and `/v1/embeddings` through the
 * configured routes, with failover before the first byte, quota reservations, cost and a run
 * record per call. HTTP framing lives in src/api/gateway.routes.ts; this is the domain side.
 */
export interface Gateway {
  chatCompletions(call: GatewayCall): Promise<GatewayReply>;
  embeddings(call: GatewayCall): Promise<GatewayReply & { type: 'json' }>;
  /** Closes upstream connections. */
  close(): Promise<void>;
}

export interface CreateGatewayOptions extends GatewayDeps {
  /** Replaces the undici upstream (tests). */
  upstream?: Upstream;
}

export function createGateway(options: CreateGatewayOptions): Gateway {
  const { upstream: injected, ...deps } = options;
  const upstream = injected ?? createUpstream({ timeoutMs: deps.config.resilience.attempt_timeout_ms });
  const ctx: GatewayContext = {
    deps,
    plans: createPlans(deps),
    upstream,
    breaker: (provider) => deps.models.breaker(provider),
    defaultMaxTokens: deps.defaultMaxTokens ?? 4_096,
  };
  return {
    chatCompletions: (call) => chatCompletions(ctx, call),
    embeddings: (call) => embeddings(ctx, call),
    close: () => upstream.close(),
  };
}
