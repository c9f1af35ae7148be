/**
 * Loading: safetensors parsing and validation on hand-built bytes, 16-bit conversions on
 * hand-worked values, model folders (single and sharded, config errors), LoRA merging on a
 * hand-worked example, adapter/base mismatches naming both, Baichuan's W_pack split and
 * NormHead.
 */

import { deepEqual, equal, match, ok, rejects, throws } from "node:assert/strict";
import { InputError } from "../io/errors.ts";
import { CpuEngine, encodeSafetensors, loadModel, parseSafetensorsHeader, SafetensorsFile } from "../infer/mod.ts";
import { AdapterFolder, mergeLora, specFromConfig } from "../infer/model/mod.ts";
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16, ModelFolder } from "../infer/formats/mod.ts";
import { randomModelConfig, writeRandomLora, writeRandomModel } from "../infer/testing/mod.ts";
import { tempDir } from "./_shared.ts";

const enc = new TextEncoder();

/** A safetensors file from a raw header object and a data size. */
function rawFile(header: unknown, dataBytes: number): Uint8Array {
  const json = enc.encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

Deno.test("16-bit formats: hand-worked bit patterns", () => {
  equal(f16ToF32(0x3c00), 1);
  equal(f16ToF32(0x3555), 0.333251953125); // nearest half to 1/3
  equal(f16ToF32(0x7bff), 65504); // largest half
  equal(f16ToF32(0x0400), 2 ** -14); // smallest normal
  equal(f16ToF32(0x8001), -(2 ** -24)); // smallest subnormal, negative
  equal(f16ToF32(0x7c00), Infinity);
  ok(Number.isNaN(f16ToF32(0x7e00)));
  equal(f32ToF16(1 / 3), 0x3555);
  equal(f32ToF16(65520), 0x7c00, "rounds up to infinity");
  equal(f32ToF16(2 ** -25), 0, "ties to even: zero");
  equal(f32ToF16(3 * 2 ** -25), 0x0002, "ties to even: 2 ulps");
  equal(bf16ToF32(0x3f80), 1);
  equal(bf16ToF32(0xc2f7), -123.5);
  equal(f32ToBf16(1.00390625), 0x3f80, "exact tie rounds to even (down)");
  equal(f32ToBf16(1.01171875), 0x3f82, "exact tie rounds to even (up)");
});

Deno.test("safetensors: round trip, and each header problem named with file and tensor", async (t) => {
  await using tmp = await tempDir();
  await t.step("round trip of f32, f16, bf16", async () => {
    const path = `${tmp.dir}/ok.safetensors`;
    await Deno.writeFile(
      path,
      encodeSafetensors({
        a: { dtype: "f32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
        b: { dtype: "f16", shape: [3], data: new Uint16Array([0x3c00, 0x4000, 0xc200]) },
        c: { dtype: "bf16", shape: [1], data: new Uint16Array([0x4049]) },
      }),
    );
    using f = await SafetensorsFile.open(path);
    deepEqual(f.names.sort(), ["a", "b", "c"]);
    deepEqual([...(await f.read("a")).data], [1, 2, 3, 4]);
    const b = await f.read("b");
    equal(b.dtype, "f16");
    deepEqual([...b.data].map(f16ToF32), [1, 2, -3]);
    equal(bf16ToF32((await f.read("c")).data[0]), 3.140625);
    await rejects(f.read("zz"), /ok\.safetensors: tensor "zz" is missing/);
  });
  const cases: [string, Uint8Array, RegExp][] = [
    ["truncated length", new Uint8Array(5), /too short/],
    [
      "header longer than the file",
      (() => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setBigUint64(0, 1000n, true);
        return b;
      })(),
      /header length 1000 exceeds the file/,
    ],
    [
      "not JSON",
      (() => {
        const j = enc.encode("{oops");
        const b = new Uint8Array(8 + j.length);
        new DataView(b.buffer).setBigUint64(0, BigInt(j.length), true);
        b.set(j, 8);
        return b;
      })(),
      /not valid JSON/,
    ],
    [
      "unknown dtype",
      rawFile({ w: { dtype: "F17", shape: [1], data_offsets: [0, 4] } }, 4),
      /tensor "w": unknown dtype "F17"/,
    ],
    ["bad shape", rawFile({ w: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, 4), /tensor "w": shape \[-1\]/],
    [
      "offsets past the end",
      rawFile({ w: { dtype: "F32", shape: [4], data_offsets: [0, 16] } }, 8),
      /tensor "w": .*run past the end of the data \(8 bytes/,
    ],
    [
      "size mismatch",
      rawFile({ w: { dtype: "F16", shape: [3], data_offsets: [0, 8] } }, 8),
      /tensor "w": holds 8 bytes but F16 \[3\] needs 6/,
    ],
    [
      "reversed offsets",
      rawFile({ w: { dtype: "F32", shape: [0], data_offsets: [8, 4] } }, 8),
      /end before they begin/,
    ],
    [
      "overlap",
      rawFile({
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
      }, 12),
      /tensor "b": data overlaps tensor "a"/,
    ],
  ];
  for (const [name, bytes, message] of cases) {
    await t.step(name, async () => {
      const path = `${tmp.dir}/bad.safetensors`;
      await Deno.writeFile(path, bytes);
      const e = await rejects(SafetensorsFile.open(path), (e: unknown) => {
        ok(e instanceof InputError);
        equal(e.file, path);
        match(e.message, message);
        return true;
      });
      void e;
    });
  }
  await t.step("unsupported but valid dtype: named when read", async () => {
    const path = `${tmp.dir}/i64.safetensors`;
    await Deno.writeFile(path, rawFile({ ids: { dtype: "I64", shape: [1], data_offsets: [0, 8] } }, 8));
    using f = await SafetensorsFile.open(path);
    await rejects(f.read("ids"), /tensor "ids": dtype I64 is not supported/);
  });
  await t.step("header parser alone", () => {
    const h = parseSafetensorsHeader(enc.encode('{"__metadata__":{"format":"pt"}}'), 8 + 32, "x");
    deepEqual(h.metadata, { format: "pt" });
    throws(() => parseSafetensorsHeader(enc.encode("[1]"), 11, "x"), /not a JSON object/);
  });
});

const tiny = { vocabSize: 40, hidden: 8, intermediate: 16, layers: 2, heads: 2 } as const;

Deno.test("model folders: config errors, missing and misshapen tensors, shards", async (t) => {
  await using tmp = await tempDir();
  const dir = tmp.dir;
  await t.step("missing config field names the field and file", async () => {
    await writeRandomModel(dir, { architecture: "llama", ...tiny });
    const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    delete config.hidden_size;
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    await rejects(ModelFolder.open(dir), (e: unknown) => {
      ok(e instanceof InputError);
      equal(e.field, "hidden_size");
      match(e.message, /config\.json: field `hidden_size`: missing field "hidden_size"/);
      return true;
    });
  });
  await t.step("unsupported architecture", () => {
    throws(() => specFromConfig({ model_type: "chatglm" }), /unsupported model_type "chatglm".*supported: llama/);
  });
  await t.step("missing tensor names the tensor and the file", async () => {
    await writeRandomModel(dir, { architecture: "qwen2", ...tiny });
    const config = randomModelConfig({ architecture: "qwen2", ...tiny, layers: 3 });
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    await rejects(
      ModelFolder.open(dir),
      /model\.safetensors: tensor "model\.layers\.2\.input_layernorm\.weight" is missing/,
    );
  });
  await t.step("shape disagreeing with config", async () => {
    await writeRandomModel(dir, { architecture: "llama", ...tiny });
    const config = randomModelConfig({ architecture: "llama", ...tiny, intermediate: 24 });
    await Deno.writeTextFile(`${dir}/config.json`, JSON.stringify(config));
    await rejects(
      ModelFolder.open(dir),
      /tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[16, 8\] but config\.json implies \[24, 8\]/,
    );
  });
  await t.step("no weights: a hint about .bin", async () => {
    await using t2 = await tempDir();
    await Deno.writeTextFile(
      `${t2.dir}/config.json`,
      JSON.stringify(randomModelConfig({ architecture: "llama", ...tiny })),
    );
    await Deno.writeFile(`${t2.dir}/pytorch_model.bin`, new Uint8Array(1));
    await rejects(ModelFolder.open(t2.dir), /no model\.safetensors.*safe_serialization=True/);
  });
  await t.step("sharded: same weights as the single file", async () => {
    await using a = await tempDir();
    await using b = await tempDir();
    await writeRandomModel(a.dir, { architecture: "llama", ...tiny, seed: 5 });
    await writeRandomModel(b.dir, { architecture: "llama", ...tiny, seed: 5, shards: 3 });
    using fb = await ModelFolder.open(b.dir);
    equal(fb.files.length, 3);
    const ma = await loadModel(a.dir);
    const mb = await loadModel(b.dir);
    deepEqual(mb.weights.layers[1].w2.data, ma.weights.layers[1].w2.data);
    deepEqual(mb.weights.output.data, ma.weights.output.data);
  });
  await t.step("index naming a tensor the shard lacks", async () => {
    await using c = await tempDir();
    await writeRandomModel(c.dir, { architecture: "llama", ...tiny, shards: 2 });
    const index = JSON.parse(await Deno.readTextFile(`${c.dir}/model.safetensors.index.json`));
    index.weight_map["model.extra.weight"] = "model-00001-of-00002.safetensors";
    await Deno.writeTextFile(`${c.dir}/model.safetensors.index.json`, JSON.stringify(index));
    await rejects(
      ModelFolder.open(c.dir),
      /model-00001-of-00002\.safetensors: tensor "model\.extra\.weight" is listed/,
    );
  });
  await t.step("16-bit weights stay 16-bit; norms become f32; progress reaches the total", async () => {
    await writeRandomModel(dir, { architecture: "llama", ...tiny, dtype: "bf16" });
    let last = { bytesRead: 0, totalBytes: -1 };
    const m = await loadModel(dir, { onProgress: (p) => last = p });
    equal(m.weights.layers[0].wq.dtype, "bf16");
    ok(m.weights.layers[0].wq.data instanceof Uint16Array);
    equal(m.weights.norm.dtype, "f32");
    equal(last.bytesRead, last.totalBytes);
    const f32 = await loadModel(dir, { dtype: "f32" });
    equal(f32.weights.layers[0].wq.dtype, "f32");
    equal(f32.weights.layers[0].wq.data[3], bf16ToF32(m.weights.layers[0].wq.data[3]));
  });
});

Deno.test("Baichuan: W_pack split into q, k, v; NormHead rows of unit length", async () => {
  await using tmp = await tempDir();
  await writeRandomModel(tmp.dir, { architecture: "baichuan", ...tiny, seed: 3 });
  using folder = await ModelFolder.open(tmp.dir);
  const pack = await folder.read("model.layers.1.self_attn.W_pack.weight");
  const head = await folder.read("lm_head.weight");
  const m = await loadModel(tmp.dir);
  equal(m.spec.position.kind, "alibi");
  ok(m.spec.normHead);
  const h = tiny.hidden;
  deepEqual(m.weights.layers[1].wq.data, pack.data.slice(0, h * h));
  deepEqual(m.weights.layers[1].wk.data, pack.data.slice(h * h, 2 * h * h));
  deepEqual(m.weights.layers[1].wv.data, pack.data.slice(2 * h * h));
  for (let r = 0; r < tiny.vocabSize; r++) {
    const row = m.weights.output.data.subarray(r * h, (r + 1) * h) as Float32Array;
    const src = head.data.subarray(r * h, (r + 1) * h) as Float32Array;
    const norm = Math.hypot(...src);
    for (let i = 0; i < h; i++) ok(Math.abs(row[i] - src[i] / norm) < 1e-6);
  }
  // Baichuan 1 (no z_loss_weight) has no NormHead; the 7B (max_position_embeddings) uses RoPE.
  const v1 = specFromConfig(randomModelConfig({ architecture: "baichuan", ...tiny, normHead: false }));
  equal(v1.normHead, false);
  equal(
    specFromConfig(randomModelConfig({ architecture: "baichuan", ...tiny, position: "rope" })).position.kind,
    "rope",
  );
});

Deno.test("LoRA merge: a hand-worked 2×3 example, and the rsLoRA scale", async (t) => {
  await t.step("W + alpha/r · B·A", () => {
    // W = [[1, 2, 3], [4, 5, 6]], A (r=2) = [[1, 0, 1], [0, 1, 0]], B = [[1, 2], [0, -1]], alpha 4 → scale 2.
    // B·A = [[1, 2, 1], [0, -1, 0]]; W + 2·B·A = [[3, 6, 5], [4, 3, 6]].
    const w = { dtype: "f32" as const, shape: [2, 3], data: new Float32Array([1, 2, 3, 4, 5, 6]) };
    const m = mergeLora(w, new Float32Array([1, 0, 1, 0, 1, 0]), new Float32Array([1, 2, 0, -1]), 2, 2, false);
    deepEqual([...m.data], [3, 6, 5, 4, 3, 6]);
    // fan_in_fan_out: the base is stored [in, out] = Wᵀ, and the update is transposed.
    const wt = { dtype: "f32" as const, shape: [3, 2], data: new Float32Array([1, 4, 2, 5, 3, 6]) };
    const mt = mergeLora(wt, new Float32Array([1, 0, 1, 0, 1, 0]), new Float32Array([1, 2, 0, -1]), 2, 2, true);
    deepEqual([...mt.data], [3, 4, 6, 3, 5, 6]);
  });
  await t.step("16-bit weights are merged in f32 and rounded once", () => {
    const w = { dtype: "f16" as const, shape: [1, 2], data: new Uint16Array([0x3c00, 0x3c00]) }; // [1, 1]
    const m = mergeLora(w, new Float32Array([1, 1]), new Float32Array([1]), 1, 1 / 3, false);
    deepEqual([...m.data], [f32ToF16(1 + 1 / 3), f32ToF16(1 + 1 / 3)]);
  });
  await t.step("scales from adapter_config.json", async () => {
    await using tmp = await tempDir();
    await writeRandomModel(`${tmp.dir}/base`, { architecture: "llama", ...tiny });
    await writeRandomLora(`${tmp.dir}/lora`, `${tmp.dir}/base`, {
      r: 4,
      alpha: 8,
      targets: ["q_proj"],
      useRslora: true,
    });
    using a = await AdapterFolder.open(`${tmp.dir}/lora`);
    equal(a.targets[0].scale, 8 / 2, "alpha / √r");
    equal(a.targets.length, tiny.layers);
  });
});

Deno.test("LoRA: a merged model computes what base + unmerged adapter computes on the fly", async (t) => {
  for (const arch of ["llama", "qwen2", "baichuan"] as const) {
    await t.step(arch, async () => {
      await using tmp = await tempDir();
      const base = `${tmp.dir}/base`;
      await writeRandomModel(base, {
        architecture: arch,
        vocabSize: 64,
        hidden: 16,
        intermediate: 32,
        layers: 2,
        heads: 4,
      });
      const targets = arch === "baichuan"
        ? ["W_pack", "o_proj", "gate_proj", "up_proj", "down_proj"]
        : ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];
      await writeRandomLora(`${tmp.dir}/lora`, base, { r: 4, alpha: 8, targets, bGain: 2 });
      const merged = await loadModel(base, { lora: `${tmp.dir}/lora` });
      const separate = await loadModel(base, { lora: `${tmp.dir}/lora`, loraMode: "separate" });
      const plain = await loadModel(base);
      ok(separate.loraDeltas && separate.loraDeltas.size === targets.length * 2 + (arch === "baichuan" ? 2 * 2 : 0));
      const prompt = [1, 7, 9, 30, 2, 60, 11];
      const a = await new CpuEngine(merged).createSession().forwardAll(prompt);
      const b = await new CpuEngine(separate).createSession().forwardAll(prompt);
      const c = await new CpuEngine(plain).createSession().forwardAll(prompt);
      let diff = 0, moved = 0;
      for (let i = 0; i < prompt.length; i++) {
        for (let j = 0; j < 64; j++) {
          diff = Math.max(diff, Math.abs(a[i][j] - b[i][j]));
          moved = Math.max(moved, Math.abs(a[i][j] - c[i][j]));
        }
      }
      ok(diff < 1e-4, `merged vs on the fly: ${diff}`);
      ok(moved > 0.1, `the adapter must change the logits (${moved})`);
    });
  }
});

Deno.test("LoRA: adapter/base mismatches name both tensors", async (t) => {
  await using tmp = await tempDir();
  const base = `${tmp.dir}/base`;
  const other = `${tmp.dir}/other`;
  await writeRandomModel(base, { architecture: "llama", ...tiny });
  await writeRandomModel(other, { architecture: "llama", ...tiny, hidden: 12, heads: 2 });
  await t.step("shape mismatch", async () => {
    await writeRandomLora(`${tmp.dir}/l1`, other, { r: 2, alpha: 4, targets: ["v_proj"] });
    await rejects(loadModel(base, { lora: `${tmp.dir}/l1` }), (e: unknown) => {
      ok(e instanceof InputError);
      match(
        e.message,
        /"base_model\.model\.model\.layers\.0\.self_attn\.v_proj\.lora_A\.weight" \[2, 12\] · ".*lora_B\.weight" \[12, 2\] \(.*adapter_model\.safetensors\) do not fit base tensor "model\.layers\.0\.self_attn\.v_proj\.weight" \[8, 8\] \(.*base\/model\.safetensors\)/,
      );
      return true;
    });
  });
  await t.step("module the base lacks", async () => {
    await writeRandomModel(other, { architecture: "llama", ...tiny, layers: 3 });
    await writeRandomLora(`${tmp.dir}/l2`, other, { r: 2, alpha: 4, targets: ["q_proj"] });
    await rejects(
      loadModel(base, { lora: `${tmp.dir}/l2` }),
      /targets base tensor "model\.layers\.2\.self_attn\.q_proj\.weight", which .*base lacks/,
    );
  });
  await t.step("rank disagreeing with adapter_config.json", async () => {
    await writeRandomLora(`${tmp.dir}/l3`, base, { r: 2, alpha: 4, targets: ["q_proj"] });
    const cfg = JSON.parse(await Deno.readTextFile(`${tmp.dir}/l3/adapter_config.json`));
    cfg.r = 8;
    await Deno.writeTextFile(`${tmp.dir}/l3/adapter_config.json`, JSON.stringify(cfg));
    await rejects(loadModel(base, { lora: `${tmp.dir}/l3` }), /has rank 2 but adapter_config\.json says r = 8/);
  });
  await t.step("missing half of a pair, DoRA, bad config", async () => {
    await writeRandomLora(`${tmp.dir}/l4`, base, { r: 2, alpha: 4, targets: ["q_proj"] });
    const cfg = JSON.parse(await Deno.readTextFile(`${tmp.dir}/l4/adapter_config.json`));
    await Deno.writeTextFile(`${tmp.dir}/l4/adapter_config.json`, JSON.stringify({ ...cfg, use_dora: true }));
    await rejects(AdapterFolder.open(`${tmp.dir}/l4`), /field `use_dora`: DoRA adapters are not supported/);
    await Deno.writeTextFile(`${tmp.dir}/l4/adapter_config.json`, JSON.stringify({ ...cfg, r: "x" }));
    await rejects(AdapterFolder.open(`${tmp.dir}/l4`), /"r" must be a positive integer/);
    await Deno.writeTextFile(`${tmp.dir}/l4/adapter_config.json`, JSON.stringify(cfg));
    using f = await SafetensorsFile.open(`${tmp.dir}/l4/adapter_model.safetensors`);
    const only: Record<string, { dtype: "f32"; shape: number[]; data: Float32Array }> = {};
    for (const name of f.names.filter((n) => n.includes("lora_A"))) {
      const x = await f.read(name);
      only[name] = { dtype: "f32", shape: [...x.shape], data: x.data as Float32Array };
    }
    f.close();
    await Deno.writeFile(`${tmp.dir}/l4/adapter_model.safetensors`, encodeSafetensors(only));
    await rejects(AdapterFolder.open(`${tmp.dir}/l4`), /lora_A\.weight" has no matching lora_B/);
  });
});
