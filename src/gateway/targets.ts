import type { Config } from '../config/config.js';
import { checkModelUsable } from '../config/config.js';
import type { EmbedderRegistry } from '../embeddings/registry.js';
import { GroundworkError } from '../kernel/errors.js';
import { priceFor, type ResolvedPrice } from '../models/pricing.js';
import type { ModelRegistry } from '../models/registry.js';
import { withInstrumentation } from '../models/resilience/instrument.js';
import { createRouter } from '../models/router.js';
import { ModelCallError, type ModelPort } from '../models/spec.js';
import { embedderPort } from './embedder-port.js';

/**
 * What a request's `model` names, resolved once per name and cached: a config route (its
 * tiers in order) or one configured model (one tier), each tier a port of the model registry
 * behind one router. OpenAI-compatible tiers pass the body through; every other provider
 * answers the body translated into messages.
 */

export type GatewayConfig = Pick<Config, 'providers' | 'models' | 'routes' | 'embedders' | 'resilience'>;

/** One model of a plan. */
export interface Tier {
  /** Configured model (or embedder) name: what runs and costs are recorded under. */
  name: string;
  provider: string;
  price: ResolvedPrice;
  /** Answers the OpenAI body itself (pass-through); the others answer it translated to messages. */
  speaksWire: boolean;
  /** The registry's port for this tier (made on first use). */
  port: () => ModelPort;
}

export interface Plan {
  /** The name the request used. */
  name: string;
  tiers: Tier[];
  /** True when some tier needs the body translated to messages. */
  translates: boolean;
  /** The tiers behind one router (made on first use). */
  router(): ModelPort;
  /** A tier's price by its name (attempt costs and quota holds). */
  price(tierName: string): ResolvedPrice;
}

export interface PlanDeps {
  config: GatewayConfig;
  models: Pick<ModelRegistry, 'tier' | 'resilient' | 'passThrough'>;
  embedders: Pick<EmbedderRegistry, 'get' | 'names'>;
}

export interface Plans {
  chat(model: string): Plan;
  embeddings(model: string): Plan;
}

export function createPlans(deps: PlanDeps): Plans {
  const { config, models } = deps;
  const chatPlans = new Map<string, Plan>();
  const embeddingPlans = new Map<string, Plan>();

  const modelTier = (name: string, purpose: 'chat' | 'embeddings'): Tier => {
    const model = config.models[name];
    const provider = config.providers[model.provider];
    const ids = { name, provider: provider.name, price: priceFor(model, { providerType: provider.type }) };
    const problem = checkModelUsable(name, config.models, config.providers);
    if (problem) return unusableTier(ids, problem);
    if (provider.type === 'openai-compatible') return { ...ids, speaksWire: true, port: () => models.tier(name) };
    if (purpose === 'chat') return { ...ids, speaksWire: false, port: () => models.tier(name) };
    return unusableTier(ids, `model "${name}" (provider ${provider.name}, ${provider.type}) has no OpenAI-compatible embeddings API`);
  };

  const embedderTier = (name: string): Tier => {
    const entry = Object.hasOwn(config.embedders, name) ? config.embedders[name] : undefined;
    const provider = entry ? config.providers[entry.provider] : undefined;
    // Embedders carry no price in config: recorded as unpriced.
    const ids = { name, provider: provider?.name ?? 'builtin', price: { input_per_mtok: 0, output_per_mtok: 0, known: provider === undefined } };
    if (provider?.type === 'openai-compatible') {
      if (provider.api_key_env && !provider.api_key)
        return unusableTier(ids, `provider "${provider.name}" has no API key: environment variable ${provider.api_key_env} is not set`);
      return { ...ids, speaksWire: true, port: () => models.passThrough({ name, provider: provider.name, modelId: entry?.id ?? name }) };
    }
    return { ...ids, speaksWire: true, port: () => models.resilient(embedderPort(name, ids.provider, () => deps.embedders.get(name))) };
  };

  const isModel = (name: string) => Object.hasOwn(config.models, name);
  const isRoute = (name: string) => Object.hasOwn(config.routes, name);
  const isEmbedder = (name: string) => deps.embedders.names().includes(name);

  return {
    chat(name) {
      let plan = chatPlans.get(name);
      if (!plan) {
        const tierNames = isRoute(name) ? config.routes[name] : isModel(name) ? [name] : undefined;
        if (!tierNames) throw notFound(name, 'chat', [...Object.keys(config.routes), ...Object.keys(config.models)]);
        plan = planOf(
          name,
          tierNames.map((tier) => modelTier(tier, 'chat')),
        );
        chatPlans.set(name, plan);
      }
      return plan;
    },
    embeddings(name) {
      let plan = embeddingPlans.get(name);
      if (!plan) {
        // An embedder first (that is what embeddings are configured as), then a model or a route of models.
        const tierOf = (tier: string) => (isEmbedder(tier) ? embedderTier(tier) : modelTier(tier, 'embeddings'));
        if (isEmbedder(name) || isModel(name)) plan = planOf(name, [tierOf(name)]);
        else if (isRoute(name)) plan = planOf(name, config.routes[name].map(tierOf));
        else throw notFound(name, 'embeddings', [...deps.embedders.names(), ...Object.keys(config.models), ...Object.keys(config.routes)]);
        embeddingPlans.set(name, plan);
      }
      return plan;
    },
  };
}

/**
 * A tier that cannot be called (no API key, no embeddings API): every call fails at once as a
 * recorded attempt, and the router moves on. No breaker: its failures say nothing of the provider.
 */
function unusableTier(ids: Pick<Tier, 'name' | 'provider' | 'price'>, problem: string): Tier {
  const port = withInstrumentation({
    model: ids.name,
    provider: ids.provider,
    generate: () =>
      Promise.reject(new ModelCallError({ model: ids.name, provider: ids.provider, outcome: 'provider_error', retryable: false, message: problem })),
  });
  return { ...ids, speaksWire: true, port: () => port };
}

function planOf(name: string, tiers: Tier[]): Plan {
  const prices = new Map(tiers.map((tier) => [tier.name, tier.price]));
  let router: ModelPort | undefined;
  return {
    name,
    tiers,
    translates: tiers.some((tier) => !tier.speaksWire),
    router: () => (router ??= createRouter(tiers.map((tier) => tier.port()))),
    price: (tierName) => prices.get(tierName) ?? UNPRICED,
  };
}

const UNPRICED: ResolvedPrice = { input_per_mtok: 0, output_per_mtok: 0, known: false };

function notFound(name: string, kind: string, known: string[]): GroundworkError {
  const list = known.length > 20 ? `${known.slice(0, 20).join(', ')}, …` : known.join(', ');
  return new GroundworkError('GATEWAY_MODEL_NOT_FOUND', `no route or model "${name}" for ${kind} (configured: ${list || 'none'})`, {
    details: { model: name },
  });
}
