/**
 * Host memory of loading a model, per engine, as a user's process sees it: a random bf16 model
 * of a 13B model's shape (hidden 5120, MLP 13824, vocabulary 55296, 40 heads: LLaMA2-13B /
 * OneKE) written with 1 and with 2 layers, each loaded in its own process; the peak (VmHWM) and
 * the resident memory once loaded (VmRSS). The difference between the two depths is what one
 * layer costs; the figure for 40 layers is extrapolated from it.
 *
 * On a software WebGPU adapter (llvmpipe) the device's buffers are host memory too, so the
 * webgpu rows there include the weights themselves; "beyond the weights" subtracts them.
 *
 *     deno run -A bench/load_memory.ts [--layers-a 1] [--layers-b 2] [--hidden 5120] [--engines cpu,webgpu,webgpu-host]
 *
 * @module
 */

import { openEngine } from "../infer/engine/create_engine.ts";
import { WebGpuEngine } from "../infer/engine/webgpu/webgpu_engine.ts";
import { loadModel } from "../infer/model/load_model.ts";
import { writeRandomModel } from "../infer/testing/mod.ts";
import { machine } from "./_process.ts";

const MiB = 2 ** 20;

function status(): { peak: number; rss: number } {
  const s = Deno.readTextFileSync("/proc/self/status");
  const kib = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN);
  return { peak: kib("VmHWM") * 1024, rss: kib("VmRSS") * 1024 };
}

if (Deno.args[0] === "--child") {
  // One load, in this process: print what it cost.
  const [, dir, engine] = Deno.args;
  const t0 = performance.now();
  // "webgpu-host" is the way that holds the model on the host first (WebGpuEngine.create on a
  // loaded model), for comparison with the streaming load.
  const e = engine === "webgpu-host"
    ? await WebGpuEngine.create(await loadModel(dir), { contextSize: 256 })
    : await openEngine(dir, { engine: engine as "cpu" | "webgpu", contextSize: 256 });
  const seconds = (performance.now() - t0) / 1000;
  const s = status();
  const weightBytes = e instanceof WebGpuEngine ? e.weightBytes : NaN;
  let adapter = "";
  if (e instanceof WebGpuEngine) {
    const info = e.device.adapterInfo;
    adapter = [info?.description, info?.device, info?.vendor].find((x) => x) ?? "";
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
const shape = {
  architecture: "llama" as const,
  vocabSize: Number(opt("vocab", "55296")),
  hidden,
  intermediate: Number(opt("intermediate", String(Math.round(hidden * 2.7)))),
  heads: Math.max(1, hidden / 128),
  dtype: "bf16" as const,
};

const root = await Deno.makeTempDir({ prefix: "iepile-load-memory-" });
try {
  console.log(`host memory of loading, bf16, ${JSON.stringify(shape)}`);
  console.log(`machine: ${machine()}\n`);
  const files: Record<number, number> = {};
  for (const layers of depths) {
    const t0 = performance.now();
    await writeRandomModel(`${root}/l${layers}`, { ...shape, layers });
    let bytes = 0;
    for await (const f of Deno.readDir(`${root}/l${layers}`)) {
      bytes += (await Deno.stat(`${root}/l${layers}/${f.name}`)).size;
    }
    files[layers] = bytes;
    console.log(
      `wrote ${layers} layer(s): ${(bytes / MiB).toFixed(0)} MiB in ${((performance.now() - t0) / 1000).toFixed(0)} s`,
    );
  }
  console.log("\n| engine | layers | file MiB | load s | peak MiB | resident MiB | beyond the weights, peak MiB |");
  console.log("| ------ | ------ | -------- | ------ | -------- | ------------ | ---------------------------- |");
  for (const engine of engines) {
    const rows: Array<{ peak: number; rss: number }> = [];
    let adapter = "";
    for (const layers of depths) {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", import.meta.filename!, "--child", `${root}/l${layers}`, engine],
        stdout: "piped",
        stderr: "inherit",
      }).output();
      if (!out.success) throw new Error(`${engine} failed to load ${layers} layer(s)`);
      const r = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").at(-1)!);
      rows.push(r);
      adapter = r.adapter;
      // On llvmpipe the device buffers are host memory: what is beyond them is the loader's.
      const beyond = engine.startsWith("webgpu") ? r.peak - r.weightBytes : r.peak - files[layers];
      console.log(
        `| ${engine.padEnd(6)} | ${String(layers).padStart(6)} | ${(files[layers] / MiB).toFixed(0).padStart(8)} | ${
          r.seconds.toFixed(1).padStart(6)
        } | ${(r.peak / MiB).toFixed(0).padStart(8)} | ${(r.rss / MiB).toFixed(0).padStart(12)} | ${
          (beyond / MiB).toFixed(0).padStart(28)
        } |`,
      );
    }
    const perLayer = (rows[1].peak - rows[0].peak) / (depths[1] - depths[0]);
    const at40 = rows[0].peak + (40 - depths[0]) * perLayer;
    console.log(
      `${engine}${adapter ? ` (${adapter})` : ""}: peak grows ${(perLayer / MiB).toFixed(0)} MiB per layer ` +
        `(file: ${
          ((files[depths[1]] - files[depths[0]]) / (depths[1] - depths[0]) / MiB).toFixed(0)
        } MiB per layer); ` +
        `40 layers extrapolated: ${(at40 / 2 ** 30).toFixed(1)} GiB peak\n`,
    );
  }
} finally {
  await Deno.remove(root, { recursive: true });
}
