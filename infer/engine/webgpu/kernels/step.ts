/**
 * The per-step uniform every kernel may read (binding 1): tokens in this step, position of the
 * first, keys cached after it, the index of the last token, and the first token's row in the
 * engine's work buffers. Written once per step; in a batched decode step each session has one of
 * its own (`n = 1`, its position, its row) for its attention and cache writes.
 *
 * @module
 */

import { ParamStruct } from "./params.ts";

/**
 * The step struct: `n` tokens computed in this step, `pos0` the position of the first, `kv_len`
 * (`pos0 + n`) keys in the cache after it, `last` (`n - 1`), `row0` the row of the first token
 * in the work buffers (`q`, `attn`, the staged keys and values, the scores; 0 but in a batched
 * decode step, where session `i`'s token is row `i`).
 *
 * @example
 * ```ts
 * import { STEP } from "./step.ts";
 * if (!STEP.wgsl.includes("struct Step { n: u32, pos0: u32, kv_len: u32, last: u32, row0: u32,")) throw new Error();
 * ```
 */
export const STEP: ParamStruct<{ n: "u32"; pos0: "u32"; kv_len: "u32"; last: "u32"; row0: "u32" }> = new ParamStruct(
  "Step",
  {
    n: "u32",
    pos0: "u32",
    kv_len: "u32",
    last: "u32",
    row0: "u32",
  },
);

/**
 * The step uniform's bytes for `n` tokens from position `pos0`, the first in row `row0`.
 *
 * @param n tokens in the step
 * @param pos0 position of the first
 * @param row0 its row in the work buffers (default 0)
 * @returns `STEP.size` (32) bytes
 *
 * @example
 * ```ts
 * import { stepBytes } from "./step.ts";
 * if (new Uint32Array(stepBytes(3, 5)).join() !== "3,5,8,2,0,0,0,0") throw new Error();
 * if (new Uint32Array(stepBytes(1, 9, 4))[4] !== 4) throw new Error();
 * ```
 */
export function stepBytes(n: number, pos0: number, row0 = 0): ArrayBuffer {
  return STEP.pack({ n, pos0, kv_len: pos0 + n, last: n - 1, row0 });
}
