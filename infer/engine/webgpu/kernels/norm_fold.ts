/**
 * RMSNorm folded into the product that follows it: `W · (x / √(mean(x²) + eps) ⊙ g)` computed
 * as `(W · (x ⊙ g)) / √(mean(x²) + eps)`, so a decode step needs no dispatch for the norm. The
 * pieces here turn a `matvec`-built kernel into one that reads the raw residual rows `x` and the
 * norm's weight `gn`: the unit code reads `x ⊙ gn` (`xg`), and each tile of tokens first has its
 * workgroup sum the tokens' squares (in a fixed order: a token's scale is the same bits whatever
 * the step's token count).
 *
 * @module
 */

/**
 * A format's unit code (see `matvecUnits`) reading `x ⊙ gn` instead of `x`: every `x[i]` of
 * `unit_dot` (whose token starts at `vec4` `xb`) becomes `xg(i, xb)`.
 *
 * @param code the unit code
 * @returns the code reading through `xg`
 *
 * @example
 * ```ts
 * import { foldedUnits } from "./norm_fold.ts";
 * import { matvecUnits } from "./matvec.ts";
 * const code = foldedUnits(matvecUnits("q4_k")!.code);
 * if (/\bx\[/.test(code) || !code.includes("xg(xo + i, xb)")) throw new Error();
 * ```
 */
export function foldedUnits(code: string): string {
  return code.replace(/\bx\[([^\]]+)\]/g, "xg($1, xb)");
}

/**
 * WGSL of `xg`: `x[i] ⊙ gn[i − xb]` (`x` and `gn` arrays of `vec4<f32>`).
 *
 * @example
 * ```ts
 * import { XG_WGSL } from "./norm_fold.ts";
 * if (!XG_WGSL.includes("fn xg(")) throw new Error();
 * ```
 */
export const XG_WGSL = `
fn xg(i: u32, xb: u32) -> vec4<f32> { return x[i] * gn[i - xb]; }`;

/**
 * WGSL statements, run by every thread of the workgroup at the start of a tile of `nt` tokens
 * from `t0`, that leave `scale: vec4<f32>` holding each token's `1 / √(mean(x²) + eps)`.
 * Uses the workgroup's `part: array<vec4<f32>, WG>` and the parameters `k` and `eps`.
 *
 * @param tokens tokens per tile (at most 4)
 * @returns WGSL statements
 *
 * @example
 * ```ts
 * import { rmsTileWgsl } from "./norm_fold.ts";
 * if (!rmsTileWgsl(4).includes("inverseSqrt")) throw new Error();
 * ```
 */
export function rmsTileWgsl(tokens: number): string {
  return `var squares = vec4<f32>(0.0);
    for (var i = l; i < p.k / 4u; i += WG) {
      for (var j = 0u; j < ${tokens}u; j++) {
        if (j < nt) {
          let v = x[(t0 + j) * (p.k / 4u) + i];
          squares[j] += dot(v, v);
        }
      }
    }
    part[l] = squares;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
      if (l < s) { part[l] += part[l + s]; }
      workgroupBarrier();
    }
    let scale = inverseSqrt(part[0] / f32(p.k) + p.eps);
    workgroupBarrier();`;
}
