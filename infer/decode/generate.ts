/**
 * Generation on a session: feed the prompt (reusing a cached prefix), then run the generation
 * loop ({@linkcode decodeLoop}) until EOS, a stop word, `maxNewTokens` or the context's end. A
 * logits hook runs at every step (constrained decoding masks tokens there); without one, greedy
 * decoding asks the engine for the argmax only.
 *
 * @module
 */

import type { Session } from "../engine/engine.ts";
import { decodeLoop, type DecodeLoopOptions, type DecodeOutcome, sessionStart } from "./decode_loop.ts";

/** Options of {@linkcode generate}. */
export interface GenerateOptions extends DecodeLoopOptions {
  /** Reuse the session's cached prefix of the prompt (default true); else start afresh. */
  readonly reusePrefix?: boolean;
}

/** The result of {@linkcode generate}. */
export interface Generation extends DecodeOutcome {
  /** Prompt tokens. */
  readonly promptTokens: number;
  /** Prompt tokens found in the cache and not computed again. */
  readonly reusedTokens: number;
  /** Seconds in all. */
  readonly seconds: number;
}

/**
 * Generate a continuation of a prompt.
 *
 * @param session the session (its cache is reused and extended)
 * @param prompt prompt ids (at least one)
 * @param options stopping, sampling and hooks
 * @returns the generated ids and why generation ended
 *
 * @example
 * ```ts
 * import { CpuEngine, generate, loadModel } from "../mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 32, hidden: 16, intermediate: 32, layers: 1, heads: 2 });
 * const session = new CpuEngine(await loadModel(dir)).createSession();
 * const g = await generate(session, [1, 4, 9], { maxNewTokens: 5, stopIds: [] });
 * if (g.ids.length !== 5 || g.stop !== "length") throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function generate(session: Session, prompt: readonly number[], options: GenerateOptions = {}): Promise<
  Generation
> {
  const t0 = performance.now();
  const { stepper, first, reused } = sessionStart(session, prompt, options.reusePrefix ?? true);
  const g = await decodeLoop(stepper, first, options);
  return { ...g, promptTokens: prompt.length, reusedTokens: reused, seconds: (performance.now() - t0) / 1000 };
}
