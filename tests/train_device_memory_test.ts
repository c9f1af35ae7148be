/**
 * train/webgpu/device_memory.ts: the WebGPU trainer's device memory, worked out from a model's
 * shape alone, equals what the trainer allocates: the storage buffers a device sees created and
 * destroyed (counted through a wrapper around the device) while the engine uploads a model and
 * while it runs an example, forward only and with its backward pass, with and without dropout,
 * for every family and for 16-bit and quantized bases; and, with no device, the roles the pass
 * asks its buffers for equal the plan's, each at the most it asks, over model shapes the
 * random writer cannot make (queries narrower or wider than hidden). From the same plan: a 13B model's QLoRA
 * training fits a 24 GB GPU, its 16-bit base does not; `inspect` states it per format.
 */

import { deepEqual, equal, ok, throws } from "node:assert/strict";
import { loadModel, webGpuAvailable } from "../infer/mod.ts";
import { type RandomModelOptions, writeRandomModel } from "../infer/testing/mod.ts";
import { USAGE } from "../infer/engine/webgpu/buffers.ts";
import type { QuantPreset } from "../infer/formats/quant_preset.ts";
import { weightMemory } from "../infer/model/memory_plan.ts";
import { UsageError } from "../io/errors.ts";
import { createLoraModel, DEFAULT_TARGETS, scoredPositions, WebGpuLoss, zeroGrads } from "../train/mod.ts";
import { examplePlan, trainMemory } from "../train/webgpu/device_memory.ts";
import { encodeExample, type Graph } from "../train/webgpu/layer_pass.ts";
import type { Work } from "../train/webgpu/example_work.ts";
import type { WorkList } from "../train/webgpu/work_list.ts";
import { targetModules } from "../train/lora_model.ts";
import type { ModelSpec } from "../infer/model/model_spec.ts";
import { runCli, sharedGpuDevice, skipNotice, tempDir } from "./_shared.ts";
import { EXAMPLE, FAMILIES, randomizeB } from "./_train_fixtures.ts";
import { llamaSpec } from "../bench/_llama_spec.ts";

const HAVE_GPU = await webGpuAvailable();
if (!HAVE_GPU) skipNotice(import.meta.url, "the WebGPU trainer's device memory", "no WebGPU adapter on this machine");

/** A device whose storage buffers are counted: bytes alive now, and the most alive since a reset. */
class CountedDevice {
  live = 0;
  peak = 0;
  readonly device: GPUDevice;

  constructor(real: GPUDevice) {
    const createBuffer = (d: GPUBufferDescriptor): GPUBuffer => {
      const b = real.createBuffer(d);
      if ((d.usage & USAGE.STORAGE) === 0) return b;
      this.live += d.size;
      this.peak = Math.max(this.peak, this.live);
      const destroy = b.destroy.bind(b);
      let gone = false;
      Object.defineProperty(b, "destroy", {
        value: () => {
          if (!gone) this.live -= d.size;
          gone = true;
          destroy();
        },
      });
      return b;
    };
    this.device = new Proxy(real, {
      get(target, key) {
        if (key === "createBuffer") return createBuffer;
        const v = Reflect.get(target, key, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
  }

  /** Start a new peak from what is alive now. */
  reset(): void {
    this.peak = this.live;
  }
}

const RANDOM = { vocabSize: 40, hidden: 16, intermediate: 24, layers: 2 };

Deno.test({
  name: "WebGPU trainer: the planned device memory is what it allocates (every family, 16-bit and quantized bases)",
  ignore: !HAVE_GPU,
  async fn(t) {
    const cases: [string, RandomModelOptions, QuantPreset, QuantPreset | undefined][] = [
      ...FAMILIES.map(([label, o]): [string, RandomModelOptions, QuantPreset, undefined] => [
        label,
        { ...RANDOM, ...o },
        "f32",
        undefined,
      ]),
      [
        "llama, tied embeddings, f16",
        { ...RANDOM, architecture: "llama", heads: 2, tiedEmbeddings: true, dtype: "f16" },
        "f16",
        undefined,
      ],
      [
        "llama, q4_k_m",
        { ...RANDOM, architecture: "llama", heads: 2, hidden: 256, intermediate: 256 },
        "q4_k_m",
        "q4_k_m",
      ],
    ];
    const counted = new CountedDevice(await sharedGpuDevice());
    for (const [label, write, format, quantize] of cases) {
      await t.step(label, async () => {
        await using tmp = await tempDir();
        await writeRandomModel(tmp.dir, write);
        const base = await loadModel(tmp.dir, { quantize: quantize as never });
        const model = createLoraModel(base, { r: 2, alpha: 4, targets: ["all"], seed: 5 });
        randomizeB(model, 6);
        const n = EXAMPLE.ids.length, scored = scoredPositions(EXAMPLE);
        const start = counted.live;
        const engine = await WebGpuLoss.create(model, { device: counted.device });
        try {
          const planned = trainMemory(model.spec, { format, targets: ["all"], r: 2, tokens: n, scored });
          equal(counted.live - start, planned.weights + planned.lora, `${label}: weights and LoRA as planned`);
          deepEqual(engine.deviceMemory(n, scored), planned, `${label}: the engine's own plan`);
          const modules = model.modules.map((m) => ({ ...m, inp: m.pair.inp, out: m.pair.out, r: m.pair.r }));
          for (const backward of [false, true]) {
            for (const dropout of [0, 0.2]) {
              counted.reset();
              const before = counted.live;
              await engine.loss(EXAMPLE, { backward, dropout, dropoutSeed: 1 });
              const plan = examplePlan(model.spec, modules, { tokens: n, scored, backward, dropout: dropout > 0 });
              equal(counted.peak - before, plan.bytes, `${label}: backward ${backward}, dropout ${dropout}`);
              equal(counted.live, before, `${label}: an example's buffers are freed after it`);
            }
          }
          await engine.takeGrads(zeroGrads(model));
        } finally {
          engine.dispose();
        }
        equal(counted.live, start, `${label}: dispose frees everything`);
      });
    }
  },
});

Deno.test({
  name: "WebGPU trainer: an example past the device's binding limit is refused before any work, naming the buffer",
  ignore: !HAVE_GPU,
  async fn() {
    await using tmp = await tempDir();
    await writeRandomModel(tmp.dir, { ...RANDOM, architecture: "llama", heads: 2 });
    const model = createLoraModel(await loadModel(tmp.dir), { r: 2, alpha: 4, targets: ["v_proj"], seed: 1 });
    const device = await sharedGpuDevice();
    const engine = await WebGpuLoss.create(model, { device });
    try {
      const limit = Math.min(device.limits.maxStorageBufferBindingSize, device.limits.maxBufferSize);
      // Attention probabilities: 2 heads × n × n f32 values; just past the limit.
      const n = Math.ceil(Math.sqrt(limit / 8)) + 1;
      throws(
        () => engine.checkFits(n, 1),
        (e) =>
          e instanceof UsageError &&
          e.message.startsWith(`train --engine webgpu: an example of ${n} tokens needs ${2 * n * n * 4} bytes`) &&
          e.message.includes("(its attention probabilities)") && e.message.endsWith("lower --cutoff_len"),
      );
      engine.checkFits(Math.floor(Math.sqrt(limit / 8)) - 1, 1);
    } finally {
      engine.dispose();
    }
  },
});

Deno.test("a 13B model's LoRA training: 4-bit (QLoRA) fits a 24 GB GPU, 16-bit does not", () => {
  // LLaMA-2-13B's shape; IEPile's lengths: a 700-token prompt budget and 300 answer tokens.
  const spec = llamaSpec({ vocab: 32000, hidden: 5120, inter: 13824, layers: 40, heads: 40, kv: 40 });
  const o = { targets: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"], r: 8 };
  const q4 = trainMemory(spec, { ...o, format: "q4_k_m", tokens: 1000, scored: 300 });
  const f16 = trainMemory(spec, { ...o, format: "f16", tokens: 1000, scored: 300 });
  // The weights as llama.cpp's q4_k_m file holds them (7.87 GB), less the input embedding.
  const [file] = weightMemory(spec, ["q4_k_m"]);
  ok(q4.weights < file.weightBytes && q4.weights > file.weightBytes - 0.1e9, `${q4.weights}`);
  // Every layer's input is kept (41 × 1000 × 5120 f32 = 0.84 GB); one layer's activations and
  // gradients at a time (attention probabilities and their gradient: 2 × 40 × 1000² f32).
  ok(q4.example > 0.84e9 + 0.32e9 && q4.example < 3e9, `${q4.example}`);
  ok(q4.total < 24e9 * 0.5, `QLoRA of a 13B model: ${q4.total} bytes`);
  ok(f16.total > 24e9, `16-bit: ${f16.total} bytes`);
  equal(f16.example, q4.example);
  equal(q4.largest, 40 * 1000 * 1000 * 4, "the largest buffer: attention probabilities");
});

Deno.test("inspect states LoRA training's device memory in each format, with the family's default targets", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, { ...RANDOM, architecture: "baichuan", heads: 2 });
  const text = await runCli(["inspect", "--model", tmp.dir]);
  equal(text.code, 0, text.stderr);
  ok(text.stdout.includes("training       GPU memory of LoRA training (train --engine webgpu) with the weights"));
  ok(text.stdout.includes("train --quantize P): r 8, a 1,000-token longest\n"), text.stdout);
  ok(text.stdout.includes("example (300 answer tokens), targets W_pack, o_proj, gate_proj, down_proj, up_proj:"));
  const json = await runCli(["inspect", "--model", tmp.dir, "--json"]);
  const report = JSON.parse(json.stdout);
  const spec = (await loadModel(tmp.dir)).spec;
  deepEqual(report.training.formats.map((f: { format: string }) => f.format), [
    "f16",
    "q8_0",
    "q6_k",
    "q4_k_m",
    "q4_0",
  ]);
  for (const f of report.training.formats) {
    const want = trainMemory(spec, {
      format: f.format,
      targets: DEFAULT_TARGETS.baichuan,
      r: 8,
      tokens: 1000,
      scored: 300,
    });
    deepEqual(f, { format: f.format, ...want }, f.format);
  }
  // A user's own lengths and rank.
  const own = await runCli([
    ...["inspect", "--model", tmp.dir, "--json"],
    ...["--cutoff-len", "200", "--max-target-length", "56", "--lora-r", "4"],
  ]);
  const training = JSON.parse(own.stdout).training;
  deepEqual([training.tokens, training.scored, training.r], [256, 56, 4]);
  const q4 = trainMemory(spec, { format: "q4_k_m", targets: DEFAULT_TARGETS.baichuan, r: 4, tokens: 256, scored: 56 });
  deepEqual(training.formats[3], { format: "q4_k_m", ...q4 });
  const bad = await runCli(["inspect", "--model", tmp.dir, "--lora-r", "0"]);
  deepEqual([bad.code, bad.stdout], [2, ""]);
  ok(bad.stderr.trim().split("\n").length === 1 && bad.stderr.includes("--lora-r"), bad.stderr);
});

/**
 * The roles an example's pass asks its buffers for, each at the most it asks: the graph encoded
 * with stand-in buffers and weights (no device), recording every `work.get`.
 */
function askedRoles(
  spec: ModelSpec,
  targets: readonly string[],
  o: { backward: boolean; dropout: boolean },
): { asked: Map<string, number>; planned: ReadonlyMap<string, number> } {
  const modules = targetModules(spec, targets).map((t) => ({ ...t, r: 3 }));
  const b = { size: 2 ** 30 } as GPUBuffer;
  const QD = spec.heads * spec.headDim, KD = spec.kvHeads * spec.headDim, H = spec.hidden, I = spec.intermediate;
  const matrix = (rows: number, cols: number) => ({
    dtype: "f32",
    rows,
    cols,
    bytes: 4 * rows * cols,
    chunks: [{ buffer: b, rowStart: 0, rows }],
  });
  const layer = {
    attnNorm: b,
    ffnNorm: b,
    wq: matrix(QD, H),
    wk: matrix(KD, H),
    wv: matrix(KD, H),
    wo: matrix(H, QD),
    w1: matrix(I, H),
    w3: matrix(I, H),
    w2: matrix(H, I),
  };
  const output = matrix(spec.vocabSize, H);
  const weights = { embed: output, output, norm: b, layers: Array(spec.layers).fill(layer) };
  const bySlot = Array.from({ length: spec.layers }, () => ({ qkv: [], o: [], gateup: [], down: [] })) as Record<
    string,
    unknown[]
  >[];
  modules.forEach((m, index) => bySlot[m.layer][m.slot].push({ ...m, index, scale: 1, a: b, b, ga: b, gb: b }));
  const model = { spec, slopes: spec.position.kind === "alibi" ? Array(spec.heads).fill(0.5) : [] };
  const graph = { model, weights, bySlot, slopes: b, wide: false } as unknown as Graph;
  const asked = new Map<string, number>();
  const work = {
    n: EXAMPLE.ids.length,
    xs: Array(spec.layers + 1).fill(b),
    step: b,
    table: spec.position.kind === "rope" ? b : undefined,
    get: (role: string, elements: number) => (asked.set(role, Math.max(asked.get(role) ?? 0, elements)), b),
    own: { bytes: () => b },
    loraIn: new Map(),
    loraH: new Map(),
  } as unknown as Work;
  const list = { call() {}, copy() {}, clear() {} } as unknown as WorkList;
  encodeExample(graph, list, work, EXAMPLE, { backward: o.backward, dropout: o.dropout ? 0.1 : 0, dropoutSeed: 1 });
  const shape = { tokens: EXAMPLE.ids.length, scored: scoredPositions(EXAMPLE), ...o };
  return { asked, planned: examplePlan(spec, modules, shape).roles };
}

Deno.test("the example plan's roles are those the pass asks for, each at the most it asks (no device)", async (t) => {
  const base = llamaSpec({ vocab: 40, hidden: 32, inter: 48, layers: 2, heads: 4, kv: 2 });
  const shapes: [string, ModelSpec][] = [
    ["grouped-query", base],
    ["queries narrower than hidden (Mistral-Nemo's kind)", { ...base, headDim: 6 }],
    ["queries wider than hidden", { ...base, headDim: 12 }],
    ["MLP narrower than hidden", { ...base, intermediate: 16 }],
    ["ALiBi, tied embeddings", { ...base, position: { kind: "alibi" }, tiedEmbeddings: true, kvHeads: 4 }],
  ];
  const targetSets = [["all"], ["q_proj", "o_proj"], ["gate_proj", "o_proj"], ["down_proj", "v_proj"]];
  for (const [label, spec] of shapes) {
    await t.step(label, () => {
      for (const targets of targetSets) {
        for (const backward of [false, true]) {
          for (const dropout of [false, true]) {
            const { asked, planned } = askedRoles(spec, targets, { backward, dropout });
            deepEqual(asked, planned, `${label}, ${targets}, backward ${backward}, dropout ${dropout}`);
          }
        }
      }
    });
  }
});
