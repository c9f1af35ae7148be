// Every training op's backward pass against central finite differences of its forward pass,
// in double precision: for a random projection r, L(x) = Σ r ⊙ f(x), and ∂L/∂xᵢ is compared
// with (L(x + εeᵢ) − L(x − εeᵢ)) / 2ε at every input element.

import assert from "node:assert";
import { Rng } from "../infer/mod.ts";
import { linearBackward, linearForward } from "../train/ops/frozen_linear.ts";
import { loraBackward, loraForward } from "../train/ops/lora_update.ts";
import { rmsnormBackward, rmsnormForward } from "../train/ops/rmsnorm.ts";
import { rotate } from "../train/ops/rope.ts";
import { attentionBackward, attentionForward } from "../train/ops/attention.ts";
import { swigluBackward, swigluForward } from "../train/ops/swiglu.ts";
import { crossEntropy } from "../train/ops/cross_entropy.ts";

const rng = new Rng(3);
const random = (n: number, s = 1): Float64Array => new Float64Array(n).map(() => s * rng.normal());
const dot = (a: Float64Array, b: Float64Array): number => a.reduce((s, x, i) => s + x * b[i], 0);

/** Checks `analytic` against central differences of `loss` at every element of `x`. */
function checkGradient(name: string, x: Float64Array, loss: () => number, analytic: Float64Array, eps = 1e-5): void {
  let worst = 0;
  for (let i = 0; i < x.length; i++) {
    const keep = x[i];
    x[i] = keep + eps;
    const up = loss();
    x[i] = keep - eps;
    const down = loss();
    x[i] = keep;
    const numeric = (up - down) / (2 * eps);
    const err = Math.abs(numeric - analytic[i]) / Math.max(1, Math.abs(numeric));
    worst = Math.max(worst, err);
  }
  assert(worst < 1e-7, `${name}: worst relative error ${worst}`);
}

Deno.test("training ops: backward = central finite differences (double precision)", async (t) => {
  await t.step("frozen linear, f32 and bf16 weights", () => {
    for (const dtype of ["f32", "bf16"] as const) {
      const n = 3, out = 4, inp = 5;
      const f = new Float32Array(random(out * inp));
      const data = dtype === "f32" ? f : new Uint16Array(f.buffer.slice(0)).filter((_, i) => i % 2 === 1);
      const w = { dtype, shape: [out, inp], data };
      const x = random(n * inp), r = random(n * out);
      checkGradient(`linear ${dtype}`, x, () => dot(r, linearForward(x, n, w)), linearBackward(r, n, w));
    }
  });

  await t.step("LoRA update: input, A and B, with and without dropout", () => {
    const n = 3, inp = 5, out = 4, rank = 2;
    for (const withMask of [false, true]) {
      const p = { a: random(rank * inp), b: random(out * rank), r: rank, inp, out, scale: 1.5 };
      const x = random(n * inp), r = random(n * out);
      const mask = withMask ? new Float64Array(n * inp).map((_, i) => i % 3 === 0 ? 0 : 1 / 0.7) : undefined;
      const loss = () => dot(r, loraForward(x, n, p, mask).delta);
      const ga = new Float64Array(p.a.length), gb = new Float64Array(p.b.length);
      const dx = loraBackward(r, n, p, loraForward(x, n, p, mask).cache, ga, gb);
      checkGradient("lora x", x, loss, dx);
      checkGradient("lora A", p.a, loss, ga);
      checkGradient("lora B", p.b, loss, gb);
    }
  });

  await t.step("RMSNorm", () => {
    const n = 3, dim = 6, g = random(dim), x = random(n * dim), r = random(n * dim);
    const { inv } = rmsnormForward(x, n, g, 1e-5);
    checkGradient("rmsnorm", x, () => dot(r, rmsnormForward(x, n, g, 1e-5).y), rmsnormBackward(r, x, n, g, inv));
  });

  await t.step("RoPE: the inverse rotation is the gradient", () => {
    const n = 4, heads = 2, d = 6, inv = new Float64Array([1, 0.3, 0.01]);
    const x = random(n * heads * d), r = random(n * heads * d);
    const loss = () => {
      const y = x.slice();
      rotate(y, n, heads, d, inv);
      return dot(r, y);
    };
    const g = r.slice();
    rotate(g, n, heads, d, inv, true);
    checkGradient("rope", x, loss, g);
  });

  await t.step("attention: grouped-query, with and without ALiBi, with and without a sliding window", () => {
    for (
      const [slopes, window] of [[[]], [[0.5, 0.25, 0.125, 0.0625]], [[], 2], [[0.5, 0.25, 0.125, 0.0625], 3]] as const
    ) {
      const n = 4, heads = 4, kvHeads = 2, d = 3, s = { heads, kvHeads, headDim: d, slopes, window };
      const q = random(n * heads * d), k = random(n * kvHeads * d), v = random(n * kvHeads * d);
      const r = random(n * heads * d);
      const loss = () => dot(r, attentionForward(q, k, v, n, s));
      const g = attentionBackward(r, q, k, v, n, s);
      checkGradient("attention q", q, loss, g.dq);
      checkGradient("attention k", k, loss, g.dk);
      checkGradient("attention v", v, loss, g.dv);
    }
  });

  await t.step("SwiGLU", () => {
    const gate = random(7, 2), up = random(7), r = random(7);
    const loss = () => dot(r, swigluForward(gate, up));
    const { dGate, dUp } = swigluBackward(r, gate, up);
    checkGradient("swiglu gate", gate, loss, dGate);
    checkGradient("swiglu up", up, loss, dUp);
  });

  await t.step("cross-entropy", () => {
    const z = random(9, 3);
    const g = z.slice();
    crossEntropy(g, 4, 0.5, true);
    checkGradient("cross-entropy", z, () => 0.5 * crossEntropy(z.slice(), 4, 1, false), g);
  });
});
