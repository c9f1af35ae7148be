/**
 * Turns on one engine, first come first served, where a request that is cancelled while it
 * waits leaves the line at once (and so stops counting against the queue's limit).
 *
 * @module
 */

interface Waiter {
  readonly start: () => void;
  readonly signal?: AbortSignal;
}

/**
 * A first-in first-out line for one resource.
 *
 * @example
 * ```ts
 * import { Turns } from "./_turns.ts";
 * const turns = new Turns();
 * const end = await turns.take();
 * const left = new AbortController();
 * const waiting = turns.take(left.signal);
 * left.abort(); // it leaves the line without its turn
 * await waiting.then(() => { throw new Error("must not get a turn"); }, () => {});
 * end();
 * (await turns.take())(); // free again
 * ```
 */
export class Turns {
  #busy = false;
  readonly #line: Waiter[] = [];

  /**
   * Wait for the resource.
   *
   * @param signal leaves the line (rejecting with its reason) when aborted before the turn comes
   * @returns a function that ends the turn (call it exactly once)
   */
  async take(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.#busy) {
      const turn = Promise.withResolvers<void>();
      const waiter: Waiter = { start: turn.resolve, signal };
      const leave = () => {
        const i = this.#line.indexOf(waiter);
        if (i >= 0) this.#line.splice(i, 1);
        turn.reject(signal!.reason);
      };
      signal?.addEventListener("abort", leave, { once: true });
      this.#line.push(waiter);
      try {
        await turn.promise;
      } finally {
        signal?.removeEventListener("abort", leave);
      }
    }
    this.#busy = true;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const next = this.#line.shift();
      if (next === undefined) this.#busy = false;
      else next.start();
    };
  }
}
