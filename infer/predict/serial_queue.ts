/**
 * One at a time (or up to a capacity at once) on one resource (an engine, a worker, llama.cpp's
 * context): first come first served, where a request that is cancelled while it waits leaves the
 * line at once (and so stops counting against a server's queue limit).
 *
 * @module
 */

interface Waiter {
  readonly start: () => void;
  readonly signal?: AbortSignal;
}

/**
 * A first-in first-out line for one resource: {@linkcode SerialQueue.run} runs a task in its
 * turn, {@linkcode SerialQueue.take} hands out the turn itself. With a capacity above 1, that
 * many turns run at once (batched decoding); the rest wait in order.
 *
 * @example
 * ```ts
 * import { SerialQueue } from "./serial_queue.ts";
 * const queue = new SerialQueue();
 * const order: number[] = [];
 * const slow = queue.run(async () => { await new Promise((r) => setTimeout(r, 5)); order.push(1); });
 * const fast = queue.run(() => { order.push(2); return Promise.resolve(); });
 * const left = new AbortController();
 * const waiting = queue.take(left.signal);
 * left.abort(); // it leaves the line without its turn
 * await waiting.then(() => { throw new Error("must not get a turn"); }, () => {});
 * await Promise.all([slow, fast]);
 * if (order.join() !== "1,2") throw new Error();
 * const two = new SerialQueue(2); // two turns at once
 * const [a, b] = [await two.take(), await two.take()];
 * if (two.running !== 2) throw new Error();
 * a(), b();
 * ```
 */
export class SerialQueue {
  /** How many turns may run at once. */
  readonly capacity: number;
  #running = 0;
  readonly #line: Waiter[] = [];

  /**
   * Create a `SerialQueue`.
   *
   * @param capacity turns at once (default 1: one at a time)
   * @throws {RangeError} unless an integer ≥ 1
   */
  constructor(capacity = 1) {
    if (!(Number.isInteger(capacity) && capacity >= 1)) throw new RangeError("capacity must be an integer ≥ 1");
    this.capacity = capacity;
  }

  /** Turns running now. */
  get running(): number {
    return this.#running;
  }

  /**
   * Wait for the resource.
   *
   * @param signal leaves the line (rejecting with its reason) when aborted before the turn comes
   * @returns a function that ends the turn (call it exactly once)
   */
  async take(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    if (this.#running >= this.capacity) {
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
        await turn.promise; // the ending turn passed its place on: the count stays
      } finally {
        signal?.removeEventListener("abort", leave);
      }
    } else this.#running++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const next = this.#line.shift();
      if (next === undefined) this.#running--;
      else next.start(); // the turn passes on: as many running as before
    };
  }

  /**
   * Run a task in its turn, after the tasks queued before it (whether they succeed or fail).
   *
   * @param task the work
   * @param signal leaves the line when aborted before the turn comes
   * @returns what the task returns
   */
  async run<T>(task: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const end = await this.take(signal);
    try {
      return await task();
    } finally {
      end();
    }
  }
}
