/**
 * The per-step uniform every kernel may read (binding 1): tokens in this step, position of the
 * first, keys cached after it, and the index of the last token. Written once per step.
 *
 * @module
 */

import { ParamStruct } from "./params.ts";

/**
 * The step struct: `n` tokens computed in this step, `pos0` the position of the first, `kv_len`
 * (`pos0 + n`) keys in the cache after it, `last` (`n - 1`).
 *
 * @example
 * ```ts
 * import { STEP } from "./step.ts";
 * if (!STEP.wgsl.includes("struct Step { n: u32, pos0: u32, kv_len: u32, last: u32 };")) throw new Error();
 * ```
 */
export const STEP: ParamStruct<{ n: "u32"; pos0: "u32"; kv_len: "u32"; last: "u32" }> = new ParamStruct("Step", {
  n: "u32",
  pos0: "u32",
  kv_len: "u32",
  last: "u32",
});

/**
 * The step uniform's bytes for `n` tokens from position `pos0`.
 *
 * @param n tokens in the step
 * @param pos0 position of the first
 * @returns 16 bytes
 *
 * @example
 * ```ts
 * import { stepBytes } from "./step.ts";
 * if (new Uint32Array(stepBytes(3, 5)).join() !== "3,5,8,2") throw new Error();
 * ```
 */
export function stepBytes(n: number, pos0: number): ArrayBuffer {
  return STEP.pack({ n, pos0, kv_len: pos0 + n, last: n - 1 });
}
