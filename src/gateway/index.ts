/** The OpenAI-compatible gateway: chat completions and embeddings through Groundwork's routes. */
export { createGateway, type Gateway, type GatewayModel, type CreateGatewayOptions } from './gateway.js';
export type { GatewayCall, GatewayReply, StreamOut } from './chat.js';
export type { GatewayDeps, GatewayLogger } from './context.js';
export type { GatewayConfig } from './targets.js';
