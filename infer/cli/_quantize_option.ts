/**
 * The memory options of the commands that load a model: `--quantize` (`infer`, `serve`,
 * `perplexity`, `inspect`), with IEPile's `--bits` (and `--quantization_bit`) as its aliases (4 bits
 * is `q4_k_m`, 8 bits `q8_0`), `--kv-cache` and `--activations` (`infer`, `serve`, `perplexity`);
 * and `--threads`, which the same commands give the cpu engine (and llama.cpp).
 *
 * @module
 */

import { UsageError } from "../../io/errors.ts";
import { presetForBits, type QuantPreset } from "../formats/quant_preset.ts";

/** The presets `--quantize` takes. */
export const QUANTIZE_CHOICES: readonly QuantPreset[] = ["q8_0", "q6_k", "q4_k_m", "q4_0"];

/** The help lines of `--quantize`, for the commands' help texts. */
export const QUANTIZE_HELP: string =
  `  --quantize P          quantize the weights as they load, after the LoRA merge, with one of
                        llama.cpp's presets: q8_0, q6_k, q4_k_m (4.8 bits per weight), q4_0;
                        IEPile's --bits 4 and --bits 8 mean q4_k_m and q8_0`;

/**
 * The preset asked for by `--quantize`, `--bits` or `--quantization_bit`, if any.
 *
 * @param values the parsed options
 * @param command the command (for messages)
 * @returns the preset, or `undefined` for full precision
 * @throws {UsageError} for an unknown preset, a bit count other than 4 or 8, or two that disagree
 *
 * @example
 * ```ts
 * import { quantizeOption } from "./_quantize_option.ts";
 * if (quantizeOption({ bits: "4" }, "infer") !== "q4_k_m" || quantizeOption({}, "infer") !== undefined) throw new Error();
 * ```
 */
export function quantizeOption(
  values: Readonly<Record<string, string | boolean | undefined>>,
  command: string,
): QuantPreset | undefined {
  const asked: Array<[string, QuantPreset]> = [];
  const q = values.quantize;
  if (q !== undefined) {
    if (typeof q !== "string" || !(QUANTIZE_CHOICES as readonly string[]).includes(q)) {
      throw new UsageError(`${command}: --quantize is ${QUANTIZE_CHOICES.join(", ")}; got "${q}"`);
    }
    asked.push(["--quantize", q as QuantPreset]);
  }
  for (const flag of ["bits", "quantization_bit"]) {
    const b = values[flag];
    if (b === undefined) continue;
    const preset = presetForBits(Number(b));
    if (preset === undefined) throw new UsageError(`${command}: --${flag} is 4 or 8; got "${b}"`);
    asked.push([`--${flag}`, preset]);
  }
  const first = asked[0];
  const other = asked.find(([, p]) => p !== first?.[1]);
  if (first && other) {
    throw new UsageError(`${command}: ${first[0]} asks for ${first[1]} and ${other[0]} for ${other[1]}; give one`);
  }
  return first?.[1];
}

/** The help lines of `--kv-cache`. */
export const KV_CACHE_HELP: string =
  `  --kv-cache F          the KV cache's format: f32 (default) or f16, half the memory (llama.cpp's
                        default): a 13B model's cache at 1,024 tokens is 1.68 GB in f32, 0.84 GB in f16`;

/**
 * The KV cache format `--kv-cache` asks for.
 *
 * @param value the option's value
 * @param command the command (for messages)
 * @returns `f32`, `f16`, or `undefined` when not given
 * @throws {UsageError} for another value
 *
 * @example
 * ```ts
 * import { kvCacheOption } from "./_quantize_option.ts";
 * if (kvCacheOption("f16", "infer") !== "f16" || kvCacheOption(undefined, "infer") !== undefined) throw new Error();
 * ```
 */
export function kvCacheOption(value: string | boolean | undefined, command: string): "f32" | "f16" | undefined {
  if (value === undefined) return undefined;
  if (value !== "f32" && value !== "f16") throw new UsageError(`${command}: --kv-cache is f32 or f16; got "${value}"`);
  return value;
}

/** The help lines of `--activations`. */
export const ACTIVATIONS_HELP: string =
  `  --activations A       int8 or f32 (default: int8 on cpu, f32 on webgpu). int8: quantized weights
                        (q8_0, q4_0, q5_0, q4_k, q5_k, q6_k) meet activations rounded to 8 bits,
                        multiplied in integers, as llama.cpp always does (cpu: every block format,
                        answers 2-3× faster; webgpu: q8_0 and q4_0). Other weights: no effect`;

/**
 * The activations `--activations` asks for.
 *
 * @param value the option's value
 * @param command the command (for messages)
 * @returns `int8` or `f32`, or `undefined` when not given (the engine's default, see
 *   {@linkcode int8DotOf})
 * @throws {UsageError} for another value
 *
 * @example
 * ```ts
 * import { activationsOption } from "./_quantize_option.ts";
 * if (activationsOption("int8", "infer") !== "int8" || activationsOption("f32", "infer") !== "f32") throw new Error();
 * if (activationsOption(undefined, "infer") !== undefined) throw new Error();
 * ```
 */
export function activationsOption(value: string | boolean | undefined, command: string): "int8" | "f32" | undefined {
  if (value === undefined) return undefined;
  if (value !== "int8" && value !== "f32") {
    throw new UsageError(`${command}: --activations is int8 or f32; got "${value}"`);
  }
  return value;
}

/**
 * Whether quantized weights meet 8-bit activations (the engines' `int8Dot`): where
 * `--activations int8` asks for them, and by default on the cpu engine, as llama.cpp does on a
 * CPU (answers 2–3× faster than with f32 activations there: `bench/infer_bench.ts`'s decode of
 * `q4_k_m` and `q8_0`, and `infer` on 12 records at once). The WebGPU engine keeps f32
 * activations unless asked: its 8-bit products cover `q8_0` and `q4_0` only.
 *
 * @param activations what `--activations` asked for ({@linkcode activationsOption})
 * @param engine the engine that runs (`cpu`, `webgpu`)
 * @returns the engine's `int8Dot`
 *
 * @example
 * ```ts
 * import { int8DotOf } from "./_quantize_option.ts";
 * if (!int8DotOf(undefined, "cpu") || int8DotOf("f32", "cpu") || int8DotOf(undefined, "webgpu")) throw new Error();
 * if (!int8DotOf("int8", "webgpu")) throw new Error();
 * ```
 */
export function int8DotOf(activations: "int8" | "f32" | undefined, engine: string): boolean {
  return activations === "int8" || (activations === undefined && engine === "cpu");
}

/**
 * The refusal of `--activations f32` with llama.cpp on quantized weights: llama.cpp always
 * rounds their activations to 8 bits.
 *
 * @param command the command (for the message)
 * @returns the error to throw
 *
 * @example
 * ```ts
 * import { f32Refused } from "./_quantize_option.ts";
 * if (!f32Refused("infer").message.includes("--engine cpu")) throw new Error();
 * ```
 */
export function f32Refused(command: string): UsageError {
  return new UsageError(
    `${command}: llama.cpp always rounds the activations of quantized weights to 8 bits; ` +
      "--activations f32 needs --engine cpu or webgpu",
  );
}

/** The help lines of `--threads` for the local engines. */
export const THREADS_HELP: string =
  `  --threads N           cpu: threads computing the weights' products (default: the cores
                        available); llamacpp: CPU threads (default 1)`;

/**
 * The thread count `--threads` asks for.
 *
 * @param value the option's value
 * @param command the command, for the message
 * @returns the count, or undefined for the default
 * @throws {UsageError} for anything but a whole number ≥ 1
 *
 * @example
 * ```ts
 * import { threadsOption } from "./_quantize_option.ts";
 * if (threadsOption("2", "infer") !== 2 || threadsOption(undefined, "infer") !== undefined) throw new Error();
 * ```
 */
export function threadsOption(value: string | boolean | undefined, command: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== "string" || !Number.isInteger(n) || n < 1 || n > 256) {
    throw new UsageError(`${command}: --threads is a whole number from 1 to 256; got "${value}"`);
  }
  return n;
}
