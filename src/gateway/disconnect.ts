import { EventEmitter } from 'node:events';

/**
 * The client's side of a gateway call: `aborted` once the client went away before its answer
 * was sent. undici takes this object as its request signal (it accepts any EventEmitter with
 * `aborted` and an 'abort' event); a real AbortSignal, which costs several microseconds to
 * make on Node 20, is made only for the tiers that need one (the model and embedder ports).
 */
export class Disconnect extends EventEmitter {
  aborted = false;
  #controller: AbortController | undefined;

  /** Marks the call abandoned: stops an upstream request in flight and any signal handed out. */
  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    this.emit('abort');
    this.#controller?.abort();
  }

  /** An AbortSignal that follows this disconnect (made on first use). */
  get signal(): AbortSignal {
    if (!this.#controller) {
      this.#controller = new AbortController();
      if (this.aborted) this.#controller.abort();
    }
    return this.#controller.signal;
  }
}
