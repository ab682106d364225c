import { Cancellation } from './cancellation.js';

/**
 * The client's side of a gateway call: aborted once the client went away before its answer
 * was sent. A Cancellation: undici takes it as its request signal, and a real AbortSignal is
 * made only for the tiers that need one. It lives in the kernel because the HTTP layer makes
 * it and the gateway consumes it, and `api` may import only the gateway's types.
 */
export class Disconnect extends Cancellation {}
