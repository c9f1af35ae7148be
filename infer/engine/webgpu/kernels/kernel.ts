/**
 * What every kernel constructor returns, and the shape checks they share. A constructor checks
 * the shapes it is given and returns a {@linkcode KernelCall}: its WGSL, its packed parameters,
 * the buffers it binds and its grid. Turning a call into a pipeline and a bind group is the
 * recorder's job (`../record.ts`).
 *
 * Binding order of every kernel: 0 its parameters, 1 the step uniform (when `step`), then
 * `buffers` in order.
 *
 * @module
 */

/** The kernel roles, for profiles and counts (the last four are the WebGPU trainer's). */
export type KernelRole =
  | "embed"
  | "rmsnorm"
  | "matmul"
  | "matvec"
  | "matvec_swiglu"
  | "matvec_qkv"
  | "rope"
  | "attn_scores"
  | "softmax"
  | "attn_values"
  | "attention"
  | "swiglu"
  | "argmax"
  | "kv_store"
  | "kv_append"
  | "quantize_x"
  | "gemm"
  | "add"
  | "dropout"
  | "cross_entropy";

/** Workgroup counts from the step's token count and the keys cached after it. */
export type Grid = (n: number, kvLen: number) => [number, number, number];

/** One kernel, ready to record: WGSL, parameters, bindings and grid. */
export interface KernelCall {
  /** The kernel role (for profiles). */
  readonly role: KernelRole;
  /** WGSL source (the pipeline cache's key). */
  readonly code: string;
  /** The parameter uniform's bytes (binding 0). */
  readonly params: ArrayBuffer;
  /** Whether binding 1 is the step uniform. */
  readonly step: boolean;
  /** The storage buffers, bound from 1 (or 2 after the step) in order. */
  readonly buffers: readonly GPUBuffer[];
  /** The dispatch grid. */
  readonly grid: Grid;
}

/**
 * Throw unless a shape condition holds.
 *
 * @param kernel the kernel's name
 * @param ok the condition
 * @param what what must hold, for the message
 * @throws {RangeError} when `ok` is false
 *
 * @example
 * ```ts
 * import { checkShape } from "./kernel.ts";
 * checkShape("rope", 64 % 2 === 0, "head_dim must be even");
 * ```
 */
export function checkShape(kernel: string, ok: boolean, what: string): void {
  if (!ok) throw new RangeError(`kernel ${kernel}: ${what}`);
}

/**
 * Throw unless a buffer holds at least `elements` 4-byte elements.
 *
 * @param kernel the kernel's name
 * @param name the binding's name
 * @param buffer the buffer
 * @param elements elements the kernel may touch
 * @throws {RangeError} when the buffer is smaller
 *
 * @example
 * ```ts
 * import { checkElements } from "./kernel.ts";
 * checkElements("softmax", "s", { size: 64 } as GPUBuffer, 16);
 * ```
 */
export function checkElements(kernel: string, name: string, buffer: GPUBuffer, elements: number): void {
  checkShape(kernel, buffer.size >= elements * 4, `${name} holds ${buffer.size / 4} elements, needs ${elements}`);
}
