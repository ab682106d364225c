import type { Config } from '../config/config.js';
import { checkModelUsable } from '../config/config.js';
import type { EmbedderRegistry } from '../embeddings/registry.js';
import type { EmbeddingModel } from '../embeddings/spec.js';
import { GroundworkError } from '../kernel/errors.js';
import { priceFor, type Price, type ResolvedPrice } from '../models/pricing.js';
import type { ModelRegistry } from '../models/registry.js';
import type { ModelPort } from '../models/spec.js';
import { httpTarget, type HttpTarget } from './upstream.js';

/**
 * What a request's `model` names, resolved once per name and cached: a config route (its
 * tiers in order) or one configured model (one tier). OpenAI-compatible tiers are called
 * over HTTP with the body passed through; every other provider through the model port.
 */

export type GatewayConfig = Pick<Config, 'providers' | 'models' | 'routes' | 'embedders' | 'resilience'>;

/** One model of a plan. */
export interface Tier {
  /** Configured model (or embedder) name: what runs and costs are recorded under. */
  name: string;
  provider: string;
  /** The provider's model id, sent upstream in place of the request's `model`. */
  modelId: string;
  price: ResolvedPrice;
  /** Set for OpenAI-compatible providers: pass-through over HTTP. */
  http?: HttpTarget;
  /** Other chat providers: the registry's model (timeout, breaker and retries included). */
  model?: () => ModelPort;
  /** Other embedders: the embedding port. */
  embedder?: () => EmbeddingModel;
  /** Why this tier cannot be called (missing API key, no embeddings API); it is skipped as a failed attempt. */
  unusable?: string;
}

export interface Plan {
  /** The name the request used. */
  name: string;
  tiers: Tier[];
  /** The most expensive input and output prices of the tiers: what reservations are priced at. */
  maxPrice: Price;
}

export interface PlanDeps {
  config: GatewayConfig;
  models: Pick<ModelRegistry, 'tier'>;
  embedders: Pick<EmbedderRegistry, 'get' | 'names'>;
}

export interface Plans {
  chat(model: string): Plan;
  embeddings(model: string): Plan;
}

export function createPlans(deps: PlanDeps): Plans {
  const { config } = deps;
  const chatPlans = new Map<string, Plan>();
  const embeddingPlans = new Map<string, Plan>();
  const targets = new Map<string, HttpTarget>();

  const targetOf = (providerName: string): HttpTarget => {
    let target = targets.get(providerName);
    if (!target) {
      target = httpTarget(config.providers[providerName]);
      targets.set(providerName, target);
    }
    return target;
  };

  const modelTier = (name: string, purpose: 'chat' | 'embeddings'): Tier => {
    const model = config.models[name];
    const provider = config.providers[model.provider];
    const tier: Tier = {
      name,
      provider: provider.name,
      modelId: model.id ?? name,
      price: priceFor(model, { providerType: provider.type }),
    };
    const problem = checkModelUsable(name, config.models, config.providers);
    if (problem) tier.unusable = problem;
    else if (provider.type === 'openai-compatible') tier.http = targetOf(provider.name);
    else if (purpose === 'chat') tier.model = () => deps.models.tier(name);
    else tier.unusable = `model "${name}" (provider ${provider.name}, ${provider.type}) has no OpenAI-compatible embeddings API`;
    return tier;
  };

  const embedderTier = (name: string): Tier => {
    const entry = Object.hasOwn(config.embedders, name) ? config.embedders[name] : undefined;
    const provider = entry ? config.providers[entry.provider] : undefined;
    const tier: Tier = {
      name,
      provider: provider?.name ?? 'builtin',
      modelId: entry?.id ?? name,
      // Embedders carry no price in config: recorded as unpriced.
      price: { input_per_mtok: 0, output_per_mtok: 0, known: provider === undefined },
    };
    if (provider?.type === 'openai-compatible') {
      if (provider.api_key_env && !provider.api_key) tier.unusable = `provider "${provider.name}" has no API key: environment variable ${provider.api_key_env} is not set`;
      else tier.http = targetOf(provider.name);
    } else {
      tier.embedder = () => deps.embedders.get(name);
    }
    return tier;
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
        plan = planOf(name, tierNames.map((tier) => modelTier(tier, 'chat')));
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

function planOf(name: string, tiers: Tier[]): Plan {
  let input = 0;
  let output = 0;
  for (const tier of tiers) {
    input = Math.max(input, tier.price.input_per_mtok);
    output = Math.max(output, tier.price.output_per_mtok);
  }
  return { name, tiers, maxPrice: { input_per_mtok: input, output_per_mtok: output } };
}

function notFound(name: string, kind: string, known: string[]): GroundworkError {
  const list = known.length > 20 ? `${known.slice(0, 20).join(', ')}, …` : known.join(', ');
  return new GroundworkError('GATEWAY_MODEL_NOT_FOUND', `no route or model "${name}" for ${kind} (configured: ${list || 'none'})`, {
    details: { model: name },
  });
}
