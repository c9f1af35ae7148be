/**
 * The `wasm` CPU engine's kernels: the embedded WebAssembly module (128-bit SIMD, one shared
 * memory), compiled once per process, and the signatures of its exports. The text is
 * `kernels.wat` beside this file; `scripts/build_wasm.ts` makes both. A second module holds the
 * 8-bit activation kernels (`i8_*`) written with relaxed SIMD (`kernels_relaxed.wat`): where the
 * runtime validates it, its kernels replace the main module's.
 *
 * Each comes in two forms: for weights in the one shared memory (every model that fits in 4 GiB
 * with its activations), and `split`, for weights in memories of their own (`_kernels_split_wasm.ts`
 * and the like: the weight matrices read from a second imported memory, `env.weights`, one
 * instance per weights' memory). V8 checks the bounds of every access to a memory other
 * than the first, so the split form is taken only where a model needs it.
 *
 * @module
 */

import { KERNELS_WASM_BASE64 } from "./_kernels_wasm.ts";
import { KERNELS_FMA_WASM_BASE64 } from "./_kernels_fma_wasm.ts";
import { KERNELS_RELAXED_WASM_BASE64 } from "./_kernels_relaxed_wasm.ts";
import { KERNELS_SPLIT_WASM_BASE64 } from "./_kernels_split_wasm.ts";
import { KERNELS_FMA_SPLIT_WASM_BASE64 } from "./_kernels_fma_split_wasm.ts";
import { KERNELS_RELAXED_SPLIT_WASM_BASE64 } from "./_kernels_relaxed_split_wasm.ts";

/** A matrix–vector kernel: `(w, x, y, in, r0, r1)`. */
export type MvKernel = (w: number, x: number, y: number, inp: number, r0: number, r1: number) => void;

/**
 * The bytes of one thread's scratch for matrices of up to `columns` columns: 12 rows in f32, where
 * the 16-bit formats' prompt kernels widen 12 rows at a time (the other formats' need less).
 *
 * @param columns the widest input of the model's matrices
 * @returns the bytes
 *
 * @example
 * ```ts
 * import { scratchBytes } from "./kernels.ts";
 * if (scratchBytes(1024) !== 12 * 1024 * 4) throw new Error();
 * ```
 */
export function scratchBytes(columns: number): number {
  return 48 * columns;
}

/** A widening matrix–matrix kernel: `(w, x, y, in, out, r0, r1, n, scratch)`. */
export type MmKernel = (
  w: number,
  x: number,
  y: number,
  inp: number,
  out: number,
  r0: number,
  r1: number,
  n: number,
  scratch: number,
) => void;

/** An 8-bit activation kernel: `(w, x, y, in, out, r0, r1, n)`, `x` quantized activations. */
export type I8Kernel = (
  w: number,
  x: number,
  y: number,
  inp: number,
  out: number,
  r0: number,
  r1: number,
  n: number,
) => void;

/** A group widening: `(src, dst, in)`. */
export type DqKernel = (src: number, dst: number, inp: number) => void;

/** The exported kernels (pointers are byte offsets into the shared memory). */
export interface KernelExports {
  /** `y[o] = W[o] · x`, f32 rows `r0 ≤ o < r1`. */
  mv_f32(w: number, x: number, y: number, inp: number, r0: number, r1: number): void;
  /** Likewise for bf16 rows, `x` de-interleaved (even elements, then odd). */
  mv_bf16(w: number, x: number, y: number, inp: number, r0: number, r1: number): void;
  /** Likewise for f16 rows, `x` de-interleaved. */
  mv_f16(w: number, x: number, y: number, inp: number, r0: number, r1: number): void;
  /** `y[t·out + o] = W[o] · x[t]` for f32 rows, `n` tokens. */
  mm_f32(w: number, x: number, y: number, inp: number, out: number, r0: number, r1: number, n: number): void;
  /** Likewise for bf16 rows (widened 12 at a time into `scratch`, then the last rows 4 at a time). */
  mm_bf16(
    w: number,
    x: number,
    y: number,
    inp: number,
    out: number,
    r0: number,
    r1: number,
    n: number,
    scratch: number,
  ): void;
  /** Likewise for f16 rows. */
  mm_f16(
    w: number,
    x: number,
    y: number,
    inp: number,
    out: number,
    r0: number,
    r1: number,
    n: number,
    scratch: number,
  ): void;
  /** The group of 4 bf16 rows at `src` (`inp` long) widened to the f32 group layout at `dst`. */
  dq_bf16(src: number, dst: number, inp: number): void;
  /** Likewise for f16 rows. */
  dq_f16(src: number, dst: number, inp: number): void;
  /** `y[o] = W[o] · x` for q8_0 rows `r0 ≤ o < r1` (groups of 4 rows, blocks interleaved). */
  mv_q8_0: MvKernel;
  /** Likewise for q4_0. */
  mv_q4_0: MvKernel;
  /** Likewise for q5_0. */
  mv_q5_0: MvKernel;
  /** Likewise for q4_k. */
  mv_q4_k: MvKernel;
  /** Likewise for q5_k. */
  mv_q5_k: MvKernel;
  /** Likewise for q6_k. */
  mv_q6_k: MvKernel;
  /** `y[t·out + o] = W[o] · x[t]` for q8_0 rows, `n` tokens (each group dequantized into `scratch`). */
  mm_q8_0: MmKernel;
  /** Likewise for q4_0. */
  mm_q4_0: MmKernel;
  /** Likewise for q5_0. */
  mm_q5_0: MmKernel;
  /** Likewise for q4_k. */
  mm_q4_k: MmKernel;
  /** Likewise for q5_k. */
  mm_q5_k: MmKernel;
  /** Likewise for q6_k. */
  mm_q6_k: MmKernel;
  /** The interleaved group of 4 q8_0 rows at `src` dequantized to the f32 group layout at `dst`. */
  dq_q8_0: DqKernel;
  /** Likewise for q4_0. */
  dq_q4_0: DqKernel;
  /** Likewise for q5_0. */
  dq_q5_0: DqKernel;
  /** Likewise for q4_k. */
  dq_q4_k: DqKernel;
  /** Likewise for q5_k. */
  dq_q5_k: DqKernel;
  /** Likewise for q6_k. */
  dq_q6_k: DqKernel;
  /**
   * `y[t·out + o] = W[o] · x[t]` for q8_0 rows `r0 ≤ o < r1` and `n` tokens of activations rounded
   * to 8 bits (per token: `in` bytes, `in/32` scales, `in/32` scaled sums), in integers.
   */
  i8_q8_0: I8Kernel;
  /** Likewise for q4_0. */
  i8_q4_0: I8Kernel;
  /** Likewise for q5_0. */
  i8_q5_0: I8Kernel;
  /** Likewise for q4_k. */
  i8_q4_k: I8Kernel;
  /** Likewise for q5_k. */
  i8_q5_k: I8Kernel;
  /** Likewise for q6_k. */
  i8_q6_k: I8Kernel;
  /**
   * 128-bit `i8_q8_0`'s sums, bit for bit, for `n` tokens, each group of 4 rows unpacked once
   * into `scratch` (`in · 10` bytes: its levels as i16) and multiplied with every token.
   */
  p8_q8_0: MmKernel;
  /** Likewise for q4_0. */
  p8_q4_0: MmKernel;
  /** Likewise for q5_0. */
  p8_q5_0: MmKernel;
  /**
   * `i8_q4_k`'s sums, bit for bit, for `n` tokens, each group of 4 rows unpacked once into
   * `scratch` (`in · 5` bytes) and multiplied with every token.
   */
  p8_q4_k: MmKernel;
  /** Likewise for q5_k. */
  p8_q5_k: MmKernel;
  /** Likewise for q6_k (`scratch`: `in · 5/4` bytes a row; not unpacked without relaxed SIMD). */
  p8_q6_k: MmKernel;
  /** The sum of `count` floats (the memory-bandwidth probe). */
  sum_f32(p: number, count: number): number;
  /**
   * `nq` consecutive tokens' `heads` query heads (token t's at `q + t · ts`) over the cached
   * positions (keys from `k`, values from `v`, `stride` bytes apart; head h reads key/value head
   * `h / group`), token t over the first `cnt = count − (nq − 1 − t)`: each head's scores `scale ·
   * q · k_j` at `scores` (`nq · heads · count` f32, token t's head h's from `(t · heads + h) ·
   * count`), ALiBi's `slopes[h] · (j − cnt + 1)` where `slopes` (f32 per head) is not 0, the
   * softmax over each head's `cnt` scores (its `exp` a polynomial, within about 2e-7 relative),
   * then each head's `Σ_j p[j] · v_j` into its place at `out + t · ts`. The cache is read row
   * after row for all the heads and tokens; a token's result is the same, bit for bit, for any
   * `nq`.
   */
  attn_heads(
    q: number,
    k: number,
    v: number,
    stride: number,
    heads: number,
    group: number,
    dim: number,
    count: number,
    nq: number,
    ts: number,
    scale: number,
    slopes: number,
    scores: number,
    out: number,
  ): void;
  /**
   * `n` tokens of `inp` f32 activations at `x` rounded to 8 bits at `dst` in the layout the
   * `i8_*` and `p8_*` kernels read (`writeInt8Input`'s, byte for byte).
   */
  q8_act(x: number, n: number, inp: number, dst: number): void;
  /**
   * `out[j] = gate[j] / (1 + exp(−gate[j])) · up[j]` for `j < count` (`out` may be `gate`), each
   * value the same wherever it lies, within about 3e-7 relative of `swigluInto`'s.
   */
  swiglu(gate: number, up: number, out: number, count: number): void;
}

/** The two builds of the main kernels: `fma` (relaxed SIMD's fused multiply-add) and `plain`. */
export type KernelBuild = "fma" | "plain";

const compiled = new Map<string, Promise<WebAssembly.Module>>();
let defaultBuild: KernelBuild | undefined;
const compiledRelaxed = new Map<boolean, Promise<WebAssembly.Module | undefined>>();

/** A base64 binary's bytes. */
function decode(b64: string): Uint8Array<ArrayBuffer> {
  const text = atob(b64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

/**
 * The relaxed-SIMD module (the `i8_*` kernels with `i32x4.relaxed_dot_i8x16_i7x16_add_s`),
 * compiled on first use, or undefined where this runtime does not validate it (a browser
 * without relaxed SIMD: the main module's kernels then run).
 *
 * @param split the form for weights in memories of their own
 * @returns the compiled module, or undefined
 *
 * @example
 * ```ts
 * import { relaxedKernelsModule } from "./kernels.ts";
 * const m = await relaxedKernelsModule(); // Deno's V8 has relaxed SIMD
 * if (!m || !WebAssembly.Module.exports(m).some((e) => e.name === "i8_q4_k")) throw new Error();
 * ```
 */
export function relaxedKernelsModule(split = false): Promise<WebAssembly.Module | undefined> {
  let module = compiledRelaxed.get(split);
  if (!module) {
    module = (async () => {
      const bytes = decode(split ? KERNELS_RELAXED_SPLIT_WASM_BASE64 : KERNELS_RELAXED_WASM_BASE64);
      if (!WebAssembly.validate(bytes)) return undefined;
      try {
        return await WebAssembly.compile(bytes);
      } catch {
        return undefined;
      }
    })();
    compiledRelaxed.set(split, module);
  }
  return module;
}

/**
 * Whether this runtime runs the kernels: WebAssembly with 128-bit SIMD and shared memory (a
 * browser page needs cross-origin isolation for the latter).
 *
 * @returns true where {@linkcode kernelsModule} compiles and a shared memory can be made
 *
 * @example
 * ```ts
 * import { wasmKernelsAvailable } from "./kernels.ts";
 * if (!await wasmKernelsAvailable()) throw new Error("Deno has both");
 * ```
 */
export async function wasmKernelsAvailable(): Promise<boolean> {
  if (typeof SharedArrayBuffer !== "function" || typeof WebAssembly !== "object") return false;
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    await kernelsModule();
    return true;
  } catch {
    return false;
  }
}

/**
 * The kernels' module, compiled on first use: the `fma` build where the runtime validates relaxed
 * SIMD (each multiply-add rounded once instead of twice; ~18% faster products over several
 * tokens here), else the `plain` one; or the build asked for.
 *
 * @param build which build (default: `fma` where it validates)
 * @param split the form for weights in memories of their own
 * @returns the compiled module
 * @throws {Error} where WebAssembly lacks 128-bit SIMD or threads (shared memory)
 *
 * @example
 * ```ts
 * import { kernelsModule } from "./kernels.ts";
 * const m = await kernelsModule("plain");
 * if (!WebAssembly.Module.exports(m).some((e) => e.name === "mv_f32")) throw new Error();
 * ```
 */
export function kernelsModule(build?: KernelBuild, split = false): Promise<WebAssembly.Module> {
  // The default build is chosen once, and a binary decoded only to compile it: engines start often.
  defaultBuild ??= WebAssembly.validate(decode(KERNELS_FMA_WASM_BASE64)) ? "fma" : "plain";
  const which = build ?? defaultBuild;
  const key = `${which}${split ? " split" : ""}`;
  let module = compiled.get(key);
  if (!module) {
    const b64 = which === "fma"
      ? (split ? KERNELS_FMA_SPLIT_WASM_BASE64 : KERNELS_FMA_WASM_BASE64)
      : (split ? KERNELS_SPLIT_WASM_BASE64 : KERNELS_WASM_BASE64);
    module = WebAssembly.compile(decode(b64)).catch((e) => {
      compiled.delete(key);
      const what = split ? "128-bit SIMD, threads and several memories" : "128-bit SIMD and threads";
      throw new Error(`this runtime cannot compile the wasm engine's kernels (${what}): ${e}`);
    });
    compiled.set(key, module);
  }
  return module;
}

/**
 * The kernels bound to a shared memory and a memory of weights (the relaxed-SIMD module's, where
 * given, in place of the main module's of the same name). The kernels read weight matrices from
 * `weights` and everything else from `memory`; one memory may be both.
 *
 * @param module the compiled kernels
 * @param memory the shared memory holding activations, caches and scratch
 * @param relaxed the compiled relaxed-SIMD kernels, if any
 * @param weights the shared memory holding the weight matrices (default: `memory`)
 * @returns the exports
 *
 * @example
 * ```ts
 * import { instantiateKernels, kernelsModule } from "./kernels.ts";
 * const memory = new WebAssembly.Memory({ initial: 1, maximum: 16, shared: true });
 * const k = instantiateKernels(await kernelsModule(), memory);
 * new Float32Array(memory.buffer, 0, 16).fill(0.5);
 * if (k.sum_f32(0, 16) !== 8) throw new Error();
 * ```
 */
export function instantiateKernels(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
  relaxed?: WebAssembly.Module,
  weights: WebAssembly.Memory = memory,
): KernelExports {
  const imports = { env: { memory, weights } };
  const instance = new WebAssembly.Instance(module, imports);
  if (!relaxed) return instance.exports as unknown as KernelExports;
  const extra = new WebAssembly.Instance(relaxed, imports);
  return { ...instance.exports, ...extra.exports } as unknown as KernelExports;
}
