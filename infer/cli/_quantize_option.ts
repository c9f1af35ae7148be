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
  `  --activations A       f32 (default) or int8: quantized weights (q8_0, q4_0, q5_0, q4_k, q5_k, q6_k)
                        meet activations rounded to 8 bits, multiplied in integers, as llama.cpp does
                        (cpu: every block format, q8_0 decoded about twice as fast; webgpu: q8_0
                        and q4_0)`;

/**
 * The activations `--activations` asks for.
 *
 * @param value the option's value
 * @param command the command (for messages)
 * @returns `int8`, or `undefined` for f32 (the default)
 * @throws {UsageError} for another value
 *
 * @example
 * ```ts
 * import { activationsOption } from "./_quantize_option.ts";
 * if (activationsOption("int8", "infer") !== "int8" || activationsOption("f32", "infer") !== undefined) throw new Error();
 * ```
 */
export function activationsOption(value: string | boolean | undefined, command: string): "int8" | undefined {
  if (value === undefined || value === "f32") return undefined;
  if (value !== "int8") throw new UsageError(`${command}: --activations is f32 or int8; got "${value}"`);
  return value;
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
