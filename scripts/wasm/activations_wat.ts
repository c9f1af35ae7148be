/**
 * The WebAssembly text of the `wasm` engine's element-wise kernels on activations: SwiGLU
 * (`swiglu`, below), and the rounding of activations to 8 bits, in the layout
 * the `i8_*` and `p8_*` kernels read (`infer/engine/wasm/int8_input.ts`): per token, `in` signed
 * bytes `qx`, then `in/32` f32 scales `dx`, then `in/32` f32 `dx · Σ qx`. Each block of 32 is
 * rounded as the oracle rounds it (`int8Activations`): `dx = 2^(e − 6)` for a largest magnitude in
 * `[2^e, 2^(e+1))` (0 below 2^-120), `qx = x / dx` rounded to nearest, ties to even, and held
 * in −127..127. Every step is exact or rounds as the oracle's does (a product by a power of two,
 * then `f32x4.nearest`), so the bytes are the oracle's.
 *
 * @module
 */

import { c, fourThenOne, lines } from "./wat.ts";

const get = (v: string): string => `(local.get ${v})`;
const i32x4 = (v: number): string => `(v128.const i32x4 ${v} ${v} ${v} ${v})`;

/**
 * `q8_act(x, n, in, dst)`: `n` tokens of `in` f32 activations at `x` (`in` a multiple of 32)
 * rounded to 8 bits at `dst`, `in + in/4` bytes a token.
 *
 * @returns the function's text
 *
 * @example
 * ```ts
 * import { q8Activations } from "./activations_wat.ts";
 * if (!q8Activations().includes(`(export "q8_act")`)) throw new Error();
 * ```
 */
export function q8Activations(): string {
  const v = [0, 1, 2, 3, 4, 5, 6, 7].map((k) => `$v${k}`);
  const tree = (xs: string[], op: string): string =>
    xs.length === 1 ? xs[0] : `(${op} ${tree(xs.slice(0, xs.length / 2), op)} ${tree(xs.slice(xs.length / 2), op)})`;
  const level = (k: number) =>
    `(i32x4.max_s (i32x4.min_s (i32x4.trunc_sat_f32x4_s (f32x4.nearest (f32x4.mul ${get(v[k])} ${get("$id")}))) ` +
    `${i32x4(127)}) ${i32x4(-127)})`;
  return lines(
    0,
    `;; n tokens of in f32 activations at x rounded to 8 bits per block of 32 at dst (qx, then dx, then dx · Σ qx)`,
    `(func (export "q8_act") (param $x i32) (param $n i32) (param $in i32) (param $dst i32)`,
    lines(
      2,
      `(local $t i32) (local $q i32) (local $dp i32) (local $end i32) (local $blocks i32) (local $e i32) (local $d f32)`,
      `(local $m v128) (local $id v128) (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128)`,
      v.map((r) => `(local ${r} v128)`).join(" "),
      `(local.set $blocks (i32.shr_u (local.get $in) ${c(5)}))`,
      `(block $tend (loop $tokens`,
      lines(
        2,
        `(br_if $tend (i32.ge_u (local.get $t) (local.get $n)))`,
        `(local.set $q (i32.add (local.get $dst) (i32.mul (local.get $t) (i32.add (local.get $in) (i32.shr_u (local.get $in) ${
          c(2)
        })))))`,
        `(local.set $dp (i32.add (local.get $q) (local.get $in)))`,
        `(local.set $end (local.get $dp))`,
        `(block $bend (loop $blocks`,
        lines(
          2,
          `(br_if $bend (i32.ge_u (local.get $q) (local.get $end)))`,
          ...v.map((r, k) => `(local.set ${r} (v128.load offset=${16 * k} (local.get $x)))`),
          `(local.set $m ${tree(v.map((r) => `(f32x4.abs ${get(r)})`), "f32x4.max")})`,
          `(local.set $m (f32x4.max ${get("$m")} (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${get("$m")} ${
            get("$m")
          })))`,
          `(local.set $m (f32x4.max ${get("$m")} (i8x16.shuffle 4 5 6 7 0 1 2 3 4 5 6 7 0 1 2 3 ${get("$m")} ${
            get("$m")
          })))`,
          `;; the largest magnitude's exponent e: dx = 2^(e − 6), 1/dx = 2^(6 − e) (0 for a block below 2^-120)`,
          `(local.set $e (i32.and (i32.shr_u (i32x4.extract_lane 0 ${get("$m")}) ${c(23)}) ${c(255)}))`,
          `(if (i32.lt_u (local.get $e) ${c(7)})`,
          `  (then (local.set $d (f32.const 0)) (local.set $id (v128.const i64x2 0 0)))`,
          `  (else`,
          `    (local.set $d (f32.reinterpret_i32 (i32.shl (i32.sub (local.get $e) ${c(6)}) ${c(23)})))`,
          `    (local.set $id (i32x4.splat (i32.shl (i32.sub ${c(260)} (local.get $e)) ${c(23)})))))`,
          ...[0, 1, 2, 3].map((k) => `(local.set $r${k} (i16x8.narrow_i32x4_s ${level(2 * k)} ${level(2 * k + 1)}))`),
          `(v128.store (local.get $q) (i8x16.narrow_i16x8_s ${get("$r0")} ${get("$r1")}))`,
          `(v128.store offset=16 (local.get $q) (i8x16.narrow_i16x8_s ${get("$r2")} ${get("$r3")}))`,
          `;; Σ qx: the 32 levels' i16 lanes summed in pairs, then across`,
          `(local.set $m ${
            tree([0, 1, 2, 3].map((k) => `(i32x4.extadd_pairwise_i16x8_s ${get(`$r${k}`)})`), "i32x4.add")
          })`,
          `(local.set $m (i32x4.add ${get("$m")} (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 ${get("$m")} ${
            get("$m")
          })))`,
          `(f32.store (local.get $dp) (local.get $d))`,
          `(f32.store (i32.add (local.get $dp) (i32.shl (local.get $blocks) ${c(2)})) (f32.mul (local.get $d) ` +
            `(f32.convert_i32_s (i32.add (i32x4.extract_lane 0 ${get("$m")}) (i32x4.extract_lane 1 ${get("$m")})))))`,
          `(local.set $x (i32.add (local.get $x) ${c(128)}))`,
          `(local.set $q (i32.add (local.get $q) ${c(32)}))`,
          `(local.set $dp (i32.add (local.get $dp) ${c(4)}))`,
          `(br $blocks)`,
        ),
        `))`,
        `(local.set $t (i32.add (local.get $t) ${c(1)}))`,
        `(br $tokens)`,
      ),
      `))`,
    ),
    `)`,
  );
}

/** The operations of one lane's arithmetic, in f32x4 or in scalar f32: one text for both. */
interface Lanes {
  readonly f: string;
  readonly i: string;
  readonly k: (v: number) => string;
  readonly ik: (v: number) => string;
  readonly toInt: string;
  readonly asFloat: (e: string) => string;
}

const VECTOR: Lanes = {
  f: "f32x4",
  i: "i32x4",
  k: (v) => `(v128.const f32x4 ${v} ${v} ${v} ${v})`,
  ik: (v) => `(v128.const i32x4 ${v} ${v} ${v} ${v})`,
  toInt: "i32x4.trunc_sat_f32x4_s",
  asFloat: (e) => e,
};

const SCALAR: Lanes = {
  f: "f32",
  i: "i32",
  k: (v) => `(f32.const ${v})`,
  ik: (v) => `(i32.const ${v})`,
  toInt: "i32.trunc_sat_f32_s",
  asFloat: (e) => `(f32.reinterpret_i32 ${e})`,
};

/**
 * Statements setting `$e` to `exp(−$g)`, four lanes at a time (`f32x4`: locals `$g`, `$n`,
 * `$r`, `$e`, v128) or one (`f32`: `$sg`, `$sn`, `$sr`, `$se`, f32), with the same f32
 * operations in each lane: the argument held in [−88, 88], `2^n · e^r` with `n` the nearest
 * integer to `arg · log2 e` and `r = arg − n · ln 2` in two parts, `e^r` a degree-6 polynomial
 * (relative error about 1e-7 in f32), `2^n` built in the exponent bits (0 for n = −127).
 *
 * @param kind four lanes or one
 * @returns the statements
 *
 * @example
 * ```ts
 * import { expNeg } from "./activations_wat.ts";
 * if (!expNeg("f32").join("\n").includes("(local.set $se")) throw new Error();
 * ```
 */
export function expNeg(kind: "f32x4" | "f32"): string[] {
  const l = kind === "f32x4" ? VECTOR : SCALAR;
  const v = (name: string) => get(kind === "f32x4" ? `$${name}` : `$s${name}`);
  const set = (name: string, e: string) => `(local.set ${kind === "f32x4" ? `$${name}` : `$s${name}`} ${e})`;
  const { f, i, k } = l;
  const mul = (a: string, b: string) => `(${f}.mul ${a} ${b})`;
  const add = (a: string, b: string) => `(${f}.add ${a} ${b})`;
  const sub = (a: string, b: string) => `(${f}.sub ${a} ${b})`;
  const poly = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1]
    .reduce((acc, c) => (acc === "" ? k(c) : add(mul(acc, v("r")), k(c))), "");
  return [
    set("r", `(${f}.max (${f}.min (${f}.neg ${v("g")}) ${k(88)}) ${k(-88)})`),
    set("n", `(${f}.nearest ${mul(v("r"), k(1.44269504088896341))})`),
    set("r", sub(sub(v("r"), mul(v("n"), k(0.693359375))), mul(v("n"), k(-2.12194440e-4)))),
    set("e", add(add(mul(poly, mul(v("r"), v("r"))), v("r")), k(1))),
    set("e", mul(v("e"), l.asFloat(`(${i}.shl (${i}.add (${l.toInt} ${v("n")}) ${l.ik(127)}) ${c(23)})`))),
  ];
}

/**
 * `swiglu(gate, up, out, count)`: `out[j] = gate[j] / (1 + exp(−gate[j])) · up[j]` for
 * `j < count` (f32 arrays; `out` may be `gate`), four at a time and the rest one by one with
 * the same f32 operations, so each value is the same wherever it lies. Its `exp` is a
 * polynomial (`expNeg`): the values are within about 3e-7 relative of the oracle's, which takes
 * `Math.exp` in doubles.
 *
 * @returns the function's text
 *
 * @example
 * ```ts
 * import { swigluKernel } from "./activations_wat.ts";
 * if (!swigluKernel().includes(`(export "swiglu")`)) throw new Error();
 * ```
 */
export function swigluKernel(): string {
  const body = (kind: "f32x4" | "f32"): string[] => {
    const [load, store, g, e] = kind === "f32x4"
      ? ["v128.load", "v128.store", "$g", "$e"]
      : ["f32.load", "f32.store", "$sg", "$se"];
    const one = kind === "f32x4" ? VECTOR.k(1) : SCALAR.k(1);
    return [
      `(local.set ${g} (${load} (local.get $gate)))`,
      ...expNeg(kind),
      `(${store} (local.get $out) (${kind}.mul (${kind}.div ${get(g)} (${kind}.add ${one} ${get(e)})) ` +
      `(${load} (local.get $up))))`,
    ];
  };
  return lines(
    0,
    `;; out[j] = gate[j] / (1 + exp(-gate[j])) · up[j] for j < count, four at a time, then one at a time`,
    `(func (export "swiglu") (param $gate i32) (param $up i32) (param $out i32) (param $count i32)`,
    lines(
      2,
      `(local $end i32) ${EXP_LOCALS}`,
      ...fourThenOne("", "$gate", "(local.get $count)", body("f32x4"), body("f32"), ["$up", "$out"]),
    ),
    `)`,
  );
}

/**
 * The locals {@linkcode expNeg} sets, for a function's declarations.
 *
 * @example
 * ```ts
 * import { EXP_LOCALS } from "./activations_wat.ts";
 * if (!EXP_LOCALS.includes("(local $sg f32)")) throw new Error();
 * ```
 */
export const EXP_LOCALS: string = `(local $g v128) (local $n v128) (local $r v128) (local $e v128) ` +
  `(local $sg f32) (local $sn f32) (local $sr f32) (local $se f32)`;
