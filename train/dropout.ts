/**
 * LoRA dropout's masks, counter-based: whether element `i` of module `index`'s input is dropped
 * in an example depends only on `(seed, index, i)`, through a 32-bit hash (murmur3's finaliser).
 * The CPU oracle computes it here; the WebGPU trainer computes the same hash in WGSL
 * ({@linkcode DROPOUT_WGSL}), element by element in parallel, so both drop the same elements.
 *
 * @module
 */

/** murmur3's 32-bit finaliser. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The hash's threshold for probability `p`: an element is dropped when its hash is below it.
 *
 * @param p the dropout probability, in [0, 1)
 * @returns `floor(p · 2³²)`
 *
 * @example
 * ```ts
 * import { dropThreshold } from "./dropout.ts";
 * if (dropThreshold(0.5) !== 2 ** 31 || dropThreshold(0) !== 0) throw new Error();
 * ```
 */
export function dropThreshold(p: number): number {
  return Math.min(Math.floor(p * 2 ** 32), 2 ** 32 - 1);
}

/**
 * The per-module key of an example's masks (hashed once, then combined with each element's index).
 *
 * @param seed the example's dropout seed
 * @param index the module's index in the model
 * @returns a 32-bit key
 *
 * @example
 * ```ts
 * import { dropoutKey } from "./dropout.ts";
 * if (dropoutKey(1, 0) === dropoutKey(1, 1)) throw new Error("modules get their own masks");
 * ```
 */
export function dropoutKey(seed: number, index: number): number {
  return fmix32((seed ^ Math.imul(index + 1, 0x9e3779b1)) >>> 0);
}

/**
 * The dropout multipliers of one module's input (0, or `1/(1−p)` for a kept element).
 *
 * @param size elements of the input (`n × in`)
 * @param p the dropout probability
 * @param seed the example's dropout seed
 * @param index the module's index in the model
 * @returns the multipliers
 *
 * @example
 * ```ts
 * import { dropoutMask } from "./dropout.ts";
 * const m = dropoutMask(10000, 0.25, 7, 3);
 * const dropped = m.filter((x) => x === 0).length;
 * if (dropped < 2300 || dropped > 2700 || m.some((x) => x !== 0 && x !== 1 / 0.75)) throw new Error(String(dropped));
 * ```
 */
export function dropoutMask(size: number, p: number, seed: number, index: number): Float64Array {
  const key = dropoutKey(seed, index), threshold = dropThreshold(p), keep = 1 / (1 - p);
  const mask = new Float64Array(size);
  for (let i = 0; i < size; i++) mask[i] = fmix32((key ^ Math.imul(i + 1, 0x85ebca6b)) >>> 0) < threshold ? 0 : keep;
  return mask;
}

/**
 * WGSL `fn dropped(key: u32, i: u32, threshold: u32) -> bool`: the same decision as
 * {@linkcode dropoutMask} for element `i` (u32 products wrap as `Math.imul` does).
 *
 * @example
 * ```ts
 * import { DROPOUT_WGSL } from "./dropout.ts";
 * if (!DROPOUT_WGSL.includes("0x85ebca6bu")) throw new Error();
 * ```
 */
export const DROPOUT_WGSL: string = `
fn fmix32(x: u32) -> u32 {
  var h = x;
  h ^= h >> 16u;
  h *= 0x85ebca6bu;
  h ^= h >> 13u;
  h *= 0xc2b2ae35u;
  h ^= h >> 16u;
  return h;
}
fn dropped(key: u32, i: u32, threshold: u32) -> bool { return fmix32(key ^ ((i + 1u) * 0x85ebca6bu)) < threshold; }`;
