/**
 * `iepile train --export-llamafactory DIR`: a folder LLaMA-Factory trains from on several GPUs.
 * The train (and valid) records become alpaca-format JSON Lines (`instruction` → prompt,
 * `output` → response, empty `input`) declared in `dataset_info.json`; the settings become a
 * LoRA SFT config (`train_lora.yaml`) with a DeepSpeed ZeRO-2 config beside it; a `README.md`
 * says how to run it. The adapter LLaMA-Factory writes is a PEFT folder `iepile infer --lora`
 * loads.
 *
 * @module
 */

import { basename, resolve } from "node:path";
import { AtomicTextWriter, writeAtomically } from "../io/atomic_write.ts";
import { InputError, UsageError } from "../io/errors.ts";
import { readJsonItemBatches } from "../io/json_items.ts";
import { parseRecordLine } from "../io/record.ts";
import { CHAT_TEMPLATE, TEMPLATES } from "../templates/mod.ts";
import type { TrainSettings } from "./settings.ts";

/** How one of our template names is given to LLaMA-Factory. */
export interface LlamaFactoryTemplate {
  /** Our name (`--template`). */
  readonly iepile: string;
  /** LLaMA-Factory's `template`; undefined: none, LLaMA-Factory reads the tokenizer's chat template. */
  readonly template?: string;
  /** A `default_system` that makes LLaMA-Factory's system prompt ours (undefined: its own is ours). */
  readonly defaultSystem?: string;
  /** Where LLaMA-Factory's prompt still differs from ours (undefined: it does not). */
  readonly note?: string;
}

/** What {@linkcode exportLlamaFactory} wrote. */
export interface LlamaFactoryExport {
  /** The folder. */
  readonly dir: string;
  /** The files written, each a path in `dir`. */
  readonly files: {
    /** The train records, alpaca-format JSON Lines (dataset `iepile_train`). */
    readonly dataset: string;
    /** The valid records (dataset `iepile_valid`), when the settings have a valid file. */
    readonly validDataset?: string;
    /** `dataset_info.json`, declaring the datasets. */
    readonly datasetInfo: string;
    /** The training config, `train_lora.yaml`. */
    readonly config: string;
    /** The DeepSpeed config the training config names. */
    readonly deepspeed: string;
    /** `README.md`: what the files are and how to run them. */
    readonly readme: string;
  };
  /** Train records written. */
  readonly trainRecords: number;
  /** Valid records written (undefined without a valid file). */
  readonly validRecords?: number;
  /** The template as LLaMA-Factory is given it. */
  readonly template: LlamaFactoryTemplate;
  /** The shell command that trains (run where LLaMA-Factory is installed). */
  readonly command: string;
}

/** The training config's file name. */
const CONFIG_FILE = "train_lora.yaml";
const TRAIN_DATASET = "iepile_train";
const VALID_DATASET = "iepile_valid";

interface Mapping {
  /** LLaMA-Factory's name. */
  template: string;
  /** Whether our system prompt is given as `default_system` (LLaMA-Factory's differs). */
  system?: true;
  /** Appended to our system prompt in `default_system` (LLaMA-Factory's template puts no separator after it). */
  systemEnd?: string;
  /** Whether LLaMA-Factory's template starts with the BOS token (ours does where the tokenizer adds one). */
  bos?: true;
  note?: string;
}

const NO_STOP = "adds no EOS token after the response, so the model does not learn to stop";

const ONEKE_NOTE = "OneKE was trained with llama2_zh; this name only changes the inference prompt's spacing";

/**
 * Our templates by LLaMA-Factory's names. Most are registered there under the same name; where
 * its default system prompt differs from ours, ours is given as `default_system`.
 */
const TEMPLATE_MAP: Readonly<Record<string, Mapping | null>> = {
  alpaca: { template: "alpaca" },
  aquila: {
    template: "aquila",
    note: "LLaMA-Factory's aquila writes the system as 'System: …###' and ends the response with '###', " +
      "not the EOS token, so the model does not learn to stop where ours stops",
  },
  baichuan: { template: "baichuan" },
  baichuan2: { template: "baichuan2" },
  openba: null,
  belle: { template: "belle", bos: true },
  bluelm: { template: "bluelm" },
  chatglm2: {
    template: "chatglm2",
    note: "LLaMA-Factory's chatglm2 counts rounds from 0 ([Round 0]) and puts no blank line after sop",
  },
  chatglm3: {
    template: "chatglm3",
    system: true,
    note: "LLaMA-Factory's chatglm3 starts the response with a newline after <|assistant|>",
  },
  deepseek: {
    template: "deepseekcoder",
    system: true,
    systemEnd: "\n",
    bos: true,
    note: "ours is DeepSeek Coder's format (LLaMA-Factory's deepseek is DeepSeek LLM chat); " +
      "deepseekcoder puts one newline, not two, before ### Response:, writes the response as " +
      "'\\n{response}\\n<|EOT|>' with no EOS token, and only a newline after the system prompt (ours: a newline, <|EOT|>, a blank line)",
  },
  default: {
    template: "default",
    system: true,
    note: "LLaMA-Factory's default ends each turn with the EOS token and writes the system after 'System: '",
  },
  falcon: { template: "falcon", note: "LLaMA-Factory's falcon ends the response with a newline before the EOS token" },
  intern: {
    template: "intern",
    system: true,
    bos: true,
    note: "LLaMA-Factory's intern has no <eoh> token after the query",
  },
  llama2: { template: "llama2", system: true, bos: true },
  llama3_zh: { template: "llama3", system: true, bos: true },
  llama3: { template: "llama3", system: true, bos: true },
  llama2_zh: { template: "llama2_zh", bos: true },
  mistral: {
    template: "mistral",
    bos: true,
    note: "LLaMA-Factory's mistral puts the space after [/INST], not before it",
  },
  openchat: { template: "openchat", bos: true },
  qwen: { template: "qwen", system: true },
  starchat: {
    template: "starchat",
    note: "LLaMA-Factory's starchat leaves an empty system block out and ends the response with <|end|>, " +
      "not the EOS token",
  },
  vanilla: { template: "empty", note: `LLaMA-Factory's empty ${NO_STOP}` },
  vicuna: { template: "vicuna" },
  xverse: { template: "xverse" },
  yayi: { template: "yayi", note: `LLaMA-Factory's yayi ${NO_STOP} (nor <|End|>)` },
  zephyr: {
    template: "zephyr",
    system: true,
    note: "LLaMA-Factory's zephyr puts a newline after <|assistant|> and writes <|user|> and <|system|> as text, " +
      "not as special tokens",
  },
  ziya: { template: "ziya", note: `LLaMA-Factory's ziya ${NO_STOP}` },
  oneke: { template: "llama2_zh", bos: true, note: ONEKE_NOTE },
  oneke_vllm: { template: "llama2_zh", bos: true, note: ONEKE_NOTE },
  oneke_ollama: { template: "llama2_zh", bos: true, note: ONEKE_NOTE },
};

/**
 * How a template is given to LLaMA-Factory: its name there, the system prompt that keeps ours,
 * and what still differs. `chat_template` (the tokenizer's own) is given as no template.
 *
 * @param name our template name (`--template`)
 * @returns the LLaMA-Factory template
 * @throws {UsageError} for a name LLaMA-Factory has no counterpart of (`openba`) or an unknown name
 *
 * @example
 * ```ts
 * import { llamaFactoryTemplate } from "./llamafactory.ts";
 * if (llamaFactoryTemplate("llama2_zh").template !== "llama2_zh") throw new Error();
 * if (llamaFactoryTemplate("deepseek").template !== "deepseekcoder") throw new Error();
 * if (llamaFactoryTemplate("qwen").defaultSystem !== "You are a helpful assistant.") throw new Error();
 * if (llamaFactoryTemplate("chat_template").template !== undefined) throw new Error();
 * ```
 */
export function llamaFactoryTemplate(name: string): LlamaFactoryTemplate {
  if (name === CHAT_TEMPLATE) {
    return Object.freeze({ iepile: name, note: "no template: LLaMA-Factory reads the tokenizer's chat template" });
  }
  if (!Object.hasOwn(TEMPLATE_MAP, name)) {
    const known = [...Object.keys(TEMPLATE_MAP).filter((n) => TEMPLATE_MAP[n] !== null), CHAT_TEMPLATE];
    throw new UsageError(`--export-llamafactory: unknown template ${JSON.stringify(name)}; known: ${known.join(", ")}`);
  }
  const mapping = TEMPLATE_MAP[name];
  if (mapping === null) {
    throw new UsageError(
      `--export-llamafactory: template ${name} has no counterpart in LLaMA-Factory; train it with ` +
        `'iepile train', or export with another template`,
    );
  }
  // LLaMA-Factory adds the BOS token only where its template names it; ours adds the tokenizer's.
  const bos = mapping.bos
    ? undefined
    : `LLaMA-Factory's ${mapping.template} writes no BOS token: where the tokenizer adds one, ours starts with it`;
  const note = [mapping.note, bos].filter((n) => n !== undefined).join("; ");
  return Object.freeze({
    iepile: name,
    template: mapping.template,
    ...(mapping.system ? { defaultSystem: TEMPLATES[name].system + (mapping.systemEnd ?? "") } : {}),
    ...(note === "" ? {} : { note }),
  });
}

/**
 * Write the LLaMA-Factory hand-off into `dir` (created if needed): the train (and valid)
 * records as alpaca-format JSON Lines, `dataset_info.json`, `train_lora.yaml`, the DeepSpeed
 * ZeRO-2 config (`ds_z2_config.json`, or `ds_config.json` copied from `settings.deepspeed`) and
 * `README.md`, each file written atomically. Records are read one line at a time. Local model,
 * adapter and output paths are written absolute; `dataset_dir` and `deepspeed` are relative to
 * `dir`, where the command runs.
 *
 * @param settings the training settings
 * @param dir the folder to write
 * @returns the files, record counts, template and command
 * @throws {UsageError} for a template LLaMA-Factory lacks, or a held-out count it cannot take
 * @throws {InputError} for a bad record (naming file, line and field), an empty train file, or
 *   a folder that cannot be written
 *
 * @example
 * ```ts
 * import { exportLlamaFactory } from "./llamafactory.ts";
 * import { TRAIN_DEFAULTS } from "./settings.ts";
 * const dir = await Deno.makeTempDir();
 * const trainFile = `${dir}/train.json`;
 * await Deno.writeTextFile(trainFile, '{"instruction": "抽取实体", "output": "[]"}\n'.repeat(3));
 * const out = await exportLlamaFactory({
 *   ...TRAIN_DEFAULTS, valSetSize: 0, modelNameOrPath: "zjunlp/OneKE", template: "llama2_zh",
 *   trainFile, outputDir: `${dir}/lora`, loraTargetModules: ["q_proj", "v_proj"], loraAlpha: 16,
 * }, `${dir}/lf`);
 * if (out.trainRecords !== 3 || !(await Deno.readTextFile(out.files.config)).includes("template: llama2_zh")) {
 *   throw new Error();
 * }
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function exportLlamaFactory(settings: TrainSettings, dir: string): Promise<LlamaFactoryExport> {
  const template = llamaFactoryTemplate(settings.template);
  // Records are held out only to evaluate on, as the trainer does.
  const holdOut = settings.validFile === undefined && settings.doEval ? settings.valSetSize : 0;
  if (holdOut === 1) {
    throw new UsageError(
      "--export-llamafactory: LLaMA-Factory reads val_size 1 as a fraction (every record); hold out 0 or at least 2",
    );
  }
  await makeFolder(dir);
  const path = (name: string) => `${dir.replace(/\/+$/, "") || "/"}/${name}`;
  const dataset = path(`${TRAIN_DATASET}.jsonl`);
  const trainRecords = await writeDataset(settings.trainFile, dataset, holdOut);
  let validDataset: string | undefined;
  let validRecords: number | undefined;
  if (settings.validFile !== undefined) {
    validDataset = path(`${VALID_DATASET}.jsonl`);
    validRecords = await writeDataset(settings.validFile, validDataset, 0);
  }

  const datasetInfo = path("dataset_info.json");
  await writeText(datasetInfo, datasetInfoJson(validDataset !== undefined));
  const deepspeedName = settings.deepspeed === undefined ? "ds_z2_config.json" : "ds_config.json";
  const deepspeed = path(deepspeedName);
  await writeText(
    deepspeed,
    settings.deepspeed === undefined ? DS_Z2_CONFIG : await readDeepspeedConfig(settings.deepspeed),
  );
  const config = path(CONFIG_FILE);
  const paths = {
    model: await localPath(settings.modelNameOrPath),
    adapter: settings.checkpointDir === undefined ? undefined : await localPath(settings.checkpointDir),
    output: resolve(settings.outputDir),
  };
  await writeText(config, configYaml(settings, template, deepspeedName, paths));
  const command = `cd ${shellQuote(dir)} && FORCE_TORCHRUN=1 llamafactory-cli train ${CONFIG_FILE}`;
  const readme = path("README.md");
  await writeText(
    readme,
    readmeText({ settings, template, command, deepspeedName, paths, trainRecords, validRecords }),
  );
  return Object.freeze({
    dir,
    files: Object.freeze({
      dataset,
      ...(validDataset === undefined ? {} : { validDataset }),
      datasetInfo,
      config,
      deepspeed,
      readme,
    }),
    trainRecords,
    ...(validRecords === undefined ? {} : { validRecords }),
    template,
    command,
  });
}

async function makeFolder(dir: string): Promise<void> {
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new InputError(`cannot create the export folder: ${(e as Error).message}`, { file: dir });
  }
}

/** Convert a converted-records file into alpaca JSON Lines; returns the record count. */
async function writeDataset(src: string, dest: string, holdOut: number): Promise<number> {
  const w = await AtomicTextWriter.open(dest);
  try {
    let n = 0;
    for await (const batch of readJsonItemBatches(src)) {
      for (const item of batch) {
        const { fields } = parseRecordLine(item.text, src, item.line);
        const instruction = stringField(fields, "instruction", src, item.line);
        const output = stringField(fields, "output", src, item.line);
        n++;
        if (w.append(JSON.stringify({ instruction, input: "", output }) + "\n")) await w.flush();
      }
    }
    if (n === 0) throw new InputError("no records", { file: src });
    if (holdOut >= n) {
      throw new UsageError(
        `--export-llamafactory: holding out ${holdOut} records leaves none of the ${n} in ${src} to train on`,
      );
    }
    await w.commit();
    return n;
  } catch (e) {
    await w.abort();
    throw e;
  }
}

function stringField(fields: Record<string, unknown>, field: string, file: string, line: number): string {
  const value = fields[field];
  if (typeof value === "string") return value;
  const problem = value === undefined ? "missing (a train record needs a string)" : "must be a string";
  throw new InputError(problem, { file, line, field });
}

async function writeText(path: string, text: string): Promise<void> {
  await writeAtomically(path, (temp) => Deno.writeTextFile(temp, text));
}

function datasetInfoJson(withValid: boolean): string {
  const entry = (file: string) => ({
    file_name: file,
    formatting: "alpaca",
    columns: { prompt: "instruction", query: "input", response: "output" },
  });
  const info: Record<string, unknown> = { [TRAIN_DATASET]: entry(`${TRAIN_DATASET}.jsonl`) };
  if (withValid) info[VALID_DATASET] = entry(`${VALID_DATASET}.jsonl`);
  return JSON.stringify(info, null, 2) + "\n";
}

/** A DeepSpeed ZeRO-2 config whose batch, clipping and precision follow the trainer's settings. */
const DS_Z2_CONFIG = JSON.stringify(
  {
    train_batch_size: "auto",
    train_micro_batch_size_per_gpu: "auto",
    gradient_accumulation_steps: "auto",
    gradient_clipping: "auto",
    zero_allow_untested_optimizer: true,
    fp16: {
      enabled: "auto",
      loss_scale: 0,
      loss_scale_window: 1000,
      initial_scale_power: 16,
      hysteresis: 2,
      min_loss_scale: 1,
    },
    bf16: { enabled: "auto" },
    zero_optimization: {
      stage: 2,
      allgather_partitions: true,
      allgather_bucket_size: 5e8,
      overlap_comm: false,
      reduce_scatter: true,
      reduce_bucket_size: 5e8,
      contiguous_gradients: true,
      round_robin_gradients: true,
    },
  },
  null,
  2,
) + "\n";

async function readDeepspeedConfig(path: string): Promise<string> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new InputError(`cannot read the DeepSpeed config: ${(e as Error).message}`, { file: path });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(`not JSON: ${(e as Error).message}`, { file: path });
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new InputError("a DeepSpeed config must be a JSON object", { file: path });
  }
  return text.endsWith("\n") ? text : text + "\n";
}

/** A local path made absolute; a name that is no local path (a Hub id) as it is. */
async function localPath(path: string): Promise<string> {
  const exists = await Deno.stat(path).then(() => true, () => false);
  return exists ? resolve(path) : path;
}

interface Paths {
  readonly model: string;
  readonly adapter?: string;
  readonly output: string;
}

function configYaml(
  s: TrainSettings,
  template: LlamaFactoryTemplate,
  deepspeedName: string,
  paths: Paths,
): string {
  const lines: string[] = [
    "# LLaMA-Factory LoRA SFT of IEPile records, written by 'iepile train --export-llamafactory'.",
    `# Run in this folder: FORCE_TORCHRUN=1 llamafactory-cli train ${CONFIG_FILE}`,
    "",
    "### model",
  ];
  const put = (key: string, value: string | number | boolean) => lines.push(`${key}: ${yamlValue(key, value)}`);
  put("model_name_or_path", paths.model);
  put("trust_remote_code", true);
  if (paths.adapter !== undefined) put("adapter_name_or_path", paths.adapter);
  lines.push("", "### method");
  put("stage", "sft");
  put("do_train", true);
  put("finetuning_type", "lora");
  put("lora_target", s.loraTargetModules.join(","));
  put("lora_rank", s.loraR);
  put("lora_alpha", s.loraAlpha);
  put("lora_dropout", s.loraDropout);
  put("deepspeed", deepspeedName);
  lines.push("", "### dataset");
  put("dataset", TRAIN_DATASET);
  put("dataset_dir", ".");
  if (template.note !== undefined) lines.push(`# template ${template.iepile}: ${template.note}`);
  if (template.template !== undefined) put("template", template.template);
  if (template.defaultSystem !== undefined) put("default_system", template.defaultSystem);
  put("cutoff_len", s.cutoffLen);
  lines.push(
    `# IEPile's max_target_length (${s.maxTargetLength}) has no LLaMA-Factory key:`,
    "# LLaMA-Factory shares cutoff_len between prompt and response by their lengths.",
  );
  const hasEval = s.validFile !== undefined || (s.doEval && s.valSetSize > 0);
  if (s.validFile !== undefined) put("eval_dataset", VALID_DATASET);
  else if (s.doEval && s.valSetSize > 0) put("val_size", s.valSetSize);
  lines.push("", "### output");
  put("output_dir", paths.output);
  put("logging_steps", 10);
  put("save_strategy", "epoch");
  if (s.saveTotalLimit !== undefined) put("save_total_limit", s.saveTotalLimit);
  put("overwrite_output_dir", true);
  put("report_to", "none");
  lines.push("", "### train");
  put("per_device_train_batch_size", s.perDeviceTrainBatchSize);
  put("gradient_accumulation_steps", s.gradientAccumulationSteps);
  put("learning_rate", s.learningRate);
  put("num_train_epochs", s.numTrainEpochs);
  put("lr_scheduler_type", "linear");
  // No warm-up, as IEPile trains (LLaMA-Factory's default); transformers 5.0 deprecated
  // warmup_ratio and 5.2 removed it, and warmup_steps works on every version.
  put("warmup_steps", 0);
  put("max_grad_norm", s.maxGradNorm);
  put("seed", s.seed);
  put("bf16", s.bf16);
  put("ddp_timeout", 180000000);
  lines.push("", "### eval");
  put("per_device_eval_batch_size", s.perDeviceEvalBatchSize);
  if (s.doEval && hasEval) put("eval_strategy", "epoch");
  else if (s.doEval) lines.push("# no eval_strategy: no valid file and no records held out");
  return lines.join("\n") + "\n";
}

function yamlValue(key: string, value: string | number | boolean): string {
  if (typeof value === "boolean") return String(value);
  if (typeof value === "number") return yamlNumber(key, value);
  return /^[A-Za-z_][A-Za-z0-9_.,\/-]*$/.test(value) && !YAML_WORDS.test(value) ? value : yamlQuote(value);
}

/** Plain scalars YAML 1.1 (PyYAML) reads as booleans or null. */
const YAML_WORDS = /^(?:y|n|yes|no|true|false|on|off|null)$/i;

/** A number as YAML 1.1 reads one: an exponent needs a fraction (`1.0e-05`, not `1e-5`). */
function yamlNumber(key: string, x: number): string {
  if (!Number.isFinite(x)) throw new UsageError(`--export-llamafactory: ${key} ${x} is not a finite number`);
  const s = String(x);
  return /e/.test(s) && !s.includes(".") ? s.replace("e", ".0e") : s;
}

/** A double-quoted YAML string in ASCII (other characters as `\u`/`\U` escapes). */
function yamlQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"' || ch === "\\") out += "\\" + ch;
    else if (ch === "\n") out += "\\n";
    else if (ch === "\t") out += "\\t";
    else if (c >= 0x20 && c < 0x7f) out += ch;
    else if (c <= 0xffff) out += "\\u" + c.toString(16).padStart(4, "0");
    else out += "\\U" + c.toString(16).padStart(8, "0");
  }
  return out + '"';
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_.,\/+=:@%-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`;
}

interface ReadmeFacts {
  readonly settings: TrainSettings;
  readonly template: LlamaFactoryTemplate;
  readonly command: string;
  readonly deepspeedName: string;
  readonly paths: Paths;
  readonly trainRecords: number;
  readonly validRecords?: number;
}

function records(n: number): string {
  return `${n} record${n === 1 ? "" : "s"}`;
}

function readmeText(f: ReadmeFacts): string {
  const s = f.settings;
  const t = f.template;
  const files = [
    `- \`${TRAIN_DATASET}.jsonl\`: the ${records(f.trainRecords)} of \`${basename(s.trainFile)}\` in LLaMA-Factory's ` +
    "alpaca format (`instruction` is the prompt, `output` the response, `input` empty).",
  ];
  if (f.validRecords !== undefined) {
    files.push(
      `- \`${VALID_DATASET}.jsonl\`: the ${records(f.validRecords)} of \`${basename(s.validFile!)}\`, ` +
        "the validation loss is measured on (`eval_dataset`).",
    );
  }
  files.push(
    "- `dataset_info.json`: declares these datasets to LLaMA-Factory (`dataset_dir: .`).",
    `- \`${CONFIG_FILE}\`: the training config, LoRA SFT with the settings \`iepile train\` was given.`,
    `- \`${f.deepspeedName}\`: ` +
      (s.deepspeed === undefined
        ? "a DeepSpeed ZeRO-2 config; batch, clipping and precision follow the training config (`auto`)."
        : `the DeepSpeed config \`${basename(s.deepspeed)}\` given to \`iepile train\`.`),
  );
  const templateLine = t.template === undefined
    ? `Template: \`${t.iepile}\`, given as no \`template\`: LLaMA-Factory reads the tokenizer's chat template.`
    : `Template: \`${t.iepile}\` is LLaMA-Factory's \`${t.template}\`` +
      (t.defaultSystem === undefined ? "." : ", with our system prompt as `default_system`.") +
      (t.note === undefined ? "" : ` Note: ${t.note}.`);
  return [
    "# IEPile LoRA fine-tuning with LLaMA-Factory",
    "",
    "Written by `iepile train --export-llamafactory`, for training on several GPUs with LLaMA-Factory.",
    "",
    "## Files",
    "",
    ...files,
    "- `README.md`: this file.",
    "",
    templateLine,
    "",
    `IEPile's \`max_target_length\` (${s.maxTargetLength}) has no LLaMA-Factory setting: LLaMA-Factory shares ` +
    `\`cutoff_len\` (${s.cutoffLen}) between prompt and response by their lengths.`,
    "",
    "## Run",
    "",
    "Install LLaMA-Factory (0.9.3 or later, which reads `default_system`) with DeepSpeed (Python, CUDA GPUs):",
    "",
    "```sh",
    "git clone --depth 1 https://github.com/hiyouga/LLaMA-Factory.git",
    'cd LLaMA-Factory && pip install -e ".[torch,metrics,deepspeed]" && cd -',
    "```",
    "",
    "Train on every GPU of this machine (`CUDA_VISIBLE_DEVICES=0,1,…` picks some):",
    "",
    "```sh",
    f.command,
    "```",
    "",
    "On several machines, run it on each with `NNODES`, `NODE_RANK`, `MASTER_ADDR` and `MASTER_PORT` set " +
    "(e.g. `FORCE_TORCHRUN=1 NNODES=2 NODE_RANK=0 MASTER_ADDR=10.0.0.1 MASTER_PORT=29500 llamafactory-cli train " +
    `${CONFIG_FILE}\`).`,
    "",
    "The batch of one optimisation step is `per_device_train_batch_size` × `gradient_accumulation_steps` × the " +
    "number of GPUs: lower `gradient_accumulation_steps` to keep the batch of a one-GPU run.",
    "",
    `\`model_name_or_path\` (${f.paths.model}) and \`output_dir\` (${f.paths.output}) are as on the machine that ` +
    `exported; edit them in \`${CONFIG_FILE}\` when training elsewhere.`,
    "",
    "## Use the adapter",
    "",
    "LLaMA-Factory writes the LoRA adapter to `output_dir` as a PEFT folder (`adapter_config.json`, " +
    "`adapter_model.safetensors`), which `iepile infer` loads:",
    "",
    "```sh",
    `iepile infer --model ${shellQuote(f.paths.model)} --lora ${shellQuote(f.paths.output)} ` +
    `--template ${t.iepile} --input TEST.json --output PRED.json`,
    "```",
    "",
  ].join("\n");
}
