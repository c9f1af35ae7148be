/**
 * Rotary position embedding in training (rotate-half layout, as Hugging Face computes it): the
 * forward rotation of each head's pairs `(i, i + d/2)` by `p · invFreq[i]` at position `p`, and
 * its backward, the inverse rotation. In place, double precision.
 *
 * @module
 */

/**
 * Rotate each head of each row by its position (forward), or by minus it (`inverse`: the
 * gradient of the rotation, since a rotation's transpose is its inverse).
 *
 * @param x rows of `heads × headDim`, changed in place
 * @param n rows (positions `0 … n−1`)
 * @param heads heads per row
 * @param headDim head size
 * @param invFreq the `headDim / 2` frequencies
 * @param inverse rotate backwards
 *
 * @example
 * ```ts
 * import { rotate } from "./rope.ts";
 * const x = new Float64Array([0, 0, 1, 0]); // position 1: a quarter turn at frequency π/2
 * rotate(x, 2, 1, 2, new Float64Array([Math.PI / 2]));
 * if (Math.abs(x[2]) > 1e-15 || Math.abs(x[3] - 1) > 1e-15) throw new Error(String(x));
 * rotate(x, 2, 1, 2, new Float64Array([Math.PI / 2]), true);
 * if (Math.abs(x[2] - 1) > 1e-15 || Math.abs(x[3]) > 1e-15) throw new Error(String(x));
 * ```
 */
export function rotate(
  x: Float64Array,
  n: number,
  heads: number,
  headDim: number,
  invFreq: Float64Array,
  inverse = false,
): void {
  const half = headDim / 2;
  for (let t = 0; t < n; t++) {
    for (let i = 0; i < half; i++) {
      const angle = t * invFreq[i];
      const cos = Math.cos(angle), sin = inverse ? -Math.sin(angle) : Math.sin(angle);
      for (let h = 0; h < heads; h++) {
        const base = (t * heads + h) * headDim;
        const a = x[base + i], b = x[base + i + half];
        x[base + i] = a * cos - b * sin;
        x[base + i + half] = b * cos + a * sin;
      }
    }
  }
}
