/**
 * The `cpu` engine: the forward pass in plain TypeScript, written to read like the maths. It is
 * the oracle the WebGPU engine is checked against.
 *
 * Map:
 * - `cpu_engine.ts`: {@linkcode CpuEngine} and its sessions (KV cache, forward step, logits).
 * - `cpu_math.ts`: the operations of one step (`matmul`, `rmsnorm`, `rope`, `softmax`,
 *   `swiglu`), also the reference the GPU kernels are tested against.
 *
 * Data enters as a `LoadedModel` and token ids, and leaves as next-token logits.
 *
 * @example
 * ```ts
 * import { CpuEngine } from "./mod.ts";
 * import { loadModel } from "../../model/mod.ts";
 * import { writeRandomModel } from "../../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const session = new CpuEngine(await loadModel(dir)).createSession();
 * if ((await session.forward([1, 2])).length !== 16) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

export { CpuEngine, type CpuEngineOptions } from "./cpu_engine.ts";
export { addInPlace, dot, firstAttended, matmul, rmsnorm, rope, softmax, swiglu } from "./cpu_math.ts";
