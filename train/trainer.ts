/**
 * A LoRA fine-tuning run as IEPile's `src/finetune.py` does it (on the CPU oracle or a WebGPU
 * device, `./loss_engine.ts`): examples encoded with the chat template and length budget,
 * micro-batches of `per_device_train_batch_size` examples whose loss is the mean cross-entropy
 * over their scored tokens, `gradient_accumulation_steps` micro-batches per step (their losses
 * averaged), gradient clipping, AdamW with a learning rate decaying linearly to zero, a new
 * shuffle each epoch, the validation loss and a checkpoint at each epoch's end. A run started
 * again in the same output folder resumes from its last checkpoint and ends with the same
 * adapter, bit for bit.
 *
 * @module
 */

import { join } from "node:path";
import { writeAtomically } from "../io/atomic_write.ts";
import { InputError, UsageError } from "../io/errors.ts";
import {
  GgufModelFile,
  isGgufFile,
  loadModel,
  type LoadProgress,
  type ModelSpec,
  webGpuAvailable,
} from "../infer/mod.ts";
import { AdapterFolder, loadModelTokenizer } from "../infer/model/mod.ts";
import { ModelFolder } from "../infer/formats/mod.ts";
import { checkTemplate } from "../templates/mod.ts";
import { adamwStep, clipGradNorm, linearDecay } from "./adamw.ts";
import {
  latestCheckpoint,
  type OptimizerState,
  pruneCheckpoints,
  restoreCheckpoint,
  saveCheckpoint,
} from "./checkpoint.ts";
import { epochOrder, type Example, holdOut, readExamples } from "./dataset.ts";
import {
  createLoraModel,
  type LoraModel,
  scoredPositions,
  targetModules,
  withModules,
  zeroGrads,
} from "./lora_model.ts";
import { type AdapterSettings, loadAdapter, saveAdapter } from "./peft_adapter.ts";
import type { TrainSettings } from "./settings.ts";
import { type LossEngine, openLossEngine } from "./loss_engine.ts";
import { describeTrainMemory } from "./webgpu/device_memory.ts";

/** One line of the training log (`trainer_log.jsonl`). */
export interface LogEntry {
  /** Optimisation steps done. */
  readonly step: number;
  /** Epochs done, fractional. */
  readonly epoch: number;
  /** The step's loss (mean over its micro-batches of their mean token loss). */
  readonly loss?: number;
  /** The learning rate the step used. */
  readonly learning_rate?: number;
  /** The gradients' global norm before clipping. */
  readonly grad_norm?: number;
  /** Tokens the step ran through the model (prompt and response). */
  readonly tokens?: number;
  /** Those tokens per second of the step. */
  readonly tokens_per_second?: number;
  /** The validation loss, at an epoch's end. */
  readonly eval_loss?: number;
}

/** What a run reports while it works. */
export interface TrainEvents {
  /** A log entry (each step, and each validation). */
  readonly onLog?: (entry: LogEntry) => void;
  /** A line for the user (what was read, resumed, saved). */
  readonly onMessage?: (text: string) => void;
  /** Progress of loading the base model. */
  readonly onLoad?: (p: LoadProgress) => void;
  /** Progress: steps done of all, the last loss, seconds so far and an estimate of those left. */
  readonly onProgress?: (p: { step: number; total: number; loss: number; seconds: number; eta: number }) => void;
  /** Stops the run after the current step (what was checkpointed stays). */
  readonly signal?: AbortSignal;
  /** The WebGPU device `--engine webgpu` trains on (default: one requested for the run, freed after it). */
  readonly device?: GPUDevice;
}

/** What a run did. */
export interface TrainResult {
  /** The folder of the final adapter. */
  readonly outputDir: string;
  /** Optimisation steps of the whole run. */
  readonly steps: number;
  /** The step a resumed run started from (0: from the start). */
  readonly resumedFrom: number;
  /** Train and validation examples. */
  readonly examples: { readonly train: number; readonly valid: number; readonly skipped: number };
  /** The last step's loss. */
  readonly loss: number;
  /** The last validation loss, when measured. */
  readonly evalLoss?: number;
  /** Whether the run stopped early (signal). */
  readonly stopped: boolean;
}

const LOG = "trainer_log.jsonl";

/**
 * Check settings that would make no sense before any work.
 *
 * @param s the settings
 * @throws {UsageError} naming the flag and its value
 *
 * @example
 * ```ts
 * import { checkSettings } from "./trainer.ts";
 * import { TRAIN_DEFAULTS } from "./settings.ts";
 * const s = { ...TRAIN_DEFAULTS, modelNameOrPath: "m", template: "qwen", trainFile: "t", outputDir: "o",
 *   loraAlpha: 16, loraTargetModules: ["q_proj"] };
 * checkSettings(s);
 * try { checkSettings({ ...s, learningRate: -1 }); throw new Error("no throw"); } catch (e) {
 *   if (!String(e).includes("--learning_rate")) throw e;
 * }
 * ```
 */
export function checkSettings(s: TrainSettings): void {
  const bad = (flag: string, value: unknown, want: string) => {
    throw new UsageError(`train: --${flag} ${value} makes no sense: ${want}`);
  };
  const positiveInt = (flag: string, v: number) => {
    if (!Number.isInteger(v) || v < 1) bad(flag, v, "it must be a whole number ≥ 1");
  };
  positiveInt("per_device_train_batch_size", s.perDeviceTrainBatchSize);
  positiveInt("per_device_eval_batch_size", s.perDeviceEvalBatchSize);
  positiveInt("gradient_accumulation_steps", s.gradientAccumulationSteps);
  positiveInt("lora_r", s.loraR);
  positiveInt("cutoff_len", s.cutoffLen);
  if (!(s.learningRate > 0 && s.learningRate < 1)) bad("learning_rate", s.learningRate, "it must be in (0, 1)");
  if (!(s.numTrainEpochs > 0 && Number.isFinite(s.numTrainEpochs))) bad("num_train_epochs", s.numTrainEpochs, "> 0");
  if (!(s.maxGradNorm >= 0)) bad("max_grad_norm", s.maxGradNorm, "it must be ≥ 0 (0: no clipping)");
  if (!(s.loraDropout >= 0 && s.loraDropout < 1)) bad("lora_dropout", s.loraDropout, "it must be in [0, 1)");
  if (!(s.loraAlpha > 0)) bad("lora_alpha", s.loraAlpha, "it must be > 0");
  if (!(Number.isInteger(s.maxTargetLength) && s.maxTargetLength >= 0 && s.maxTargetLength < s.cutoffLen)) {
    bad("max_target_length", s.maxTargetLength, `it must be a whole number below --cutoff_len ${s.cutoffLen}`);
  }
  if (!(Number.isInteger(s.valSetSize) && s.valSetSize >= 0)) bad("val_set_size", s.valSetSize, "a whole number ≥ 0");
  if (s.saveSteps !== undefined) positiveInt("save_steps", s.saveSteps);
  if (s.saveTotalLimit !== undefined) positiveInt("save_total_limit", s.saveTotalLimit);
  if (s.loraTargetModules.length === 0) bad("lora_target_modules", "''", "name at least one module");
}

/** The settings that decide a run's result: a resumed run must have the same. */
function fingerprintOf(s: TrainSettings, trainExamples: number): Record<string, unknown> {
  return {
    model_name_or_path: s.modelNameOrPath,
    template: s.template,
    train_file: s.trainFile,
    train_examples: trainExamples,
    valid_file: s.validFile ?? null,
    per_device_train_batch_size: s.perDeviceTrainBatchSize,
    gradient_accumulation_steps: s.gradientAccumulationSteps,
    num_train_epochs: s.numTrainEpochs,
    learning_rate: s.learningRate,
    max_grad_norm: s.maxGradNorm,
    cutoff_len: s.cutoffLen,
    max_target_length: s.maxTargetLength,
    lora_r: s.loraR,
    lora_alpha: s.loraAlpha,
    lora_dropout: s.loraDropout,
    lora_target_modules: [...s.loraTargetModules],
    checkpoint_dir: s.checkpointDir ?? null,
    quantize: s.quantize ?? null,
    seed: s.seed,
    // The engines round differently (f64, f32): a run resumes on the engine it started on.
    engine: s.engine,
    // Dropout's masks: a hash of seed, module and element (runs before it drew them in sequence).
    ...(s.loraDropout > 0 ? { dropout_masks: "counter" } : {}),
  };
}

/** What a run's fingerprint meant by a key it lacks (it was written before the key existed). */
const FINGERPRINT_DEFAULTS: Readonly<Record<string, unknown>> = { engine: "cpu", dropout_masks: "sequential" };

/** The first setting whose value differs between two fingerprints (values as JSON), if any. */
function differingSetting(
  was: Record<string, unknown>,
  now: Record<string, unknown>,
): { key: string; was: string; now: string } | undefined {
  const value = (f: Record<string, unknown>, k: string) =>
    JSON.stringify(k in f ? f[k] : (FINGERPRINT_DEFAULTS[k] ?? null));
  const keys = new Set([...Object.keys(was), ...Object.keys(now)]);
  const key = [...keys].find((k) => value(was, k) !== value(now, k));
  return key === undefined ? undefined : { key, was: value(was, key), now: value(now, key) };
}

/**
 * Train a LoRA adapter.
 *
 * @param s the settings
 * @param events log, progress, messages, stop signal
 * @returns what the run did
 * @throws {UsageError} for settings that make no sense
 * @throws {InputError} for bad files, a template the tokenizer cannot render, targets the model lacks
 *
 * @example
 * ```ts
 * import { train, TRAIN_DEFAULTS } from "./mod.ts";
 * import { writeRandomModel } from "../infer/testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * const chars = [..."abcdefghijklmnopqrstuvwxyz"];
 * const vocab = Object.fromEntries([["<s>", 0], ["</s>", 1], ...chars.map((c, i) => [c, i + 2])]);
 * const json = { model: { type: "WordLevel", vocab, unk_token: "</s>" }, pre_tokenizer: { type: "Split",
 *   pattern: { String: "" }, behavior: "Isolated" }, added_tokens: [{ id: 0, content: "<s>", special: true },
 *   { id: 1, content: "</s>", special: true }] };
 * await writeRandomModel(`${dir}/m`, { architecture: "llama", vocabSize: 28, hidden: 8, intermediate: 16, layers: 1,
 *   heads: 2, bosId: 0, eosId: 1, tokenizer: { json, config: { bos_token: "<s>", eos_token: "</s>" } } });
 * await Deno.writeTextFile(`${dir}/train.json`, '{"instruction": "abc", "output": "cab"}\n'.repeat(4));
 * const r = await train({ ...TRAIN_DEFAULTS, modelNameOrPath: `${dir}/m`, template: "vanilla",
 *   trainFile: `${dir}/train.json`, outputDir: `${dir}/out`, loraAlpha: 16, loraTargetModules: ["q_proj"],
 *   perDeviceTrainBatchSize: 2, numTrainEpochs: 1, learningRate: 1e-3 });
 * if (r.steps !== 2 || !(r.loss > 0)) throw new Error(JSON.stringify(r));
 * await Deno.stat(`${dir}/out/adapter_model.safetensors`);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function train(s: TrainSettings, events: TrainEvents = {}): Promise<TrainResult> {
  checkSettings(s);
  if (s.engine === "webgpu" && !events.device && !await webGpuAvailable()) {
    throw new UsageError("train: --engine webgpu: no WebGPU adapter available here (use --engine cpu)");
  }
  const say = events.onMessage ?? (() => {});
  const tokenizer = await loadModelTokenizer(s.modelNameOrPath);
  try {
    checkTemplate(s.template, tokenizer);
  } catch (e) {
    if (e instanceof InputError) {
      throw new InputError(`--template ${s.template} does not fit this model's tokenizer: ${e.problem}`, {
        file: s.modelNameOrPath,
      });
    }
    throw e;
  }
  if (s.checkpointDir === undefined) {
    try {
      targetModules(await specOf(s.modelNameOrPath), s.loraTargetModules);
    } catch (e) {
      throw e instanceof InputError ? e.at({ file: s.modelNameOrPath }) : e;
    }
  } else if (!await isGgufFile(s.modelNameOrPath)) {
    // The adapter to continue must fit the base before the weights load (a GGUF base is checked as it loads).
    using folder = await ModelFolder.open(s.modelNameOrPath);
    using adapter = await AdapterFolder.open(s.checkpointDir);
    adapter.checkFits(folder);
  }
  const budget = { cutoffLen: s.cutoffLen, maxTargetLength: s.maxTargetLength };
  const read = await readExamples(s.trainFile, s.template, tokenizer, budget);
  let trainSet: Example[], validSet: Example[] = [];
  let skipped = read.skipped;
  if (s.validFile !== undefined) {
    trainSet = read.examples;
    const v = await readExamples(s.validFile, s.template, tokenizer, budget);
    validSet = v.examples;
    skipped += v.skipped;
  } else if (s.doEval) {
    ({ train: trainSet, valid: validSet } = holdOut(read.examples, s.valSetSize, s.seed));
  } else {
    trainSet = read.examples;
  }
  say(
    `${trainSet.length} train examples, ${validSet.length} validation` +
      (skipped ? `; ${skipped} records skipped (empty instruction or output, as IEPile's script skips them)` : ""),
  );

  const base = await loadModel(s.modelNameOrPath, { onProgress: events.onLoad, quantize: s.quantize });
  let model: LoraModel;
  let adapterSettings: AdapterSettings;
  if (s.checkpointDir !== undefined) {
    const a = await loadAdapter(s.checkpointDir, base);
    model = withModules(base, a.modules);
    adapterSettings = {
      r: a.r,
      alpha: a.alpha,
      dropout: s.loraDropout,
      targets: a.targets,
      baseModel: s.modelNameOrPath,
    };
    say(`continuing the adapter in ${s.checkpointDir} (r ${a.r}, ${a.modules.length} modules)`);
  } else {
    model = createLoraModel(base, { r: s.loraR, alpha: s.loraAlpha, targets: s.loraTargetModules, seed: s.seed });
    adapterSettings = {
      r: s.loraR,
      alpha: s.loraAlpha,
      dropout: s.loraDropout,
      targets: s.loraTargetModules,
      baseModel: s.modelNameOrPath,
    };
  }
  const trainable = model.modules.reduce((n, m) => n + m.pair.a.length + m.pair.b.length, 0);
  say(`LoRA on ${model.modules.length} modules, ${trainable} trainable parameters`);
  const engine = await openLossEngine(s.engine, model, { device: events.device });
  try {
    if (engine.name !== "cpu") say(`computing on ${engine.device}`);
    // The longest example is tried for size before the first step, not hours into the run.
    const all = [...trainSet, ...validSet];
    if (engine.checkFits && all.length > 0) {
      const most = (f: (e: Example) => number) => all.reduce((m, e) => Math.max(m, f(e)), 0);
      const tokens = most((e) => e.ids.length), scored = most(scoredPositions);
      engine.checkFits(tokens, scored);
      const memory = engine.deviceMemory?.(tokens, scored, s.loraDropout > 0);
      if (memory) say(describeTrainMemory(memory, tokens));
    }
    return await runSteps(s, events, { model, engine, adapterSettings, trainSet, validSet, skipped });
  } finally {
    engine.dispose();
  }
}

/** What {@linkcode runSteps} trains: the model on its engine, the adapter's settings, the data. */
interface Run {
  readonly model: LoraModel;
  readonly engine: LossEngine;
  readonly adapterSettings: AdapterSettings;
  readonly trainSet: readonly Example[];
  readonly validSet: readonly Example[];
  readonly skipped: number;
}

/** The optimisation steps of a run (resumed from its last checkpoint), its checkpoints and adapter. */
async function runSteps(s: TrainSettings, events: TrainEvents, run: Run): Promise<TrainResult> {
  const { model, engine, adapterSettings, trainSet, validSet, skipped } = run;
  const say = events.onMessage ?? (() => {});

  const moments = (a: Float64Array) => ({ m: new Float64Array(a.length), v: new Float64Array(a.length) });
  const opt: OptimizerState = {
    a: model.modules.map((m) => moments(m.pair.a)),
    b: model.modules.map((m) => moments(m.pair.b)),
  };
  const micro = Math.ceil(trainSet.length / s.perDeviceTrainBatchSize);
  const stepsPerEpoch = Math.ceil(micro / s.gradientAccumulationSteps);
  const total = Math.ceil(stepsPerEpoch * s.numTrainEpochs);
  const fingerprint = fingerprintOf(s, trainSet.length);

  await Deno.mkdir(s.outputDir, { recursive: true });
  let step = 0;
  const latest = s.overwriteOutputDir ? undefined : await latestCheckpoint(s.outputDir);
  if (s.overwriteOutputDir) await removeRun(s.outputDir);
  if (latest) {
    const was = latest.state.fingerprint;
    const differs = differingSetting(was, fingerprint);
    if (differs !== undefined) {
      throw new InputError(
        `holds a run with other settings (${differs.key} was ${differs.was}, now ${differs.now}): ` +
          "pass --overwrite_output_dir to start afresh, or another --output_dir",
        { file: latest.dir },
      );
    }
    await restoreCheckpoint(latest.dir, model.modules, opt);
    engine.paramsChanged();
    step = latest.state.globalStep;
    say(`resuming from ${latest.dir} (step ${step} of ${total})`);
  }
  const logPath = join(s.outputDir, LOG);
  await keepLog(logPath, step);
  const writeLog = async (entry: LogEntry) => {
    events.onLog?.(entry);
    await Deno.writeTextFile(logPath, JSON.stringify(entry) + "\n", { append: true });
  };

  const started = performance.now();
  const startStep = step;
  let lastLoss = NaN, evalLoss: number | undefined;
  let stopped = false;
  let order: number[] = [], orderEpoch = -1; // the current epoch's example order, drawn once per epoch
  while (step < total) {
    if (events.signal?.aborted) {
      stopped = true;
      break;
    }
    const epoch = Math.floor(step / stepsPerEpoch);
    const inEpoch = step % stepsPerEpoch;
    if (epoch !== orderEpoch) [order, orderEpoch] = [epochOrder(trainSet.length, s.seed, epoch), epoch];
    const firstMicro = inEpoch * s.gradientAccumulationSteps;
    const lastMicro = Math.min(firstMicro + s.gradientAccumulationSteps, micro);
    const t0 = performance.now();
    const grads = zeroGrads(model);
    let lossSum = 0, tokens = 0;
    for (let b = firstMicro; b < lastMicro; b++) {
      const batch = order.slice(b * s.perDeviceTrainBatchSize, (b + 1) * s.perDeviceTrainBatchSize).map((i) =>
        trainSet[i]
      );
      const scored = batch.reduce((n, e) => n + scoredPositions(e), 0);
      const weight = 1 / (scored * (lastMicro - firstMicro));
      let sum = 0;
      for (const [j, e] of batch.entries()) {
        const dropoutSeed = seedOf(s.seed, step, b * s.perDeviceTrainBatchSize + j);
        sum += (await engine.loss(e, { backward: true, weight, dropout: s.loraDropout, dropoutSeed })).sum;
        tokens += e.ids.length;
      }
      lossSum += sum / scored;
    }
    await engine.takeGrads(grads);
    const loss = lossSum / (lastMicro - firstMicro);
    const gradNorm = clipGradNorm([...grads.a, ...grads.b], s.maxGradNorm);
    const lr = linearDecay(s.learningRate, step, total);
    model.modules.forEach((m, i) => {
      adamwStep(m.pair.a, grads.a[i], opt.a[i], step + 1, lr);
      adamwStep(m.pair.b, grads.b[i], opt.b[i], step + 1, lr);
    });
    engine.paramsChanged();
    step++;
    lastLoss = loss;
    const seconds = (performance.now() - t0) / 1000;
    const epochs = round(step / stepsPerEpoch);
    await writeLog({
      step,
      epoch: epochs,
      loss,
      learning_rate: lr,
      grad_norm: gradNorm,
      tokens,
      tokens_per_second: round(tokens / Math.max(seconds, 1e-9)),
    });
    const elapsed = (performance.now() - started) / 1000;
    events.onProgress?.({
      step,
      total,
      loss,
      seconds: elapsed,
      eta: (elapsed / (step - startStep)) * (total - step),
    });
    const epochEnd = step % stepsPerEpoch === 0 || step === total;
    if (epochEnd && validSet.length > 0) {
      evalLoss = await validationLoss(engine, validSet, s.perDeviceEvalBatchSize);
      await writeLog({ step, epoch: epochs, eval_loss: evalLoss });
      say(`epoch ${epochs}: validation loss ${evalLoss.toFixed(4)}`);
    }
    if (epochEnd || (s.saveSteps !== undefined && step % s.saveSteps === 0)) {
      const dir = await saveCheckpoint(s.outputDir, model.modules, opt, {
        globalStep: step,
        epoch: epochs,
        fingerprint,
      }, adapterSettings);
      await pruneCheckpoints(s.outputDir, s.saveTotalLimit);
      say(`saved ${dir}`);
    }
  }
  if (!stopped) {
    await saveAdapter(s.outputDir, model.modules, adapterSettings);
    const results = { steps: step, loss: lastLoss, eval_loss: evalLoss ?? null, fingerprint };
    await writeAtomically(
      join(s.outputDir, "train_results.json"),
      (tmp) => Deno.writeTextFile(tmp, JSON.stringify(results, null, 2) + "\n"),
    );
  }
  return {
    outputDir: s.outputDir,
    steps: step,
    resumedFrom: startStep,
    examples: { train: trainSet.length, valid: validSet.length, skipped },
    loss: lastLoss,
    evalLoss,
    stopped,
  };
}

/** What a model computes, from its config or GGUF header only (checks before the weights load). */
async function specOf(path: string): Promise<ModelSpec> {
  if (await isGgufFile(path)) {
    using g = await GgufModelFile.open(path);
    return g.spec;
  }
  using folder = await ModelFolder.open(path);
  return folder.spec;
}

/** The validation loss: the mean over micro-batches of their mean token loss. */
async function validationLoss(engine: LossEngine, examples: readonly Example[], batchSize: number): Promise<number> {
  let total = 0, batches = 0;
  for (let i = 0; i < examples.length; i += batchSize) {
    let sum = 0, tokens = 0;
    for (const e of examples.slice(i, i + batchSize)) {
      const l = await engine.loss(e, { backward: false });
      sum += l.sum;
      tokens += l.tokens;
    }
    total += sum / tokens;
    batches++;
  }
  return total / batches;
}

/** A dropout seed for one example of one step. */
function seedOf(seed: number, step: number, index: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x01000193) ^ Math.imul(step + 1, 0x9e3779b1) ^
    Math.imul(index + 1, 0x85ebca6b)) >>>
    0;
}

function round(x: number): number {
  return Math.round(x * 1e4) / 1e4;
}

/** Keep the log's entries of steps up to `step` (a resumed run drops what it will redo). */
async function keepLog(path: string, step: number): Promise<void> {
  let lines: string[] = [];
  try {
    lines = (await Deno.readTextFile(path)).split("\n").filter((l) => l.trim() !== "");
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const kept = lines.filter((l) => {
    try {
      return (JSON.parse(l) as LogEntry).step <= step;
    } catch {
      return false; // a line cut by a kill
    }
  });
  await writeAtomically(path, (tmp) => Deno.writeTextFile(tmp, kept.map((l) => l + "\n").join("")));
}

/** Remove a previous run's checkpoints, log and adapter from an output folder. */
async function removeRun(dir: string): Promise<void> {
  for await (const e of Deno.readDir(dir)) {
    if (
      /^\.?checkpoint-\d+(\.partial)?$/.test(e.name) ||
      [LOG, "train_results.json", "adapter_config.json", "adapter_model.safetensors"].includes(e.name)
    ) {
      await Deno.remove(join(dir, e.name), { recursive: true });
    }
  }
}
