/**
 * The cos/sin table the `rope` kernel reads: `[context, d/2]` pairs of every position and
 * frequency, computed once in double precision (zeros for a model without RoPE).
 *
 * @module
 */

import { type ModelSpec, ropeInvFreq } from "../../model/model_spec.ts";

/**
 * The table's values.
 *
 * @param spec what the model computes (its position encoding and head width)
 * @param context positions
 * @returns `context · d/2` pairs of (cos, sin)
 *
 * @example
 * ```ts
 * import { ropeTable } from "./rope_table.ts";
 * import type { ModelSpec } from "../../model/model_spec.ts";
 * const spec = { headDim: 4, position: { kind: "alibi" } } as unknown as ModelSpec;
 * if (ropeTable(spec, 3).length !== 12) throw new Error();
 * ```
 */
export function ropeTable(spec: ModelSpec, context: number): Float32Array {
  const pos = spec.position;
  const half = spec.headDim / 2;
  const table = new Float32Array(context * half * 2);
  if (pos.kind === "rope") {
    const inv = ropeInvFreq(pos, spec.headDim);
    for (let p = 0; p < context; p++) {
      for (let i = 0; i < half; i++) {
        table[2 * (p * half + i)] = Math.cos(p * inv[i]);
        table[2 * (p * half + i) + 1] = Math.sin(p * inv[i]);
      }
    }
  }
  return table;
}
