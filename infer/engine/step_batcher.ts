/**
 * Batched decoding over one engine: several sessions generate at once, and each round appends
 * one token to every one of them in a single {@linkcode Engine.forwardBatch} pass (the weights
 * read once for all), where the engine has it. Sessions step in lockstep: a round runs once every
 * active session has asked for its next step.
 *
 * @module
 */

import { argmax, type BatchStep, type Engine, maskedArgmax, type Session, type SessionOptions } from "./engine.ts";

/** One queued step of a session: its tokens, and whom to tell. */
interface Pending {
  readonly session: BatchedSession;
  readonly tokens: readonly number[];
  readonly resolve: (logits: Float32Array | number) => void;
  readonly reject: (e: unknown) => void;
  /** Whether only the argmax is wanted (`forwardGreedy`). */
  readonly greedy: boolean;
  /** Only the argmax over these allowed ids is wanted (`forwardMasked`). */
  readonly mask?: Uint32Array;
}

/**
 * Sessions of one engine that step together: {@linkcode StepBatcher.createSession} hands out
 * sessions whose `forward`, `forwardGreedy` and `forwardMasked` are queued while they are active
 * ({@linkcode BatchedSession.enter} … {@linkcode BatchedSession.leave}). Once every active session
 * has a step queued (or has left), the batcher runs the round: multi-token steps (prompts) one at
 * a time on their own session, then the single-token steps together with `engine.forwardBatch`
 * when the engine has it and there are at least two (else one at a time). Each session's logits
 * are those its own `forward` gives, so batching never changes an answer; a failed step rejects
 * only its own caller (a failed batch, the steps in it). A masked step (`forwardMasked`) run alone
 * uses its session's `forwardMasked` (on a GPU, 4 bytes read back); in a batch, its id is
 * chosen here from its logits, the same id.
 *
 * @example
 * ```ts
 * import { CpuEngine, loadModel } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * import { StepBatcher } from "./step_batcher.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const engine = new CpuEngine(await loadModel(dir));
 * const batcher = new StepBatcher(engine);
 * const [a, b] = [batcher.createSession(), batcher.createSession()];
 * a.enter(), b.enter();
 * // Both prompts, then one token each: each round waits for both sessions.
 * const [x, y] = await Promise.all([a.forwardGreedy([1, 2]), b.forwardGreedy([3])]);
 * const [la, lb] = await Promise.all([a.forward([x]), b.forward([y])]);
 * a.leave(), b.leave();
 * if (la.length !== 16 || lb.length !== 16 || a.tokens.length !== 3 || b.tokens.length !== 2) throw new Error();
 * a.dispose(), b.dispose(), engine.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class StepBatcher {
  /** The engine whose sessions step together. */
  readonly engine: Engine;
  readonly #active = new Set<BatchedSession>();
  #pending: Pending[] = [];
  #running = false;
  /** Rounds run so far, and how many single-token steps went through `forwardBatch`. */
  readonly stats: { rounds: number; batched: number } = { rounds: 0, batched: 0 };

  /**
   * Create a `StepBatcher`.
   *
   * @param engine the engine (its `forwardBatch`, where it has one, runs the rounds)
   */
  constructor(engine: Engine) {
    this.engine = engine;
  }

  /**
   * A new, empty session of the engine that steps with the others while it is active.
   *
   * @param options context size
   * @returns the session
   */
  createSession(options?: SessionOptions): BatchedSession {
    return new BatchedSession(this, this.engine.createSession(options));
  }

  /** Sessions active now. */
  get active(): number {
    return this.#active.size;
  }

  /** @internal */
  _enter(s: BatchedSession): void {
    this.#active.add(s);
  }

  /** @internal */
  _leave(s: BatchedSession): void {
    this.#active.delete(s);
    this.#maybeRun();
  }

  /** @internal */
  _queue(p: Pending): void {
    if (this.#pending.some((q) => q.session === p.session)) {
      p.reject(new Error("a batched session has a step queued already: await it first"));
      return;
    }
    this.#pending.push(p);
    this.#maybeRun();
  }

  #maybeRun(): void {
    if (this.#running || this.#pending.length === 0) return;
    for (const s of this.#active) if (!this.#pending.some((p) => p.session === s)) return;
    const round = this.#pending;
    this.#pending = [];
    this.#running = true;
    this.#runRound(round).finally(() => {
      this.#running = false;
      this.#maybeRun();
    });
  }

  async #runRound(round: readonly Pending[]): Promise<void> {
    this.stats.rounds++;
    const singles: Pending[] = [];
    for (const p of round) {
      const inner = p.session.inner;
      // Prompts one at a time; a session with no room fails alone, with its own error.
      if (p.tokens.length !== 1 || inner.tokens.length + 1 > inner.contextSize) await runAlone(p);
      else singles.push(p);
    }
    const forwardBatch = this.engine.forwardBatch;
    if (singles.length < 2 || forwardBatch === undefined) {
      for (const p of singles) await runAlone(p);
      return;
    }
    const steps: BatchStep[] = singles.map((p) => ({ session: p.session.inner, token: p.tokens[0] }));
    let logits: Float32Array[];
    try {
      logits = await forwardBatch.call(this.engine, steps);
    } catch (e) {
      for (const p of singles) p.reject(e);
      return;
    }
    this.stats.batched += singles.length;
    singles.forEach((p, i) =>
      p.resolve(p.mask ? maskedArgmax(logits[i], p.mask) : p.greedy ? argmax(logits[i]) : logits[i])
    );
  }
}

/** One step on its own session: `forwardMasked` or `forwardGreedy` where only an id is wanted. */
async function runAlone(p: Pending): Promise<void> {
  try {
    const s = p.session.inner;
    if (p.mask) {
      p.resolve(
        s.forwardMasked ? await s.forwardMasked(p.tokens, p.mask) : maskedArgmax(await s.forward(p.tokens), p.mask),
      );
    } else p.resolve(p.greedy ? await s.forwardGreedy(p.tokens) : await s.forward(p.tokens));
  } catch (e) {
    p.reject(e);
  }
}

/**
 * A session of a {@linkcode StepBatcher}: `forward`, `forwardGreedy` and `forwardMasked` wait for the batcher's
 * next round; the rest goes straight to the engine's session. A step asked of an inactive
 * session enters and leaves around it: it joins the next round (alone, where no other session
 * is active).
 *
 * @example
 * ```ts
 * import { CpuEngine, loadModel } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * import { StepBatcher } from "./step_batcher.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const engine = new CpuEngine(await loadModel(dir));
 * const s = new StepBatcher(engine).createSession();
 * await s.forward([1, 2, 3]); // inactive, and no other session: a round of its own
 * if (s.reusePrefix([1, 2, 5]) !== 2 || s.active) throw new Error();
 * s.dispose(), engine.dispose();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class BatchedSession implements Session {
  /** The engine's session that computes. */
  readonly inner: Session;
  readonly #batcher: StepBatcher;
  #active = false;

  /**
   * Create a `BatchedSession` (use {@linkcode StepBatcher.createSession}).
   *
   * @param batcher the batcher it steps with
   * @param inner the engine's session
   */
  constructor(batcher: StepBatcher, inner: Session) {
    this.#batcher = batcher;
    this.inner = inner;
  }

  /** Whether rounds wait for this session's steps. */
  get active(): boolean {
    return this.#active;
  }

  /** Take part in the rounds: each waits for this session's next step until it leaves. */
  enter(): void {
    if (this.#active) return;
    this.#active = true;
    this.#batcher._enter(this);
  }

  /** Stop taking part: rounds no longer wait for this session (a queued step still runs). */
  leave(): void {
    if (!this.#active) return;
    this.#active = false;
    this.#batcher._leave(this);
  }

  /** The tokens whose keys and values are cached, in order. */
  get tokens(): readonly number[] {
    return this.inner.tokens;
  }

  /** The most tokens this session can hold. */
  get contextSize(): number {
    return this.inner.contextSize;
  }

  /**
   * Append tokens in the batcher's next round; the next-token logits.
   *
   * @param tokens ids to append (at least one)
   * @returns `vocabSize` logits
   */
  forward(tokens: readonly number[]): Promise<Float32Array> {
    return this.#step(tokens, false) as Promise<Float32Array>;
  }

  /**
   * Append tokens in the batcher's next round; the greedy next token (the lowest id on ties).
   *
   * @param tokens ids to append (at least one)
   * @returns the id with the highest logit
   */
  forwardGreedy(tokens: readonly number[]): Promise<number> {
    return this.#step(tokens, true) as Promise<number>;
  }

  /**
   * Append tokens in the batcher's next round; the best next token the mask allows (the lowest
   * id on ties): the engine session's `forwardMasked` when the step runs alone, else chosen from
   * the batch's logits.
   *
   * @param tokens ids to append (at least one)
   * @param mask the allowed ids as a bitset
   * @returns the id with the highest allowed logit, or -1 when none is allowed
   *
   * @example
   * ```ts
   * import { CpuEngine, loadModel } from "../mod.ts";
   * import { writeRandomModel } from "../testing/mod.ts";
   * import { StepBatcher } from "./step_batcher.ts";
   * const dir = await Deno.makeTempDir();
   * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
   * const engine = new CpuEngine(await loadModel(dir));
   * const s = new StepBatcher(engine).createSession();
   * if (await s.forwardMasked([1, 2], Uint32Array.of(1 << 9)) !== 9) throw new Error("only 9 is allowed");
   * s.dispose(), engine.dispose();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  forwardMasked(tokens: readonly number[], mask: Uint32Array): Promise<number> {
    return this.#step(tokens, true, mask) as Promise<number>;
  }

  /**
   * Append tokens on the engine's session directly (not batched).
   *
   * @param tokens ids to append
   * @returns one `vocabSize` array per appended token
   */
  forwardAll(tokens: readonly number[]): Promise<Float32Array[]> {
    return this.inner.forwardAll(tokens);
  }

  /**
   * Keep the first `length` cached tokens.
   *
   * @param length tokens to keep
   */
  truncate(length: number): void {
    this.inner.truncate(length);
  }

  /**
   * Keep the longest cached prefix of `ids` (leaving the last id to compute).
   *
   * @param ids the next prompt
   * @returns how many leading ids are already cached
   */
  reusePrefix(ids: readonly number[]): number {
    return this.inner.reusePrefix(ids);
  }

  /**
   * A new engine session with a copy of this one's cache (not batched).
   *
   * @returns the copy
   */
  fork(): Session {
    return this.inner.fork();
  }

  /** Leave the rounds and free the session's memory. */
  dispose(): void {
    this.leave();
    this.inner.dispose();
  }

  async #step(tokens: readonly number[], greedy: boolean, mask?: Uint32Array): Promise<Float32Array | number> {
    if (tokens.length === 0) throw new RangeError("a step appends at least one token");
    const own = !this.#active;
    if (own) this.enter();
    try {
      const done = Promise.withResolvers<Float32Array | number>();
      this.#batcher._queue({ session: this, tokens, greedy, mask, resolve: done.resolve, reject: done.reject });
      return await done.promise;
    } finally {
      if (own) this.leave();
    }
  }
}
