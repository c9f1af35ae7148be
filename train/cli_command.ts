/**
 * The `train` command: IEPile's `src/finetune.py` flags, verbatim (kebab-case aliases too), run
 * on this tool's trainer; or `--export-llamafactory DIR` to hand the run to LLaMA-Factory.
 *
 * @module
 */

import type { CliIo } from "../io/cli_io.ts";
import { numberOption, optionSpec, parseCommandArgs, requiredOption } from "../io/args.ts";
import { UsageError } from "../io/errors.ts";
import { formatSeconds, ProgressLine } from "../io/progress.ts";
import { LoadProgressLine } from "../infer/model/mod.ts";
import { getTemplate } from "../templates/mod.ts";
import { quantizeOption } from "../infer/mod.ts";
import { defaultTargets, TRAIN_DEFAULTS, type TrainEngineName, type TrainSettings } from "./settings.ts";

/** Help of `train`. */
export const TRAIN_HELP: string = `iepile train — LoRA fine-tuning as IEPile's src/finetune.py does it

Usage: iepile train --model_name_or_path DIR --train_file FILE --template NAME --output_dir DIR [options]

Replaces 'torchrun … src/finetune.py …': the same flags (snake_case as IEPile writes them, or
kebab-case). The train file is the converter's train split (convert --split train); the adapter
written to --output_dir is a PEFT folder that 'infer --lora', 'serve --lora' and
'export-gguf --lora' load. Started again with the same command, a run resumes from its last
checkpoint and ends with the same adapter as an uninterrupted run.

Model and data:
  --model_name_or_path DIR   the base model (Hugging Face folder, or a GGUF file)
  --model_name NAME          family for the default LoRA targets (llama, qwen2, baichuan, …;
                             default: the model's own architecture)
  --template NAME            chat template the examples are rendered with (e.g. llama2_zh, qwen)
  --train_file FILE          converted train records (JSON Lines: instruction, output)
  --valid_file FILE          records for the validation loss (default: --val_set_size held out)
  --val_set_size N           records held out of the train file with --do_eval (default 1000)
  --cutoff_len N             most tokens of one example (default 700)
  --max_target_length N      fewest tokens an output is cut to (default 300)
  --output_dir DIR           checkpoints, the log and the final adapter
  --checkpoint_dir DIR       an adapter to continue training
  --quantize P               QLoRA: quantize the frozen base as it loads (q4_k_m, q8_0, q6_k, q4_0;
                             --bits 4|8 and --quantization_bit 4|8 say the same)
  --overwrite_output_dir     start afresh instead of resuming the checkpoints in --output_dir

Optimisation (Hugging Face Trainer defaults):
  --per_device_train_batch_size N   examples per micro-batch (default 8)
  --per_device_eval_batch_size N    examples per validation batch (default 8)
  --gradient_accumulation_steps N   micro-batches per step (default 1)
  --num_train_epochs N              passes over the data (default 3)
  --learning_rate X                 AdamW's peak rate, decaying linearly to 0 (default 5e-5)
  --max_grad_norm X                 clip the gradients' norm (default 1; 0: no clipping)
  --seed N                          data order, held-out split, LoRA init, dropout (default 42)
  --do_eval                         measure the validation loss at each epoch's end
  --save_steps N                    also checkpoint every N steps (default: each epoch's end)
  --save_total_limit N              keep only the last N checkpoints

LoRA (PEFT):
  --lora_r N                 rank (default 8)
  --lora_alpha N             scale numerator (default 2·r)
  --lora_dropout X           dropout on each adapted layer's input (default 0.1)
  --lora_target_modules M…   modules to adapt, comma- or space-separated, or 'all' (default per
                             family: llama/qwen2 q,k,v,o,gate,up,down_proj; baichuan W_pack,
                             o_proj, gate_proj, down_proj, up_proj)

Elsewhere:
  --engine E                 where losses and gradients are computed: cpu (this tool's oracle,
                             double precision; the default) or webgpu (a GPU, f32, the frozen
                             weights in their stored format: 16-bit or quantized)
  --export-llamafactory DIR  write the dataset, dataset_info.json, a LoRA config and a DeepSpeed
                             ZeRO-2 config for LLaMA-Factory, and the command to run there;
                             no training here
  --quiet                    no progress line
  -h, --help                 this help

Accepted and ignored (one process; double precision on cpu, f32 on webgpu): --do_train
--stage sft --optim adamw_torch --bf16 --fp16 --deepspeed FILE --report_to X
--preprocessing_num_workers N --max_source_length N (unused by the reference on this path too)
--evaluation_strategy epoch --save_strategy epoch --logging_steps N.

The log (loss, learning rate, gradient norm, tokens/s per step) is <output_dir>/trainer_log.jsonl.
Example (after 'deno task demo-infer', which writes the demo model and a small task):
  iepile train --model_name_or_path .out/demo-infer/model --template vanilla \\
    --train_file .out/demo-infer/learn/train.json --output_dir .out/lora --num_train_epochs 16 \\
    --learning_rate 5e-3 --per_device_train_batch_size 4 --lora_r 16 --lora_alpha 32 --lora_dropout 0 \\
    --lora_target_modules all
`;

const STRINGS = [
  "model_name_or_path",
  "model_name",
  "template",
  "train_file",
  "valid_file",
  "val_set_size",
  "output_dir",
  "per_device_train_batch_size",
  "per_device_eval_batch_size",
  "gradient_accumulation_steps",
  "num_train_epochs",
  "learning_rate",
  "max_grad_norm",
  "cutoff_len",
  "max_target_length",
  "lora_r",
  "lora_alpha",
  "lora_dropout",
  "lora_target_modules",
  "checkpoint_dir",
  "seed",
  "save_steps",
  "save_total_limit",
  "engine",
  "export_llamafactory",
  "quantize",
  "bits",
  "quantization_bit",
  // accepted, ignored
  "stage",
  "optim",
  "deepspeed",
  "report_to",
  "preprocessing_num_workers",
  "max_source_length",
  "evaluation_strategy",
  "save_strategy",
  "logging_steps",
];
const FLAGS = ["do_train", "do_eval", "overwrite_output_dir", "bf16", "fp16", "quiet", "help"];
const IGNORED = ["deepspeed", "report_to", "preprocessing_num_workers", "max_source_length", "logging_steps", "fp16"];

/**
 * Hugging Face's argument style turned into ours: `--lora_target_modules a b c` (several values)
 * joined with commas, and `--flag True|False` for boolean flags.
 */
function hfStyle(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const name = a.startsWith("--") ? a.slice(2).replaceAll("-", "_") : "";
    if (name === "lora_target_modules") {
      const values: string[] = [];
      while (i + 1 < args.length && !args[i + 1].startsWith("-")) values.push(args[++i]);
      out.push(a, values.join(","));
    } else if (FLAGS.includes(name) && /^(true|false)$/i.test(args[i + 1] ?? "")) {
      if (/^true$/i.test(args[++i])) out.push(a);
    } else {
      out.push(a);
    }
  }
  return out;
}

/**
 * Run `train`.
 *
 * @param args arguments after `train`
 * @param io where to write
 * @returns the exit code
 * @throws {UsageError} for bad flags
 * @throws {InputError} for bad files, a template that does not fit the tokenizer, targets the model lacks
 *
 * @example
 * ```ts
 * import { runTrain } from "./cli_command.ts";
 * let out = "";
 * const code = await runTrain(["--help"], { out: (t) => out += t, err: () => {} });
 * if (code !== 0 || !out.startsWith("iepile train")) throw new Error();
 * ```
 */
export async function runTrain(args: string[], io: CliIo): Promise<number> {
  const spec = optionSpec(
    STRINGS.map((n) => [n, n.replaceAll("_", "-")] as const),
    FLAGS.map((n) => [n, n.replaceAll("_", "-")] as const),
  );
  const { values: v, positionals } = parseCommandArgs(hfStyle(args), spec, "train");
  if (v.help) {
    io.out(TRAIN_HELP);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`train: unexpected argument "${positionals[0]}"`);
  let settings = settingsOf(v);
  if (settings.loraTargetModules.length === 0) {
    // Neither targets nor a family named: the model's own family's defaults.
    const { inspectModel } = await import("../infer/model/mod.ts");
    const family = (await inspectModel(settings.modelNameOrPath)).architecture;
    settings = { ...settings, loraTargetModules: defaultTargets(family) ?? ["all"] };
  }
  const ignored = IGNORED.filter((n) => v[n] !== undefined);
  if (ignored.length > 0 && !v.quiet) {
    io.err(`train: ignored here: ${ignored.map((n) => "--" + n).join(", ")} (one process, double precision)\n`);
  }
  if (v.export_llamafactory !== undefined) {
    const { exportLlamaFactory } = await import("./llamafactory.ts");
    const r = await exportLlamaFactory(settings, v.export_llamafactory as string);
    io.out(
      `wrote ${r.trainRecords} train records and a LLaMA-Factory config to ${r.dir}\nthen run there:\n  ${r.command}\n`,
    );
    return 0;
  }
  const { train } = await import("./trainer.ts");
  const quiet = v.quiet === true;
  const progress = new ProgressLine("trained", { enabled: quiet ? false : undefined });
  const load = new LoadProgressLine({ enabled: quiet ? false : undefined });
  const r = await train(settings, {
    onMessage: (t) => {
      if (!quiet) {
        progress.finish();
        io.err(`train: ${t}\n`);
      }
    },
    onLoad: (p) => load.update(p),
    onProgress: (p) => {
      load.finish();
      progress.show(
        `step ${p.step}/${p.total} · loss ${p.loss.toFixed(4)} · ${formatSeconds(p.seconds)} · ETA ${
          formatSeconds(p.eta)
        }`,
      );
    },
  });
  progress.finish();
  load.finish();
  io.out(
    `trained ${r.steps} steps${
      r.resumedFrom ? ` (resumed at ${r.resumedFrom})` : ""
    } on ${r.examples.train} examples: ` +
      `loss ${r.loss.toFixed(4)}${r.evalLoss !== undefined ? `, validation loss ${r.evalLoss.toFixed(4)}` : ""}\n` +
      `adapter: ${r.outputDir} (use it with: iepile infer --model ${settings.modelNameOrPath} --lora ${r.outputDir} ` +
      `--template ${settings.template} …)\n`,
  );
  return 0;
}

/** The settings the flags give. */
function settingsOf(v: Record<string, string | boolean | undefined>): TrainSettings {
  const req = (n: string) => requiredOption(v, n, "train");
  const int = (n: string, min: number) => numberOption(v[n], n, "integer", min);
  const num = (n: string) => numberOption(v[n], n, "number");
  if (v.stage !== undefined && v.stage !== "sft") {
    throw new UsageError(`train: only --stage sft is supported, not "${v.stage}"`);
  }
  if (v.optim !== undefined && !["adamw_torch", "adamw_hf"].includes(v.optim as string)) {
    throw new UsageError(`train: --optim is adamw_torch (AdamW); "${v.optim}" is not supported`);
  }
  if (v.engine !== undefined && v.engine !== "cpu" && v.engine !== "webgpu") {
    throw new UsageError(`train: --engine is cpu or webgpu, not "${v.engine}"`);
  }
  for (const [flag, ok] of [["evaluation_strategy", ["epoch", "no"]], ["save_strategy", ["epoch", "steps"]]] as const) {
    if (v[flag] !== undefined && !(ok as readonly string[]).includes(v[flag] as string)) {
      throw new UsageError(`train: --${flag} is ${ok.join(" or ")} here, not "${v[flag]}"`);
    }
  }
  const template = req("template");
  getTemplate(template);
  const model = req("model_name_or_path");
  const loraR = int("lora_r", 1) ?? TRAIN_DEFAULTS.loraR;
  const targetsText = v.lora_target_modules as string | undefined;
  let targets = targetsText?.split(",").map((t) => t.trim()).filter((t) => t !== "");
  if (targets === undefined && v.model_name !== undefined) {
    targets = defaultTargets(v.model_name as string)?.slice();
    if (targets === undefined) {
      throw new UsageError(`train: no default --lora_target_modules for --model_name ${v.model_name}; name them`);
    }
  }
  return {
    ...TRAIN_DEFAULTS,
    modelNameOrPath: model,
    modelName: v.model_name as string | undefined,
    template,
    trainFile: req("train_file"),
    validFile: v.valid_file as string | undefined,
    valSetSize: int("val_set_size", 0) ?? TRAIN_DEFAULTS.valSetSize,
    outputDir: req("output_dir"),
    perDeviceTrainBatchSize: int("per_device_train_batch_size", 1) ?? TRAIN_DEFAULTS.perDeviceTrainBatchSize,
    perDeviceEvalBatchSize: int("per_device_eval_batch_size", 1) ?? TRAIN_DEFAULTS.perDeviceEvalBatchSize,
    gradientAccumulationSteps: int("gradient_accumulation_steps", 1) ?? TRAIN_DEFAULTS.gradientAccumulationSteps,
    numTrainEpochs: num("num_train_epochs") ?? TRAIN_DEFAULTS.numTrainEpochs,
    learningRate: num("learning_rate") ?? TRAIN_DEFAULTS.learningRate,
    maxGradNorm: num("max_grad_norm") ?? TRAIN_DEFAULTS.maxGradNorm,
    cutoffLen: int("cutoff_len", 2) ?? TRAIN_DEFAULTS.cutoffLen,
    maxTargetLength: int("max_target_length", 0) ?? TRAIN_DEFAULTS.maxTargetLength,
    loraR,
    loraAlpha: num("lora_alpha") ?? 2 * loraR,
    loraDropout: num("lora_dropout") ?? TRAIN_DEFAULTS.loraDropout,
    loraTargetModules: targets ?? [], // resolved from the model's family by runTrain

    checkpointDir: v.checkpoint_dir as string | undefined,
    seed: int("seed", 0) ?? TRAIN_DEFAULTS.seed,
    saveSteps: int("save_steps", 1),
    saveTotalLimit: int("save_total_limit", 1),
    doEval: v.do_eval === true || (v.evaluation_strategy ?? "no") === "epoch",
    bf16: v.bf16 === true,
    deepspeed: v.deepspeed as string | undefined,
    quantize: quantizeOption(v, "train"),
    overwriteOutputDir: v.overwrite_output_dir === true,
    engine: (v.engine as TrainEngineName | undefined) ?? TRAIN_DEFAULTS.engine,
  };
}
