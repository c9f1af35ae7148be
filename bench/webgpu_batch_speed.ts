/**
 * Batched decoding on the WebGPU engine, quick: 8 sessions of a ~20M-parameter random Llama
 * (f32), each with its own 8-token prompt, then 16 lockstep steps timed, once stepped one
 * session at a time (`forward`) and once with `forwardBatch`; prints tokens per second of all
 * sessions together and checks that both give the same logits bit for bit.
 *
 * Run: `deno run -A bench/webgpu_batch_speed.ts [--sessions 8] [--steps 16] [--format f32]
 * [--matmul rows|cooperative]` (default: the adapter's; `cooperative` decodes by `matvec`).
 *
 * @module
 */

import { benchOptions } from "./_process.ts";
import { loadModel, webGpuAvailable, WebGpuEngine } from "../infer/mod.ts";
import type { MatmulStrategy } from "../infer/engine/webgpu/mod.ts";
import { writeRandomModel } from "../infer/testing/mod.ts";
import type { QuantPreset } from "../infer/formats/quant_preset.ts";

const { values: args } = benchOptions(
  Deno.args,
  "deno run -A bench/webgpu_batch_speed.ts [--sessions 8] [--steps 16] [--format f32] [--matmul rows|cooperative]",
  {
    sessions: { type: "string", default: "8" },
    steps: { type: "string", default: "16" },
    format: { type: "string", default: "f32" },
    matmul: { type: "string" },
  },
);
const N = Number(args.sessions), STEPS = Number(args.steps);
if (!(await webGpuAvailable())) {
  console.log("no WebGPU adapter");
  Deno.exit(0);
}
const dir = await Deno.makeTempDir();
try {
  // Embedding and output 2 × 8000 × 512, 4 layers of 4 · 512² + 3 · 512 · 1536: about 21M.
  await writeRandomModel(dir, {
    architecture: "llama",
    vocabSize: 8000,
    hidden: 512,
    intermediate: 1536,
    layers: 4,
    heads: 8,
    kvHeads: 4,
  });
  const quantize = args.format === "f32" ? undefined : args.format as QuantPreset;
  const matmul = args.matmul as MatmulStrategy | undefined;
  const engine = await WebGpuEngine.create(await loadModel(dir, { quantize }), { contextSize: 64, matmul });
  try {
    const run = async (batched: boolean): Promise<{ tps: number; logits: Float32Array[] }> => {
      const sessions = Array.from({ length: N }, () => engine.createSession());
      for (const [i, s] of sessions.entries()) {
        await s.forward(Array.from({ length: 8 }, (_, j) => (i * 31 + j * 7) % 8000));
      }
      const tokens = sessions.map((_, i) => (i * 13 + 5) % 8000);
      const logits: Float32Array[] = [];
      const t0 = performance.now();
      for (let step = 0; step < STEPS; step++) {
        const out = batched
          ? await engine.forwardBatch(sessions.map((session, i) => ({ session, token: tokens[i] })))
          : await Promise.all(sessions.map((s, i) => s.forward([tokens[i]])));
        out.forEach((l, i) => (tokens[i] = (tokens[i] * 7 + 11 + (l[0] > 0 ? 1 : 0)) % 8000));
        if (step === STEPS - 1) logits.push(...out);
      }
      const ms = performance.now() - t0;
      sessions.forEach((s) => s.dispose());
      return { tps: (N * STEPS) / (ms / 1000), logits };
    };
    await run(true); // warm-up: pipelines compiled
    const one = await run(false);
    const batch = await run(true);
    const same = one.logits.every((l, i) => l.every((v, k) => v === batch.logits[i][k]));
    console.log(
      `${N} sessions × ${STEPS} steps, ${args.format}, decode ${engine.decodeKernel}, ${engine.matmulStrategy}: ` +
        `one by one ${one.tps.toFixed(1)} tok/s, forwardBatch ${batch.tps.toFixed(1)} tok/s ` +
        `(×${(batch.tps / one.tps).toFixed(2)}), bits ${same ? "equal" : "DIFFER"}`,
    );
  } finally {
    engine.dispose();
  }
} finally {
  await Deno.remove(dir, { recursive: true });
}
