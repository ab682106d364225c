import { GroundworkError } from '../kernel/errors.js';
import { chatCompletions, type GatewayCall, type GatewayReply } from './chat.js';
import { type GatewayContext, type GatewayDeps } from './context.js';
import { embeddings } from './embeddings.js';
import { createPlans } from './targets.js';

/**
 * The OpenAI-compatible gateway: `/v1/chat/completions` and `/v1/embeddings` through the
 * configured routes, with failover before the first byte, quota reservations, cost and a run
 * record per call. HTTP framing lives in src/api/gateway.routes.ts; this is the domain side.
 */
export interface Gateway {
  chatCompletions(call: GatewayCall): Promise<GatewayReply>;
  embeddings(call: GatewayCall): Promise<GatewayReply & { type: 'json' }>;
  /** Every configured route, model and embedder a request may name, ordered by id. */
  models(): readonly GatewayModel[];
  /** One of models(); GATEWAY_MODEL_NOT_FOUND for any other id. */
  model(id: string): GatewayModel;
}

/**
 * A name the gateway answers to, and what it is. A name configured as several kinds is listed
 * once, as chat completions resolve it: a route before a model, a model before an embedder.
 */
export type GatewayModel =
  | { id: string; kind: 'route' }
  // provider: the provider that serves the model (`builtin` for the extractive engine).
  | { id: string; kind: 'model'; provider: string }
  | { id: string; kind: 'embedder' };

export type CreateGatewayOptions = GatewayDeps;

export function createGateway(deps: CreateGatewayOptions): Gateway {
  const ctx: GatewayContext = {
    deps,
    plans: createPlans(deps),
    defaultMaxTokens: deps.defaultMaxTokens ?? 4_096,
  };
  // The config is frozen and the embedders fixed at start, so the listing is built once.
  let listing: { list: readonly GatewayModel[]; byId: ReadonlyMap<string, GatewayModel> } | undefined;
  const listed = () => {
    if (!listing) {
      const list = listModels(deps);
      listing = { list, byId: new Map(list.map((entry) => [entry.id, entry])) };
    }
    return listing;
  };
  return {
    chatCompletions: (call) => chatCompletions(ctx, call),
    embeddings: (call) => embeddings(ctx, call),
    models: () => listed().list,
    model(id) {
      const found = listed().byId.get(id);
      if (!found) throw new GroundworkError('GATEWAY_MODEL_NOT_FOUND', `no route, model or embedder "${id}"`, { details: { model: id } });
      return found;
    },
  };
}

function listModels(deps: GatewayDeps): GatewayModel[] {
  const byId = new Map<string, GatewayModel>();
  const add = (entry: GatewayModel) => {
    if (!byId.has(entry.id)) byId.set(entry.id, entry);
  };
  for (const id of Object.keys(deps.config.routes)) add({ id, kind: 'route' });
  for (const [id, model] of Object.entries(deps.config.models)) add({ id, kind: 'model', provider: model.provider });
  for (const id of deps.embedders.names()) add({ id, kind: 'embedder' });
  // Code-unit order, not locale order: every replica lists the same thing the same way.
  return [...byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}
