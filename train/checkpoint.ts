/**
 * Checkpoints of a training run, `<output_dir>/checkpoint-<step>/`: the adapter as PEFT saves it,
 * plus what resuming needs to continue bit for bit — the pairs and AdamW's moments in double
 * precision (`state.bin`) and the step and settings (`trainer_state.json`). A checkpoint is
 * written in a temporary folder and renamed into place, so a killed run leaves either the whole
 * checkpoint or none.
 *
 * @module
 */

import { join } from "node:path";
import { InputError } from "../io/errors.ts";
import { trackTempFile } from "../io/temp_files.ts";
import type { LoraModule } from "./lora_model.ts";
import type { AdamWState } from "./adamw.ts";
import { type AdapterSettings, saveAdapter } from "./peft_adapter.ts";

/** What a checkpoint records besides the tensors. */
export interface CheckpointState {
  /** Optimisation steps done. */
  readonly globalStep: number;
  /** Epochs done, fractional. */
  readonly epoch: number;
  /** The settings that decide the result (a resumed run must have the same). */
  readonly fingerprint: Readonly<Record<string, unknown>>;
}

/** The moments of each module's `A` and `B` (same order as the modules). */
export interface OptimizerState {
  /** Moments of each `A`. */
  readonly a: AdamWState[];
  /** Moments of each `B`. */
  readonly b: AdamWState[];
}

const STATE = "state.bin";
const TRAINER_STATE = "trainer_state.json";

/** The arrays `state.bin` holds, in order. */
function stateArrays(modules: readonly LoraModule[], opt: OptimizerState): Float64Array[] {
  return modules.flatMap((m, i) => [m.pair.a, m.pair.b, opt.a[i].m, opt.a[i].v, opt.b[i].m, opt.b[i].v]);
}

/**
 * Write `checkpoint-<step>` into the output folder.
 *
 * @param outputDir the run's output folder
 * @param modules the LoRA modules
 * @param opt AdamW's moments
 * @param state step, epoch, settings
 * @param adapter the adapter's settings
 * @returns the checkpoint folder
 *
 * @example
 * ```ts
 * import { latestCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * const out = await Deno.makeTempDir();
 * const z = () => new Float64Array(2);
 * const pair = { a: new Float64Array([1, 2]), b: new Float64Array([3]), r: 1, inp: 2, out: 1, scale: 2 };
 * const modules = [{ name: "model.layers.0.mlp.down_proj", layer: 0, slot: "down" as const, offset: 0, pair }];
 * const opt = { a: [{ m: z(), v: z() }], b: [{ m: new Float64Array(1), v: new Float64Array(1) }] };
 * await saveCheckpoint(out, modules, opt, { globalStep: 3, epoch: 1, fingerprint: {} },
 *   { r: 1, alpha: 2, dropout: 0, targets: ["down_proj"], baseModel: "m" });
 * if ((await latestCheckpoint(out))?.state.globalStep !== 3) throw new Error();
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function saveCheckpoint(
  outputDir: string,
  modules: readonly LoraModule[],
  opt: OptimizerState,
  state: CheckpointState,
  adapter: AdapterSettings,
): Promise<string> {
  const final = join(outputDir, `checkpoint-${state.globalStep}`);
  const temp = join(outputDir, `.checkpoint-${state.globalStep}.partial`);
  await Deno.remove(temp, { recursive: true }).catch(() => {});
  // A signal ending the process mid-write removes the partial folder (a kill leaves it to the next save).
  const removeTemp = () => {
    try {
      Deno.removeSync(temp, { recursive: true });
    } catch { /* already gone */ }
  };
  const untrack = trackTempFile(removeTemp);
  try {
    await Deno.mkdir(temp, { recursive: true });
    await saveAdapter(temp, modules, adapter);
    const arrays = stateArrays(modules, opt);
    const bytes = new Uint8Array(arrays.reduce((s, a) => s + a.byteLength, 0));
    let at = 0;
    for (const a of arrays) {
      bytes.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
      at += a.byteLength;
    }
    await Deno.writeFile(join(temp, STATE), bytes);
    await Deno.writeTextFile(join(temp, TRAINER_STATE), JSON.stringify(state, null, 2) + "\n");
    await Deno.remove(final, { recursive: true }).catch(() => {});
    await Deno.rename(temp, final);
  } catch (e) {
    removeTemp();
    throw e;
  } finally {
    untrack();
  }
  return final;
}

/**
 * The checkpoint with the most steps in an output folder, if any.
 *
 * @param outputDir the run's output folder
 * @returns its folder and state, or undefined
 *
 * @example
 * ```ts
 * import { latestCheckpoint } from "./checkpoint.ts";
 * if (await latestCheckpoint("/no/such/folder") !== undefined) throw new Error();
 * ```
 */
export async function latestCheckpoint(
  outputDir: string,
): Promise<{ dir: string; state: CheckpointState } | undefined> {
  const steps = await checkpointSteps(outputDir);
  if (steps.length === 0) return undefined;
  const dir = join(outputDir, `checkpoint-${steps.at(-1)}`);
  const file = join(dir, TRAINER_STATE);
  try {
    return { dir, state: JSON.parse(await Deno.readTextFile(file)) as CheckpointState };
  } catch (e) {
    throw new InputError(`unreadable checkpoint state (${(e as Error).message})`, { file });
  }
}

/** The steps of the checkpoints in an output folder, ascending. */
async function checkpointSteps(outputDir: string): Promise<number[]> {
  const steps: number[] = [];
  try {
    for await (const e of Deno.readDir(outputDir)) {
      const m = /^checkpoint-(\d+)$/.exec(e.name);
      if (m && e.isDirectory) steps.push(Number(m[1]));
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return steps.sort((a, b) => a - b);
}

/**
 * Load a checkpoint's pairs and moments into the modules and optimiser state (same modules, same
 * order, as the run that wrote it).
 *
 * @param dir the checkpoint folder
 * @param modules the LoRA modules, overwritten
 * @param opt AdamW's moments, overwritten
 * @throws {InputError} when the checkpoint does not fit the modules
 *
 * @example
 * ```ts
 * import { restoreCheckpoint, saveCheckpoint } from "./checkpoint.ts";
 * const out = await Deno.makeTempDir();
 * const pair = { a: new Float64Array([1 / 3]), b: new Float64Array([3]), r: 1, inp: 1, out: 1, scale: 2 };
 * const modules = [{ name: "model.layers.0.mlp.down_proj", layer: 0, slot: "down" as const, offset: 0, pair }];
 * const opt = { a: [{ m: new Float64Array(1), v: new Float64Array(1) }], b: [{ m: new Float64Array(1), v: new Float64Array(1) }] };
 * const dir = await saveCheckpoint(out, modules, opt, { globalStep: 1, epoch: 1, fingerprint: {} },
 *   { r: 1, alpha: 2, dropout: 0, targets: ["down_proj"], baseModel: "m" });
 * pair.a[0] = 0;
 * await restoreCheckpoint(dir, modules, opt);
 * if (pair.a[0] !== 1 / 3) throw new Error("double precision survives");
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function restoreCheckpoint(
  dir: string,
  modules: readonly LoraModule[],
  opt: OptimizerState,
): Promise<void> {
  const file = join(dir, STATE);
  const bytes = await Deno.readFile(file);
  const arrays = stateArrays(modules, opt);
  const want = arrays.reduce((s, a) => s + a.byteLength, 0);
  if (bytes.byteLength !== want) {
    throw new InputError(`holds ${bytes.byteLength} bytes, the run's LoRA needs ${want} (other targets or rank?)`, {
      file,
    });
  }
  const values = new Float64Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 8);
  let at = 0;
  for (const a of arrays) {
    a.set(values.subarray(at, at + a.length));
    at += a.length;
  }
}

/**
 * Remove the oldest checkpoints beyond a limit.
 *
 * @param outputDir the run's output folder
 * @param keep how many to keep (undefined: all)
 * @returns the steps removed
 *
 * @example
 * ```ts
 * import { pruneCheckpoints } from "./checkpoint.ts";
 * const out = await Deno.makeTempDir();
 * for (const s of [1, 2, 3]) await Deno.mkdir(`${out}/checkpoint-${s}`);
 * if ((await pruneCheckpoints(out, 1)).join() !== "1,2") throw new Error();
 * await Deno.remove(out, { recursive: true });
 * ```
 */
export async function pruneCheckpoints(outputDir: string, keep: number | undefined): Promise<number[]> {
  if (keep === undefined) return [];
  const steps = await checkpointSteps(outputDir);
  const old = steps.slice(0, Math.max(0, steps.length - Math.max(keep, 1)));
  for (const s of old) await Deno.remove(join(outputDir, `checkpoint-${s}`), { recursive: true });
  return old;
}
