/**
 * Host memory of loading a model, per engine and weight format, as a user's process sees it: a
 * random bf16 model of a 13B model's shape (hidden 5120, MLP 13824, vocabulary 55296, 40 heads:
 * LLaMA2-13B / OneKE) written with 1 and with 2 layers (and, for each quantized format, exported
 * to a GGUF in it), each loaded in its own process; the peak (VmHWM) and the resident memory once
 * loaded (VmRSS). The difference between the two depths is what one layer costs; the figure for
 * 40 layers is extrapolated from it, next to what `inspect` states for the whole model.
 *
 * On a software WebGPU adapter (llvmpipe) the device's buffers are host memory too, so the
 * webgpu rows there include the weights themselves; "beyond the weights" subtracts them.
 * `webgpu-host` is the way that holds the whole model on the host first (`WebGpuEngine.create` on
 * a loaded model), for comparison with the streaming load (`WebGpuEngine.load`).
 *
 *     deno run -A bench/load_memory.ts [--formats bf16,q4_k_m] [--engines cpu,webgpu,webgpu-host]
 *       [--layers-a 1] [--layers-b 2] [--hidden 5120] [--vocab 55296]
 *
 * @module
 */

import { openEngine } from "../infer/engine/create_engine.ts";
import { WebGpuEngine } from "../infer/engine/webgpu/webgpu_engine.ts";
import { adapterName } from "../infer/engine/webgpu/adapter.ts";
import { loadModel } from "../infer/model/load_model.ts";
import { exportGguf } from "../infer/model/gguf_export.ts";
import { weightMemory } from "../infer/model/memory_plan.ts";
import type { QuantPreset } from "../infer/formats/quant_preset.ts";
import { writeRandomModel } from "../infer/testing/mod.ts";
import { machine } from "./_process.ts";
import { llamaSpec } from "./_llama_spec.ts";

const MiB = 2 ** 20;

function status(): { peak: number; rss: number } {
  const s = Deno.readTextFileSync("/proc/self/status");
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN);
  return { peak: kib("VmHWM") * 1024, rss: kib("VmRSS") * 1024 };
}

if (Deno.args[0] === "--child") {
  // One load, in this process: print what it cost.
  const [, path, engine] = Deno.args;
  const t0 = performance.now();
  const e = engine === "webgpu-host"
    ? await WebGpuEngine.create(await loadModel(path), { contextSize: 256 })
    : await openEngine(path, { engine: engine as "cpu" | "webgpu", contextSize: 256 });
  const seconds = (performance.now() - t0) / 1000;
  const s = status();
  const weightBytes = e instanceof WebGpuEngine ? e.weightBytes : NaN;
  let adapter = "";
  if (e instanceof WebGpuEngine) {
    const info = e.device.adapterInfo;
    adapter = adapterName(info);
  }
  e.dispose();
  console.log(JSON.stringify({ peak: s.peak, rss: s.rss, seconds, weightBytes, adapter }));
  Deno.exit(0);
}

const opt = (name: string, fallback: string) => {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : fallback;
};
const hidden = Number(opt("hidden", "5120"));
const depths = [Number(opt("layers-a", "1")), Number(opt("layers-b", "2"))];
const engines = opt("engines", "cpu,webgpu,webgpu-host").split(",");
const formats = opt("formats", "bf16,q4_k_m").split(",") as QuantPreset[];
const shape = {
  architecture: "llama" as const,
  vocabSize: Number(opt("vocab", "55296")),
  hidden,
  intermediate: Number(opt("intermediate", String(Math.round(hidden * 2.7)))),
  heads: Math.max(1, hidden / 128),
  dtype: "bf16" as const,
};

async function sizeOf(path: string): Promise<number> {
  const info = await Deno.stat(path);
  if (!info.isDirectory) return info.size;
  let bytes = 0;
  for await (const f of Deno.readDir(path)) bytes += (await Deno.stat(`${path}/${f.name}`)).size;
  return bytes;
}

const root = await Deno.makeTempDir({ prefix: "iepile-load-memory-" });
try {
  console.log(`host memory of loading, ${JSON.stringify(shape)}`);
  console.log(`machine: ${machine()}\n`);
  // What to load, per format and depth: the folder (bf16) or a GGUF exported from it.
  const paths = new Map<string, { path: string; bytes: number }>();
  for (const layers of depths) {
    let t0 = performance.now();
    const dir = `${root}/l${layers}`;
    await writeRandomModel(dir, { ...shape, layers });
    console.log(`wrote ${layers} layer(s), bf16: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
    for (const format of formats) {
      let path = dir;
      if (format !== "bf16") {
        t0 = performance.now();
        path = `${root}/l${layers}.${format}.gguf`;
        await exportGguf(await loadModel(dir), path, { dtype: format, tokenizer: null });
        console.log(`exported ${layers} layer(s), ${format}: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
      }
      paths.set(`${format}/${layers}`, { path, bytes: await sizeOf(path) });
    }
  }
  console.log(
    "\n| format | engine      | layers | file MiB | load s | peak MiB | resident MiB | beyond the weights, peak MiB |",
  );
  console.log(
    "| ------ | ----------- | ------ | -------- | ------ | -------- | ------------ | ---------------------------- |",
  );
  const notes: string[] = [];
  for (const format of formats) {
    for (const engine of engines) {
      if (engine === "webgpu-host" && format !== formats[0]) continue;
      const rows: Array<{ peak: number; rss: number }> = [];
      let adapter = "";
      for (const layers of depths) {
        const { path, bytes } = paths.get(`${format}/${layers}`)!;
        const out = await new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", import.meta.filename!, "--child", path, engine],
          stdout: "piped",
          stderr: "inherit",
        }).output();
        if (!out.success) throw new Error(`${engine} failed to load ${path}`);
        const r = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
        rows.push(r);
        adapter = r.adapter;
        // On llvmpipe the device buffers are host memory: what is beyond them is the loader's.
        const beyond = engine.startsWith("webgpu") ? r.peak - r.weightBytes : r.peak - bytes;
        console.log(
          `| ${format.padEnd(6)} | ${engine.padEnd(11)} | ${String(layers).padStart(6)} | ${
            (bytes / MiB).toFixed(0).padStart(8)
          } | ${r.seconds.toFixed(1).padStart(6)} | ${(r.peak / MiB).toFixed(0).padStart(8)} | ${
            (r.rss / MiB).toFixed(0).padStart(12)
          } | ${(beyond / MiB).toFixed(0).padStart(28)} |`,
        );
      }
      const perLayer = (rows[1].peak - rows[0].peak) / (depths[1] - depths[0]);
      const at40 = rows[0].peak + (40 - depths[0]) * perLayer;
      const fileA = paths.get(`${format}/${depths[0]}`)!.bytes, fileB = paths.get(`${format}/${depths[1]}`)!.bytes;
      notes.push(
        `${format} ${engine}${adapter ? ` (${adapter})` : ""}: peak grows ${(perLayer / MiB).toFixed(0)} MiB per ` +
          `layer (file: ${((fileB - fileA) / (depths[1] - depths[0]) / MiB).toFixed(0)} MiB per layer); ` +
          `40 layers extrapolated: ${(at40 / 2 ** 30).toFixed(2)} GiB peak`,
      );
    }
  }
  console.log("\n" + notes.join("\n"));
  const spec40 = llamaSpec({
    vocab: shape.vocabSize,
    hidden,
    inter: shape.intermediate,
    layers: 40,
    heads: shape.heads,
    kv: shape.heads,
  });
  const stated = weightMemory(spec40, formats.map((f) => f === "bf16" ? "f16" : f));
  console.log(
    `inspect states for 40 layers: ` +
      stated.map((m) => `${m.format === "f16" ? "bf16" : m.format} ${(m.weightBytes / 2 ** 30).toFixed(2)} GiB`)
        .join(", "),
  );
} finally {
  await Deno.remove(root, { recursive: true });
}
