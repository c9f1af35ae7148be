/**
 * Trained LoRA pairs as a PEFT adapter folder (`adapter_config.json` and
 * `adapter_model.safetensors`, tensors named `base_model.model.<module>.lora_A.weight` /
 * `.lora_B.weight`), which `infer --lora`, `serve --lora`, `export-gguf --lora` and PEFT load;
 * and an adapter folder read back into trainable pairs, to continue training it.
 *
 * @module
 */

import { join } from "node:path";
import { writeAtomically } from "../io/atomic_write.ts";
import { InputError } from "../io/errors.ts";
import { AdapterFolder, type LoadedModel } from "../infer/model/mod.ts";
import { encodeSafetensors, tensorToF32, type TensorToWrite } from "../infer/formats/mod.ts";
import { type LoraModule, targetModules } from "./lora_model.ts";

/** The settings an adapter's config records. */
export interface AdapterSettings {
  /** Rank. */
  readonly r: number;
  /** Alpha. */
  readonly alpha: number;
  /** Dropout while training. */
  readonly dropout: number;
  /** The target names given (written as PEFT's `target_modules`). */
  readonly targets: readonly string[];
  /** The base model, as the user named it. */
  readonly baseModel: string;
}

/**
 * Write an adapter folder (each file atomically; f32 tensors).
 *
 * @param dir the folder (created if needed)
 * @param modules the trained modules
 * @param s rank, alpha, dropout, targets, base model
 * @returns the two paths written
 *
 * @example
 * ```ts
 * import { saveAdapter } from "./peft_adapter.ts";
 * const dir = await Deno.makeTempDir();
 * const pair = { a: new Float64Array([1, 2]), b: new Float64Array([3]), r: 1, inp: 2, out: 1, scale: 2 };
 * await saveAdapter(dir, [{ name: "model.layers.0.self_attn.q_proj", layer: 0, slot: "qkv", offset: 0, pair }],
 *   { r: 1, alpha: 2, dropout: 0, targets: ["q_proj"], baseModel: "base" });
 * const config = JSON.parse(await Deno.readTextFile(`${dir}/adapter_config.json`));
 * if (config.peft_type !== "LORA" || config.target_modules[0] !== "q_proj") throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function saveAdapter(
  dir: string,
  modules: readonly LoraModule[],
  s: AdapterSettings,
): Promise<string[]> {
  await Deno.mkdir(dir, { recursive: true });
  const tensors: Record<string, TensorToWrite> = {};
  for (const { name, pair } of modules) {
    tensors[`base_model.model.${name}.lora_A.weight`] = {
      dtype: "f32",
      shape: [pair.r, pair.inp],
      data: Float32Array.from(pair.a),
    };
    tensors[`base_model.model.${name}.lora_B.weight`] = {
      dtype: "f32",
      shape: [pair.out, pair.r],
      data: Float32Array.from(pair.b),
    };
  }
  const config = {
    base_model_name_or_path: s.baseModel,
    bias: "none",
    fan_in_fan_out: false,
    inference_mode: true,
    lora_alpha: s.alpha,
    lora_dropout: s.dropout,
    peft_type: "LORA",
    r: s.r,
    target_modules: [...s.targets],
    task_type: "CAUSAL_LM",
    use_rslora: false,
  };
  const paths = [join(dir, "adapter_config.json"), join(dir, "adapter_model.safetensors")];
  await writeAtomically(paths[0], (tmp) => Deno.writeTextFile(tmp, JSON.stringify(config, null, 2) + "\n"));
  await writeAtomically(paths[1], (tmp) => Deno.writeFile(tmp, encodeSafetensors(tensors)));
  return paths;
}

/**
 * Read an adapter folder into trainable modules for a base model (to continue training it):
 * every module it adapts, with its rank and scale, `A` and `B` widened to double precision.
 *
 * @param dir the adapter folder
 * @param base the loaded base model
 * @returns the modules, in the base checkpoint's order, and the adapter's settings
 * @throws {InputError} when the adapter does not fit the base
 *
 * @example
 * ```ts
 * import { loadAdapter } from "./peft_adapter.ts";
 * import { loadModel } from "../infer/mod.ts";
 * import { writeRandomLora, writeRandomModel } from "../infer/testing/mod.ts";
 * const base = await Deno.makeTempDir(), lora = await Deno.makeTempDir();
 * await writeRandomModel(base, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * await writeRandomLora(lora, base, { r: 2, alpha: 8, targets: ["q_proj", "down_proj"] });
 * const { modules } = await loadAdapter(lora, await loadModel(base));
 * if (modules.length !== 2 || modules[1].slot !== "down" || modules[0].pair.scale !== 4) throw new Error();
 * await Deno.remove(base, { recursive: true });
 * await Deno.remove(lora, { recursive: true });
 * ```
 */
export async function loadAdapter(
  dir: string,
  base: LoadedModel,
): Promise<{ modules: LoraModule[]; r: number; alpha: number; targets: string[] }> {
  using adapter = await AdapterFolder.open(dir);
  if (adapter.config.fanInFanOut || adapter.config.useRslora || adapter.replacements.size > 0) {
    throw new InputError(
      "only plain LoRA adapters can be trained further (no fan_in_fan_out, rslora or saved modules)",
      {
        file: join(dir, "adapter_config.json"),
      },
    );
  }
  const byName = new Map(adapter.targets.map((t) => [t.base.slice(0, -".weight".length), t]));
  const names = [...byName.keys()].map((n) => n.split(".").at(-1)!);
  const layers = targetModules(base.spec, [...new Set(names)]).filter((t) => byName.has(t.name));
  if (layers.length !== byName.size) {
    const missing = [...byName.keys()].find((n) => !layers.some((l) => l.name === n));
    throw new InputError(`the adapter adapts "${missing}", which this model does not have`, { file: dir });
  }
  const modules: LoraModule[] = [];
  for (const t of layers) {
    const target = byName.get(t.name)!;
    const a = Float64Array.from(tensorToF32(await adapter.file.read(target.a)));
    const b = Float64Array.from(tensorToF32(await adapter.file.read(target.b)));
    if (a.length !== target.r * t.inp || b.length !== t.out * target.r) {
      throw new InputError(`"${t.name}" has the wrong shape for this model`, { file: dir });
    }
    modules.push({
      name: t.name,
      layer: t.layer,
      slot: t.slot,
      offset: t.offset,
      pair: { a, b, r: target.r, inp: t.inp, out: t.out, scale: target.scale },
    });
  }
  const targets = typeof adapter.config.targetModules === "string"
    ? [...new Set(names)]
    : [...adapter.config.targetModules];
  return { modules, r: adapter.config.r, alpha: adapter.config.loraAlpha, targets };
}
