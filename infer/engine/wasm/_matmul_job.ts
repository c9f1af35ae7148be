/**
 * One step of matrix products (or of attention) shared by the threads of the `wasm` engine: the
 * job table every thread reads from shared memory, the kernels by weight format, and how rows
 * (or heads) are split, so the calling thread and each worker compute their share with the same
 * code.
 *
 * @module
 */

import type { KernelExports } from "./kernels.ts";
import { Q6K_WASM_BYTES } from "./q6k_layout.ts";
import { firstAttended } from "../cpu/cpu_math.ts";
import { int8InputBytes } from "./int8_input.ts";

/** Int32 slots of the control block. */
export const CTRL = {
  /** Bumped by the caller to start a job. */
  generation: 0,
  /** Workers add 1 when their share is done. */
  done: 1,
  /** Products in the job. */
  items: 2,
  /** Threads sharing it (caller included). */
  threads: 3,
  /** Set to 1 to stop the workers. */
  stop: 4,
  /** First product. */
  first: 8,
} as const;

/** Int32 slots per item (a product takes 8, attention 14). */
export const ITEM_INTS = 16;
/** The most items in one job. */
export const MAX_ITEMS = 8;
/** Int32 slots of the whole control block. */
export const CTRL_INTS = CTRL.first + MAX_ITEMS * ITEM_INTS;

/** The weight formats with kernels. */
export type KernelFormat = "f32" | "bf16" | "f16" | "q8_0" | "q4_0" | "q5_0" | "q4_k" | "q5_k" | "q6_k";

/** The formats, in the kernels' numbering. */
export const KERNEL_FORMATS: readonly KernelFormat[] = [
  "f32",
  "bf16",
  "f16",
  "q8_0",
  "q4_0",
  "q5_0",
  "q4_k",
  "q5_k",
  "q6_k",
];

/** The block formats with 8-bit activation kernels (`i8_*`). */
export type Int8KernelFormat = "q8_0" | "q4_0" | "q5_0" | "q4_k" | "q5_k" | "q6_k";

/** The block formats with 8-bit activation kernels. */
export const INT8_KERNEL_FORMATS: readonly Int8KernelFormat[] = ["q8_0", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k"];

/**
 * A kernel's name: `mv_*` for one token (or for each of several tokens in turn, with the
 * single-token sums: {@linkcode mvTokens}), `mm_*` for several, `i8_*` for any number of tokens
 * of activations rounded to 8 bits (the input then holds them as `writeInt8Input` writes), `p8_*`
 * the same products for several tokens (each group of rows unpacked once into the thread's
 * scratch).
 */
export type KernelName =
  | `${"mv" | "mm"}_${KernelFormat}`
  | `i8_${Int8KernelFormat}`
  | `p8_${Int8KernelFormat}`;

/** The kernels by number (slot 0 of a product). */
export const KERNELS: readonly KernelName[] = [
  ...KERNEL_FORMATS.map((f) => `mv_${f}` as const),
  ...KERNEL_FORMATS.map((f) => `mm_${f}` as const),
  ...INT8_KERNEL_FORMATS.map((f) => `i8_${f}` as const),
  ...INT8_KERNEL_FORMATS.map((f) => `p8_${f}` as const),
];

/** One product of a job. */
export interface MatmulItem {
  /** The kernel. */
  readonly kernel: KernelName;
  /** Matrix pointer. */
  readonly w: number;
  /** The weights' memory holding the matrix (its index; default 0). */
  readonly mem?: number;
  /** Input pointer. */
  readonly x: number;
  /** Output pointer. */
  readonly y: number;
  /** Columns (`in`). */
  readonly inp: number;
  /** Rows (`out`). */
  readonly out: number;
  /** Tokens. */
  readonly n: number;
}

/**
 * Prompt tokens `attn_heads` takes together: each block of cached rows it reads serves this many
 * tokens' queries. Measured on the infer bench's model (16 heads of 64, 8 layers, `q4_k_m`), a
 * 400-token prompt's attention at one thread, three runs each: 148–153 ms a token at a time,
 * 139–145 ms two at a time, 136–142 ms four at a time, the same eight at a time.
 */
export const ATTENTION_QUERIES = 4;

/**
 * Causal attention of `n` consecutive new tokens of one session over its cache (`attn_heads`
 * for up to {@linkcode ATTENTION_QUERIES} tokens at a time), split across the threads by
 * key/value heads (each with its query heads).
 */
export interface AttentionItem {
  /** The kernel. */
  readonly kernel: "attn_heads";
  /** The first token's queries (`heads · dim` f32 a token, one token after another). */
  readonly q: number;
  /** Keys of position 0 (a position's heads in one row of `stride` bytes). */
  readonly k: number;
  /** Values of position 0, likewise. */
  readonly v: number;
  /** Bytes from one cached position to the next. */
  readonly stride: number;
  /** Query heads. */
  readonly heads: number;
  /** Key/value heads (dividing `heads`). */
  readonly kvHeads: number;
  /** Floats per head (a multiple of 4). */
  readonly dim: number;
  /** Tokens. */
  readonly n: number;
  /** The first token's position (its keys and values already cached there). */
  readonly position: number;
  /** The sliding window's width, or 0 for none. */
  readonly window: number;
  /** ALiBi's f32 slopes per head, or 0. */
  readonly slopes: number;
  /** Room for `ATTENTION_QUERIES · heads · (position + n)` f32 scores. */
  readonly scores: number;
  /** The first token's output (`heads · dim` f32 a token). */
  readonly out: number;
}

/**
 * Work done token by token, split across the threads by tokens (each thread a contiguous run):
 * `q8_act`, the rounding of `n` tokens of `inp` activations at `x` to 8 bits at `dst` (the
 * 8-bit kernels' input), or `swiglu`, `out = silu(gate) · up` over `n` tokens of `width`
 * values. A thread's tokens are the same for every such item of a job, so a later item may read
 * what an earlier one wrote for the same tokens; a product that reads every token goes in the
 * next job.
 */
export type TokensItem =
  | { readonly kernel: "q8_act"; readonly x: number; readonly n: number; readonly inp: number; readonly dst: number }
  | {
    readonly kernel: "swiglu";
    readonly gate: number;
    readonly up: number;
    readonly out: number;
    readonly n: number;
    readonly width: number;
  };

/** A job's item: a matrix product, attention, or work split by tokens. */
export type JobItem = MatmulItem | AttentionItem | TokensItem;

/** The kernel number of attention items (after {@linkcode KERNELS}), then of the tokens' items. */
const ATTENTION: number = KERNELS.length;
const Q8_ACT: number = ATTENTION + 1;
const SWIGLU: number = ATTENTION + 2;

/**
 * Write a job's items into the control block (the caller then bumps the generation).
 *
 * @param ctrl the control block
 * @param items the products and attention
 * @param threads the threads sharing them
 */
export function writeJob(ctrl: Int32Array, items: readonly JobItem[], threads: number): void {
  if (items.length > MAX_ITEMS) throw new RangeError(`at most ${MAX_ITEMS} items per job`);
  ctrl[CTRL.items] = items.length;
  ctrl[CTRL.threads] = threads;
  items.forEach((it, i) => {
    const at = CTRL.first + i * ITEM_INTS;
    if (it.kernel === "attn_heads") {
      ctrl[at] = ATTENTION;
      const { q, k, v, stride, heads, kvHeads, dim, n, position, window, slopes, scores, out } = it;
      ctrl.set([q, k, v, stride, heads, kvHeads, dim, n, position, window, slopes, scores, out], at + 1);
      return;
    }
    if (it.kernel === "q8_act") {
      ctrl[at] = Q8_ACT;
      ctrl[at + 1] = it.n;
      ctrl[at + 2] = it.x;
      ctrl[at + 3] = it.inp;
      ctrl[at + 4] = it.dst;
      return;
    }
    if (it.kernel === "swiglu") {
      ctrl[at] = SWIGLU;
      ctrl[at + 1] = it.n;
      ctrl[at + 2] = it.gate;
      ctrl[at + 3] = it.up;
      ctrl[at + 4] = it.out;
      ctrl[at + 5] = it.width;
      return;
    }
    ctrl[at] = KERNELS.indexOf(it.kernel);
    ctrl[at + 1] = it.w;
    ctrl[at + 2] = it.x;
    ctrl[at + 3] = it.y;
    ctrl[at + 4] = it.inp;
    ctrl[at + 5] = it.out;
    ctrl[at + 6] = it.n;
    ctrl[at + 7] = it.mem ?? 0;
  });
}

/**
 * The rows thread `part` of `threads` computes: contiguous, in multiples of 4.
 *
 * @param rows rows of the matrix
 * @param part this thread
 * @param threads all threads
 * @returns `[r0, r1)`
 *
 * @example
 * ```ts
 * import { shareOf } from "./_matmul_job.ts";
 * if (shareOf(10, 0, 2).join() !== "0,4" || shareOf(10, 1, 2).join() !== "4,10") throw new Error();
 * ```
 */
export function shareOf(rows: number, part: number, threads: number): [number, number] {
  const cut = (p: number) => p >= threads ? rows : Math.min(rows, Math.round(rows * p / threads / 4) * 4);
  return [cut(part), cut(part + 1)];
}

/** Bytes per weight of each format as the engine holds it (block bytes ÷ block size). */
const WEIGHT_BYTES: Readonly<Record<KernelFormat, number>> = {
  f32: 4,
  bf16: 2,
  f16: 2,
  q8_0: 34 / 32,
  q4_0: 18 / 32,
  q5_0: 22 / 32,
  q4_k: 144 / 256,
  q5_k: 176 / 256,
  q6_k: Q6K_WASM_BYTES / 256,
};

/** Bytes of weights a block of rows holds, so that the later tokens read it from the cache. */
const CACHED_ROWS_BYTES = 256 * 1024;

/**
 * The matrix–vector kernel for each of `n` tokens (`x` and `y` rows one after another), rows
 * taken a cache-sized block at a time: the block is read from memory for the first token and
 * from the cache for the others. Each token's sums are the single-token kernel's, bit for bit,
 * whatever `n` is: the batched decode step of several sessions.
 *
 * @example
 * ```ts
 * import { mvTokens } from "./_matmul_job.ts";
 * const calls: number[][] = [];
 * mvTokens((w, x, y, inp, r0, r1) => calls.push([x, y, r0, r1]), "mv_f32", 0, 1000, 5000, 65536, 8, 2, 0, 8);
 * // 65536 f32 columns: 256 KiB a row, so blocks of 4 rows; each block for token 0, then token 1.
 * if (JSON.stringify(calls) !== "[[1000,5000,0,4],[263144,5032,0,4],[1000,5000,4,8],[263144,5032,4,8]]") {
 *   throw new Error(JSON.stringify(calls));
 * }
 * ```
 */
export function mvTokens(
  mv: (w: number, x: number, y: number, inp: number, r0: number, r1: number) => void,
  kernel: KernelName,
  w: number,
  x: number,
  y: number,
  inp: number,
  out: number,
  n: number,
  r0: number,
  r1: number,
): void {
  if (n <= 1) return mv(w, x, y, inp, r0, r1);
  const rowBytes = inp * WEIGHT_BYTES[kernel.slice(3) as KernelFormat];
  const block = Math.max(4, Math.floor(CACHED_ROWS_BYTES / rowBytes / 4) * 4);
  for (let b = r0; b < r1; b += block) {
    const e = Math.min(r1, b + block);
    for (let t = 0; t < n; t++) mv(w, x + t * inp * 4, y + t * out * 4, inp, b, e);
  }
}

/**
 * This thread's part of an attention item at slot `at`: its share of the key/value heads (with
 * their query heads; none where there are more threads than heads), for the tokens in turn, up to
 * {@linkcode ATTENTION_QUERIES} at a time (those whose sliding window starts at the same position).
 */
function attentionShare(k: KernelExports, ctrl: Int32Array, at: number, part: number, threads: number): void {
  const [q, keys, values, stride, heads, kvHeads, dim, n, position, window, slopes, scores, out] = ctrl.subarray(
    at + 1,
    at + 14,
  );
  const kv0 = Math.round(kvHeads * part / threads), kv1 = Math.round(kvHeads * (part + 1) / threads);
  if (kv0 >= kv1) return;
  const group = heads / kvHeads, h0 = kv0 * group, headBytes = dim * 4, tokenBytes = heads * headBytes;
  const scale = 1 / Math.sqrt(dim);
  // Each thread's scores from its first head times a block's tokens times the most positions a
  // token attends: apart, though the threads go through the tokens at their own pace.
  const most = position + n;
  for (let t = 0, nq = 1; t < n; t += nq) {
    const from = firstAttended(position + t, window || undefined);
    nq = 1;
    while (nq < ATTENTION_QUERIES && t + nq < n && firstAttended(position + t + nq, window || undefined) === from) nq++;
    const count = position + t + nq - from;
    k.attn_heads(
      q + t * tokenBytes + h0 * headBytes,
      keys + from * stride + kv0 * headBytes,
      values + from * stride + kv0 * headBytes,
      stride,
      (kv1 - kv0) * group,
      group,
      dim,
      count,
      nq,
      tokenBytes,
      scale,
      slopes && slopes + h0 * 4,
      scores + h0 * ATTENTION_QUERIES * most * 4,
      out + t * tokenBytes + h0 * headBytes,
    );
  }
}

/**
 * The tokens thread `part` of `threads` takes of `n`: a contiguous run, the runs in thread order.
 *
 * @param n tokens
 * @param part the thread
 * @param threads threads in all
 * @returns the first token and the one past the last
 *
 * @example
 * ```ts
 * import { tokensOf } from "./_matmul_job.ts";
 * if (tokensOf(5, 0, 2).join() !== "0,2" || tokensOf(5, 1, 2).join() !== "2,5") throw new Error();
 * ```
 */
export function tokensOf(n: number, part: number, threads: number): [number, number] {
  return [Math.floor(n * part / threads), Math.floor(n * (part + 1) / threads)];
}

/** This thread's tokens of a `q8_act` or `swiglu` item at slot `at` (either holds its tokens first). */
function tokensShare(k: KernelExports, ctrl: Int32Array, at: number, part: number, threads: number): void {
  const [t0, t1] = tokensOf(ctrl[at + 1], part, threads);
  if (t0 >= t1) return;
  if (ctrl[at] === Q8_ACT) {
    const inp = ctrl[at + 3];
    k.q8_act(ctrl[at + 2] + t0 * inp * 4, t1 - t0, inp, ctrl[at + 4] + int8InputBytes(t0, inp));
  } else {
    const bytes = ctrl[at + 5] * 4;
    k.swiglu(ctrl[at + 2] + t0 * bytes, ctrl[at + 3] + t0 * bytes, ctrl[at + 4] + t0 * bytes, (t1 - t0) * ctrl[at + 5]);
  }
}

/**
 * Compute this thread's share of every item in the control block: its rows of each product, its
 * heads of each attention, its tokens of each token-wise item.
 *
 * @param ks the kernels bound to each weights' memory
 * @param ctrl the control block
 * @param part this thread (0 is the caller)
 * @param scratch this thread's scratch pointer (4 rows of the widest input, in f32)
 */
export function runShare(ks: readonly KernelExports[], ctrl: Int32Array, part: number, scratch: number): void {
  const items = ctrl[CTRL.items];
  const threads = ctrl[CTRL.threads];
  for (let i = 0; i < items; i++) {
    const at = CTRL.first + i * ITEM_INTS;
    const kind = ctrl[at];
    if (kind === ATTENTION) {
      attentionShare(ks[0], ctrl, at, part, threads);
      continue;
    }
    if (kind === Q8_ACT || kind === SWIGLU) {
      tokensShare(ks[0], ctrl, at, part, threads);
      continue;
    }
    const [w, x, y, inp, out, n] = [ctrl[at + 1], ctrl[at + 2], ctrl[at + 3], ctrl[at + 4], ctrl[at + 5], ctrl[at + 6]];
    const [r0, r1] = shareOf(out, part, threads);
    if (r0 >= r1) continue;
    const kernel = KERNELS[ctrl[at]];
    const k = ks[ctrl[at + 7]];
    if (kernel === "mm_f32") k.mm_f32(w, x, y, inp, out, r0, r1, n);
    else if (kernel.startsWith("i8_")) k[kernel as `i8_${Int8KernelFormat}`](w, x, y, inp, out, r0, r1, n);
    else if (kernel.startsWith("mv_")) {
      mvTokens(k[kernel as `mv_${KernelFormat}`], kernel, w, x, y, inp, out, n, r0, r1);
    } else {
      k[kernel as `mm_${Exclude<KernelFormat, "f32">}` | `p8_${Int8KernelFormat}`](
        w,
        x,
        y,
        inp,
        out,
        r0,
        r1,
        n,
        scratch,
      );
    }
  }
}
