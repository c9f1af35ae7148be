/**
 * The flags of IEPile's `src/inference.py` that `iepile infer` accepts, so that IEPile's own
 * prediction command runs with `iepile infer` in front: those with a meaning here are mapped
 * onto this command's options, the others are accepted, ignored and named in one line.
 *
 * @module
 */

import type { OptionSpec, ParsedArgs } from "../../io/args.ts";
import { UsageError } from "../../io/errors.ts";

/**
 * Flags of IEPile's src/inference.py that mean nothing here (the engine, template and adapter
 * decide), but for `--model_name`: the model family there (`llama`), the served model's name
 * with `--engine openai` (see {@linkcode applyIepileFlags}).
 */
const IGNORED_STRINGS = [
  "stage",
  "model_name",
  "finetuning_type",
  "output_dir",
  "num_beams",
  "max_length",
  "max_target_length",
  "per_device_eval_batch_size",
  "lora_target_modules",
  "cache_dir",
] as const;
const IGNORED_FLAGS = [
  "do_predict",
  "predict_with_generate",
  "bf16",
  "fp16",
  "overwrite_output_dir",
  "overwrite_cache",
] as const;

/**
 * The option specs of IEPile's flags that have no counterpart among `infer`'s own options (the
 * ones mapped by {@linkcode applyIepileFlags} and the ignored ones), to merge into the command's
 * spec.
 *
 * @example
 * ```ts
 * import { IEPILE_SPEC } from "./_iepile_flags.ts";
 * if (IEPILE_SPEC.bf16.type !== "boolean" || IEPILE_SPEC.max_source_length.type !== "string") throw new Error();
 * ```
 */
export const IEPILE_SPEC: OptionSpec = Object.fromEntries([
  ["max_source_length", { type: "string" as const, aliases: ["max-source-length"] }],
  // IEPile's on-the-fly quantization: read as --quantize (4 bits: q4_k_m, 8 bits: q8_0).
  ["bits", { type: "string" as const }],
  ["quantization_bit", { type: "string" as const }],
  ...IGNORED_STRINGS.map((name) => [name, { type: "string" as const }]),
  ...IGNORED_FLAGS.map((name) => [name, { type: "boolean" as const }]),
]);

/**
 * IEPile's flags in `args`: the ones ignored here (in the order given), and the arguments with
 * the value some write after a boolean flag (`--bf16 True`, as Hugging Face's parser allows)
 * folded away, so that a flag never swallows the next option and a value is never left over.
 *
 * @param args the command's arguments
 * @returns the arguments to parse, and the IEPile flags found that are ignored here (`--name`)
 *
 * @example
 * ```ts
 * import { iepileArgs } from "./_iepile_flags.ts";
 * const { args, ignored } = iepileArgs(["--bf16", "True", "--stage", "sft", "--input", "t.json"]);
 * if (args.join(" ") !== "--bf16 --stage sft --input t.json") throw new Error(args.join(" "));
 * if (ignored.join(" ") !== "--bf16 --stage") throw new Error(ignored.join(" "));
 * ```
 */
export function iepileArgs(args: readonly string[]): { args: string[]; ignored: string[] } {
  const ignored: string[] = [];
  const out: string[] = [];
  const flags = new Set<string>(IGNORED_FLAGS);
  const strings = new Set<string>(IGNORED_STRINGS);
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === "--") {
      out.push(...args.slice(i));
      break;
    }
    const name = a.startsWith("--") ? a.slice(2).split("=")[0] : "";
    if (flags.has(name) || strings.has(name)) {
      if (!ignored.includes(`--${name}`)) ignored.push(`--${name}`);
      if (flags.has(name) && !a.includes("=") && /^(true|false)$/i.test(args[i + 1] ?? "")) {
        out.push(`--${name}`);
        i++;
        continue;
      }
      if (flags.has(name) && a.includes("=")) {
        out.push(`--${name}`);
        continue;
      }
    }
    out.push(a);
  }
  return { args: out, ignored };
}

/**
 * Map IEPile's flags that mean something here onto `infer`'s options, in place:
 * `--max_source_length` is `--cutoff-len` (IEPile's scripts cut prompts there) unless
 * `--cutoff-len` is given, when it is ignored too; with `--engine openai`, `--model_name` is
 * `--model-name` (the served model: on a server with several models or adapters the default,
 * the first listed, would answer with another model), elsewhere IEPile's model family, ignored.
 *
 * @param values the parsed options (changed in place)
 * @param ignored the IEPile flags ignored so far (as {@linkcode iepileArgs} found them)
 * @returns the IEPile flags ignored, in the order given
 * @throws {UsageError} when `--model_name` and `--model-name` name two models
 *
 * @example
 * ```ts
 * import { applyIepileFlags } from "./_iepile_flags.ts";
 * const v: Record<string, string | boolean | undefined> = { max_source_length: "256" };
 * const ignored = applyIepileFlags(v, ["--stage"]);
 * if (v["cutoff-len"] !== "256" || ignored.join(" ") !== "--stage") throw new Error();
 * const served: Record<string, string | boolean | undefined> = { engine: "openai", model_name: "my-lora" };
 * if (applyIepileFlags(served, ["--model_name"]).length !== 0 || served["model-name"] !== "my-lora") throw new Error();
 * ```
 */
export function applyIepileFlags(
  values: ParsedArgs["values"],
  ignored: readonly string[],
): string[] {
  let out = [...ignored];
  if (values.engine === "openai" && values.model_name !== undefined) {
    const given = values["model-name"];
    if (given !== undefined && given !== values.model_name) {
      throw new UsageError(
        `infer: --model_name ${values.model_name} and --model-name ${given} name two models; give one`,
      );
    }
    values["model-name"] = values.model_name;
    out = out.filter((flag) => flag !== "--model_name");
  }
  if (values["cutoff-len"] === undefined && values.max_source_length !== undefined) {
    values["cutoff-len"] = values.max_source_length;
  } else if (values.max_source_length !== undefined) out.push("--max_source_length");
  return out;
}
