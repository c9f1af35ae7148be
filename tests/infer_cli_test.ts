/**
 * The `inspect` and `export-gguf` commands, run in-process through their entry points
 * (the CLI dispatches to them): reports, adapter fit, atomic export, usage and input errors.
 */

import { equal, match, ok, rejects } from "node:assert/strict";
import { InputError, UsageError } from "../io/errors.ts";
import { readGgufHeader } from "../infer/mod.ts";
import { runExportGguf, runInspect } from "../infer/cli/mod.ts";
import { writeRandomLora, writeRandomModel } from "../infer/testing/mod.ts";
import { runCli, tempDir } from "./_shared.ts";

async function run(f: typeof runInspect, args: string[]) {
  let out = "", err = "";
  const code = await f(args, { out: (t) => out += t, err: (t) => err += t });
  return { code, out, err };
}

const tiny = { vocabSize: 300, hidden: 16, intermediate: 32, layers: 2, heads: 4, kvHeads: 2 } as const;

Deno.test("inspect: architecture, sizes, dtypes, memory, adapter fit", async () => {
  await using tmp = await tempDir();
  const model = `${tmp.dir}/m`;
  await writeRandomModel(model, { architecture: "llama", ...tiny, dtype: "bf16", shards: 2 });
  await writeRandomLora(`${tmp.dir}/lora`, model, { r: 4, alpha: 16, targets: ["q_proj", "v_proj"] });
  const r = await run(runInspect, ["--model", model, "--lora", `${tmp.dir}/lora`]);
  equal(r.code, 0, r.err);
  match(r.out, /architecture {3}llama \(model_type llama\)/);
  // 2·300·16 embeddings + 2 layers · (16·(16+8+8) + 16·16 + 3·16·32 + 2·16) + 16 = 9600 + 2·2336 + 16
  match(r.out, /parameters {5}14,288 /);
  match(r.out, /4 heads × 4, 2 key\/value heads \(grouped-query\)/);
  match(r.out, /dtypes {9}BF16 × 21/);
  match(r.out, /2 safetensors files/);
  match(r.out, /128 bytes\/token/); // keys and values: 2 · 2 layers · 2 heads · 4 · 4 bytes
  match(r.out, /LoRA r=4, alpha=16, 4 tensors \(q_proj, v_proj\)/);
  match(r.out, /adapter fit {4}yes/);
  const j = await run(runInspect, ["--model", model, "--json"]);
  equal(JSON.parse(j.out).parameters, 14288);
  // An adapter for another model: the report says why, exit code 1.
  await writeRandomModel(`${tmp.dir}/other`, { architecture: "llama", ...tiny, hidden: 32 });
  await writeRandomLora(`${tmp.dir}/bad`, `${tmp.dir}/other`, { r: 4, alpha: 16, targets: ["q_proj"] });
  const bad = await run(runInspect, ["--model", model, "--lora", `${tmp.dir}/bad`]);
  equal(bad.code, 1);
  match(
    bad.out,
    /adapter fit {4}NO: .*do not fit base tensor "model\.layers\.0\.self_attn\.q_proj\.weight" \[16, 16\]/,
  );
});

Deno.test("export-gguf: merged, typed, atomic; usage and input errors", async () => {
  await using tmp = await tempDir();
  const model = `${tmp.dir}/m`;
  await writeRandomModel(model, { architecture: "qwen2", ...tiny, tiedEmbeddings: true });
  await writeRandomLora(`${tmp.dir}/lora`, model, { r: 2, alpha: 4, targets: ["q_proj"] });
  const out = `${tmp.dir}/out.gguf`;
  const r = await run(runExportGguf, ["--model", model, "--lora", `${tmp.dir}/lora`, "--out", out, "--dtype", "bf16"]);
  equal(r.code, 0);
  match(r.err, /exported qwen2 \+ LoRA .* llama\.cpp architecture qwen2, \d+ tensors, bf16/);
  const h = await readGgufHeader(out);
  equal(h.metadata.get("general.architecture"), "qwen2");
  equal(h.metadata.get("general.file_type"), 32);
  equal(h.metadata.get("qwen2.attention.head_count_kv"), 2);
  ok(!h.tensors.some((t) => t.name === "output.weight"), "tied: no output matrix");
  equal(h.tensors.find((t) => t.name === "blk.1.attn_q.weight")?.type, 30, "bf16");
  equal(h.tensors.find((t) => t.name === "blk.1.attn_q.bias")?.type, 0, "biases stay f32");
  ok(![...Deno.readDirSync(tmp.dir)].some((e) => e.name.includes(".tmp-")), "no temporary file left");
  await rejects(run(runExportGguf, ["--model", model]), UsageError);
  await rejects(
    run(runExportGguf, ["--model", model, "--out", out, "--dtype", "q4"]),
    /--dtype must be one of f16, f32, bf16, q8_0, q6_k, q4_k_m, q4_0, got "q4"/,
  );
  await rejects(run(runExportGguf, ["--model", `${tmp.dir}/nope`, "--out", out]), InputError);
  await rejects(run(runInspect, ["--model", model, "--bogus"]), /inspect: Unknown option '--bogus'/);
  // A Baichuan with ALiBi that llama.cpp would not run as ALiBi is refused, clearly.
  await writeRandomModel(`${tmp.dir}/bc`, { architecture: "baichuan", ...tiny, kvHeads: 4 });
  await rejects(
    run(runExportGguf, ["--model", `${tmp.dir}/bc`, "--out", out]),
    /ALiBi to Baichuan models of exactly 40 layers/,
  );
});

Deno.test("export-gguf --out: a folder or a missing folder is one clear line before the model loads", async () => {
  await using tmp = await tempDir();
  const model = `${tmp.dir}/m`;
  await writeRandomModel(model, { architecture: "llama", ...tiny });
  const cases: Array<[string, string, number, string]> = [
    [model, tmp.dir, 1, `iepile: ${tmp.dir}: is a folder; give a file path for the output\n`],
    [`${tmp.dir}/not-loaded`, tmp.dir, 1, `iepile: ${tmp.dir}: is a folder; give a file path for the output\n`],
    [model, `${tmp.dir}/no/m.gguf`, 1, `iepile: ${tmp.dir}/no/m.gguf: output folder does not exist\n`],
  ];
  for (const [dir, out, code, stderr] of cases) {
    const r = await runCli(["export-gguf", "--model", dir, "--out", out, "--quiet"]);
    equal(r.stderr, stderr);
    equal(r.code, code);
  }
  equal([...Deno.readDirSync(tmp.dir)].map((e) => e.name).join(), "m", "nothing written");
});

Deno.test("export-gguf --out - streams the same GGUF to standard output", async () => {
  await using tmp = await tempDir();
  const model = `${tmp.dir}/m`;
  await writeRandomModel(model, { architecture: "llama", ...tiny });
  const file = await runCli(["export-gguf", "--model", model, "--out", `${tmp.dir}/m.gguf`, "--quiet"]);
  equal(file.code, 0, file.stderr);
  const piped = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../mod.ts", import.meta.url).pathname, "export-gguf", "--model", model, "--out", "-"],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(piped.stderr);
  equal(piped.code, 0, stderr);
  ok(stderr.includes("→ standard output"), stderr);
  const written = await Deno.readFile(`${tmp.dir}/m.gguf`);
  equal(piped.stdout.length, written.length);
  ok(piped.stdout.every((b, i) => b === written[i]), "the same bytes as the file export");
  equal(new TextDecoder().decode(piped.stdout.subarray(0, 4)), "GGUF");
  equal([...Deno.readDirSync(tmp.dir)].map((e) => e.name).sort().join(), "m,m.gguf", "no file named '-'");
});
