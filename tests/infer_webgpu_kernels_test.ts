/**
 * The WebGPU kernels' declarations: each kernel's WGSL declares the parameter struct its
 * uniform is packed from, its constructor refuses shapes its WGSL cannot compute, and (where
 * an adapter exists) every kernel compiles and binds what its constructor lists without a
 * validation error.
 */

import { deepEqual, equal, ok, throws } from "node:assert/strict";
import {
  argmax,
  ARGMAX_PARAMS,
  argmaxMasked,
  argmaxMaskedWgsl,
  argmaxWgsl,
} from "../infer/engine/webgpu/kernels/argmax.ts";
import { attention, ATTENTION_PARAMS, attentionWgsl } from "../infer/engine/webgpu/kernels/attention.ts";
import { ATTN_SCORES_PARAMS, attnScores, attnScoresWgsl } from "../infer/engine/webgpu/kernels/attn_scores.ts";
import { ATTN_VALUES_PARAMS, attnValues, attnValuesWgsl } from "../infer/engine/webgpu/kernels/attn_values.ts";
import { embed, EMBED_PARAMS, embedWgsl } from "../infer/engine/webgpu/kernels/embed.ts";
import type { KernelCall } from "../infer/engine/webgpu/kernels/kernel.ts";
import { matmul, MATMUL_PARAMS, matmulWgsl } from "../infer/engine/webgpu/kernels/matmul.ts";
import { matvec, matvecFits, matvecWgsl } from "../infer/engine/webgpu/kernels/matvec.ts";
import {
  MATVEC_SWIGLU_PARAMS,
  matvecSwiglu,
  matvecSwigluFits,
  matvecSwigluWgsl,
} from "../infer/engine/webgpu/kernels/matvec_swiglu.ts";
import { MATVEC_QKV_PARAMS, matvecQkv, matvecQkvWgsl } from "../infer/engine/webgpu/kernels/matvec_qkv.ts";
import { KV_APPEND_PARAMS, kvAppend, kvAppendWgsl } from "../infer/engine/webgpu/kernels/kv_append.ts";
import {
  matmulTiled,
  matmulTiledWgsl,
  TILED_K,
  TILED_ROWS,
  TILED_TOKENS,
} from "../infer/engine/webgpu/kernels/matmul_tiled.ts";
import { rmsnorm, RMSNORM_PARAMS, rmsnormWgsl } from "../infer/engine/webgpu/kernels/rmsnorm.ts";
import { rope, ROPE_PARAMS, ropeWgsl } from "../infer/engine/webgpu/kernels/rope.ts";
import { softmax, SOFTMAX_PARAMS, softmaxWgsl } from "../infer/engine/webgpu/kernels/softmax.ts";
import { STEP, stepBytes } from "../infer/engine/webgpu/kernels/step.ts";
import { swiglu, SWIGLU_PARAMS, swigluWgsl } from "../infer/engine/webgpu/kernels/swiglu.ts";
import { KV_STORE_PARAMS, type KvFormat, kvStore, kvStoreWgsl } from "../infer/engine/webgpu/kernels/kv_store.ts";
import { f16ToF32, f32ToF16 } from "../infer/formats/dtype.ts";
import { GpuBuffers, USAGE } from "../infer/engine/webgpu/buffers.ts";
import { GpuContext } from "../infer/engine/webgpu/context.ts";
import { Recorder } from "../infer/engine/webgpu/record.ts";
import { webGpuAvailable } from "../infer/mod.ts";
import { dequantizeRow, quantizeRow } from "../infer/formats/ggml_quant.ts";
import type { GgmlTypeName } from "../infer/formats/ggml_types.ts";
import { sharedGpuDevice, skipNotice } from "./_shared.ts";

const HAVE_GPU = await webGpuAvailable();
if (!HAVE_GPU) skipNotice(import.meta.url, "the WebGPU kernel compile checks", "no WebGPU adapter on this machine");

Deno.test("webgpu kernels: the WGSL declares the struct its uniform is packed from", () => {
  const pairs: [string, { readonly wgsl: string; readonly size: number }][] = [
    [embedWgsl("bf16"), EMBED_PARAMS],
    [rmsnormWgsl(), RMSNORM_PARAMS],
    [matmulWgsl("f16", true, "cooperative"), MATMUL_PARAMS],
    [matmulWgsl("f32", false, "rows"), MATMUL_PARAMS],
    [ropeWgsl(), ROPE_PARAMS],
    [attnScoresWgsl(), ATTN_SCORES_PARAMS],
    [softmaxWgsl(), SOFTMAX_PARAMS],
    [attnValuesWgsl(), ATTN_VALUES_PARAMS],
    [swigluWgsl(), SWIGLU_PARAMS],
    [argmaxWgsl(), ARGMAX_PARAMS],
    [argmaxMaskedWgsl(), ARGMAX_PARAMS],
    [kvStoreWgsl(), KV_STORE_PARAMS],
    [attnScoresWgsl("f16"), ATTN_SCORES_PARAMS],
    [attnValuesWgsl("f16"), ATTN_VALUES_PARAMS],
    [attentionWgsl(64), ATTENTION_PARAMS],
    [attentionWgsl(136, "f16"), ATTENTION_PARAMS],
    [matmulWgsl("q4_k", false, "rows"), MATMUL_PARAMS],
    [matvecWgsl("f16", true), MATMUL_PARAMS],
    [matvecWgsl("q6_k", false), MATMUL_PARAMS],
    [matvecSwigluWgsl("q4_k", 256, true), MATVEC_SWIGLU_PARAMS],
    [matvecQkvWgsl(["q4_k", "q8_0", "q6_k"], 256, true), MATVEC_QKV_PARAMS],
    [kvAppendWgsl("f16"), KV_APPEND_PARAMS],
    [matmulTiledWgsl("bf16", true), MATMUL_PARAMS],
    [matmulTiledWgsl("q6_k", false), MATMUL_PARAMS],
  ];
  for (const [code, params] of pairs) {
    ok(code.includes(params.wgsl), params.wgsl);
    equal(code.split("struct Params").length, 2, "one Params struct");
    equal(params.size % 16, 0);
  }
  // Field order and types, by hand: RMSNorm's eps is the third 4-byte word, as an f32.
  const bytes = RMSNORM_PARAMS.pack({ dim: 64, last_only: true, eps: 1e-6 });
  equal(new Uint32Array(bytes)[0], 64);
  equal(new Uint32Array(bytes)[1], 1);
  equal(new Float32Array(bytes)[2], Math.fround(1e-6));
  throws(() => STEP.pack({ n: -1, pos0: 0, kv_len: 0, last: 0, row0: 0 }), RangeError);
});

const fake = (bytes: number) => ({ size: bytes }) as GPUBuffer;

Deno.test("webgpu kernels: constructors refuse shapes their WGSL cannot compute", () => {
  const ok1 = {
    w: fake(8 * 16 * 2),
    dtype: "f16" as const,
    k: 16,
    rowStart: 0,
    rows: 8,
    x: fake(2 * 16 * 4),
    xRows: 2,
  };
  matmul({ ...ok1, y: fake(2 * 8 * 4), yRows: 2, yStride: 8, strategy: "rows" });
  throws(() => matmul({ ...ok1, y: fake(2 * 8 * 4 - 4), yRows: 2, yStride: 8, strategy: "rows" }), RangeError);
  throws(() => matmul({ ...ok1, k: 15, y: fake(2 * 8 * 4), yRows: 2, yStride: 8, strategy: "rows" }), RangeError);
  throws(() => matmul({ ...ok1, y: fake(2 * 8 * 4), yRows: 2, yStride: 4, strategy: "rows" }), RangeError);
  throws(
    () => matmul({ ...ok1, w: fake(8 * 16), y: fake(2 * 8 * 4), yRows: 2, yStride: 8, strategy: "rows" }),
    RangeError,
  );
  throws(() => rope({ x: fake(1024), xRows: 2, table: fake(1024), context: 4, heads: 2, headDim: 7 }), RangeError);
  const attn = { heads: 4, kvHeads: 3, headDim: 8, batch: 2, context: 16 };
  throws(() => attnScores({ q: fake(4096), k: fake(4096), s: fake(4096), slopes: fake(64), alibi: true, ...attn }));
  throws(() => attnValues({ s: fake(4096), v: fake(4096), o: fake(4096), ...attn }), RangeError);
  const fused = { q: fake(4096), table: fake(4096), k: fake(4096), v: fake(4096), s: fake(4096), o: fake(4096) };
  throws(() => attention({ ...fused, slopes: fake(64), alibi: false, ...attn }), RangeError);
  throws(() => attention({ ...fused, slopes: fake(64), alibi: false, ...attn, kvHeads: 2, headDim: 7 }), RangeError);
  attention({ ...fused, slopes: fake(64), alibi: true, ...attn, kvHeads: 2, headDim: 7 });
  throws(() => attention({ ...fused, slopes: fake(8), alibi: true, ...attn, kvHeads: 2 }), RangeError);
  throws(() => softmax({ s: fake(4 * 2 * 16 * 4 - 4), heads: 4, batch: 2, context: 16 }), RangeError);
  throws(() => matmulTiled({ ...ok1, k: 15, y: fake(2 * 8 * 4), yRows: 2, yStride: 8 }), RangeError);
  throws(() => matmulTiled({ ...ok1, y: fake(2 * 8 * 4), yRows: 2, yStride: 4 }), RangeError);
  // The tiled kernel's two staged slices fit WebGPU's minimum workgroup storage (16 KiB).
  ok((TILED_ROWS + 2 + TILED_TOKENS + 2) * TILED_K * 4 <= 16384);
  throws(() => swiglu({ gate: fake(256), up: fake(252), inner: 32, tokens: 2 }), RangeError);
  throws(() => argmax({ logits: fake(396), out: fake(4), vocab: 100 }), RangeError);
  argmaxMasked({ logits: fake(400), mask: fake(16), out: fake(4), vocab: 100 });
  throws(() => argmaxMasked({ logits: fake(400), mask: fake(12), out: fake(4), vocab: 100 }), RangeError);
  throws(
    () => embed({ w: fake(100), dtype: "f32", rowStart: 0, rows: 10, dim: 8, ids: fake(8), x: fake(64), tokens: 2 }),
    RangeError,
  );
  throws(() => rmsnorm({ x: fake(64), weight: fake(28), y: fake(64), dim: 8, eps: 1e-5, tokens: 2 }), RangeError);
});

Deno.test({
  name: "webgpu kernels: each compiles and binds what its constructor lists",
  ignore: !HAVE_GPU,
  async fn() {
    const ctx = await GpuContext.open({ device: await sharedGpuDevice() });
    const own = new GpuBuffers(ctx.device);
    try {
      const f = (elements: number) => own.create(elements * 4, USAGE.STORAGE);
      const step = own.create(STEP.size, USAGE.UNIFORM | USAGE.COPY_DST);
      const B = 2, H = 4, KV = 2, D = 8, C = 16, K = 32, V = 40;
      const calls: KernelCall[] = [
        embed({ w: f(V * K / 2), dtype: "bf16", rowStart: 0, rows: V, dim: K, ids: f(B), x: f(B * K), tokens: B }),
        rmsnorm({ x: f(B * K), weight: f(K), y: f(B * K), dim: K, eps: 1e-5, lastOnly: true, tokens: B }),
        ...(["cooperative", "rows"] as const).flatMap((strategy) => [
          matmul({
            w: f(V * K),
            dtype: "f32",
            k: K,
            rowStart: 0,
            rows: V,
            x: f(B * K),
            xRows: B,
            y: f(B * V),
            yRows: B,
            yStride: V,
            bias: f(V),
            strategy,
          }),
          matmul({
            w: f(V * K / 2),
            dtype: "f16",
            k: K,
            rowStart: 0,
            rows: V,
            x: f(B * K),
            xRows: B,
            y: f(C * V),
            yRows: C,
            yStride: V,
            yPos: true,
            strategy,
          }),
        ]),
        rope({ x: f(C * KV * D), xRows: C, xPos: true, table: f(C * D), context: C, heads: KV, headDim: D }),
        attnScores({
          q: f(B * H * D),
          k: f(C * KV * D),
          s: f(H * B * C),
          slopes: f(H),
          heads: H,
          kvHeads: KV,
          headDim: D,
          batch: B,
          context: C,
          alibi: true,
        }),
        softmax({ s: f(H * B * C), heads: H, batch: B, context: C }),
        attnValues({
          s: f(H * B * C),
          v: f(C * KV * D),
          o: f(B * H * D),
          heads: H,
          kvHeads: KV,
          headDim: D,
          batch: B,
          context: C,
        }),
        swiglu({ gate: f(B * K), up: f(B * K), inner: K, tokens: B }),
        argmax({ logits: f(V), out: f(1), vocab: V }),
        argmaxMasked({ logits: f(V), mask: f(Math.ceil(V / 32)), out: f(1), vocab: V }),
        // The f16 cache: the step's rows stored as halves, read by both attention kernels.
        kvStore({ x: f(B * KV * D), batch: B, cache: f(C * KV * D / 2), context: C, kvDim: KV * D }),
        // The f32 cache of batched decode steps: staged rows copied as they are.
        kvStore({ x: f(B * KV * D), batch: B, cache: f(C * KV * D), context: C, kvDim: KV * D, kv: "f32" }),
        attnScores({
          q: f(B * H * D),
          k: f(C * KV * D / 2),
          s: f(H * B * C),
          slopes: f(1),
          heads: H,
          kvHeads: KV,
          headDim: D,
          batch: B,
          context: C,
          alibi: false,
          kv: "f16",
        }),
        attnValues({
          s: f(H * B * C),
          v: f(C * KV * D / 2),
          o: f(B * H * D),
          heads: H,
          kvHeads: KV,
          headDim: D,
          batch: B,
          context: C,
          kv: "f16",
        }),
        // Fused attention over either cache format.
        ...(["f32", "f16"] as const).map((kv) =>
          attention({
            q: f(B * H * D),
            table: f(C * D),
            k: f(C * KV * D / (kv === "f16" ? 2 : 1)),
            v: f(C * KV * D / (kv === "f16" ? 2 : 1)),
            s: f(H * B * C),
            slopes: f(H),
            o: f(B * H * D),
            heads: H,
            kvHeads: KV,
            headDim: D,
            batch: B,
            context: C,
            alibi: kv === "f32",
            kv,
          })
        ),
        // Quantized weights: a 32-wide row of q8_0 blocks (34 bytes), read 32 bits at a time.
        ...(["q8_0", "q4_0", "q5_0"] as const).map((dtype) =>
          matmul({
            w: f(V * 34 / 4 + 1),
            dtype,
            k: K,
            rowStart: 0,
            rows: V,
            x: f(B * K),
            xRows: B,
            y: f(B * V),
            yRows: B,
            yStride: V,
            strategy: "rows",
          })
        ),
      ];
      const rec = new Recorder(ctx, step, own);
      for (const call of calls) {
        ctx.device.pushErrorScope("validation");
        rec.record(call);
        const error = await ctx.device.popErrorScope();
        equal(error, null, `${call.role}: ${error?.message}`);
      }
    } finally {
      own.destroy();
      ctx.dispose();
    }
  },
});

Deno.test({
  name:
    "webgpu kernels: matvec_swiglu equals silu(W1·x)·(W3·x) in double precision, each token the same bits at any count",
  ignore: !HAVE_GPU,
  async fn(t) {
    const ctx = await GpuContext.open({ device: await sharedGpuDevice() });
    let seed = 11;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
    const cases: [GgmlTypeName, number, boolean][] = [
      ["f32", 72, false],
      ["f16", 4104, true],
      ["bf16", 136, false],
      ["q8_0", 96, true],
      ["q4_k", 2304, true],
      ["q6_k", 1280, false],
    ];
    ok(!matvecSwigluFits("q4_k", "q6_k", 256) && !matvecSwigluFits("q4_0", "q4_0", 64));
    try {
      for (const [dtype, k, folded] of cases) {
        await t.step(`${dtype} ×${k}${folded ? ", RMSNorm folded in" : ""}`, async () => {
          const own = new GpuBuffers(ctx.device);
          try {
            const rows = 37, rowStart = 5, yStride = rowStart + rows + 3, tokens = 5;
            const matrix = () => {
              const packed = quantizeRow(dtype, Float32Array.from({ length: rows * k }, () => rand() / 4));
              return { packed, values: dequantizeRow(dtype, packed, new Float32Array(rows * k)) };
            };
            const gate = matrix(), up = matrix();
            const x = Float32Array.from({ length: tokens * k }, rand);
            const normWeight = Float32Array.from({ length: k }, () => 1 + rand());
            const eps = 1e-5;
            // What the products read: x itself, or x normalised (RMSNorm with normWeight).
            const xn = Float64Array.from(x);
            if (folded) {
              for (let tok = 0; tok < tokens; tok++) {
                let ss = 0;
                for (let j = 0; j < k; j++) ss += x[tok * k + j] ** 2;
                const scale = 1 / Math.sqrt(ss / k + eps);
                for (let j = 0; j < k; j++) xn[tok * k + j] = x[tok * k + j] * scale * normWeight[j];
              }
            }
            const y0 = Float32Array.from({ length: tokens * yStride }, rand);
            const run = async (n: number): Promise<Float32Array> => {
              const io = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
              const y = own.f32(y0, io);
              const call = matvecSwiglu({
                w: own.bytes(gate.packed, USAGE.STORAGE),
                wu: own.bytes(up.packed, USAGE.STORAGE),
                dtype,
                k,
                rowStart,
                rows,
                x: own.f32(x, USAGE.STORAGE),
                xRows: tokens,
                y,
                yRows: tokens,
                yStride,
                norm: folded ? { weight: own.f32(normWeight, USAGE.STORAGE), eps } : undefined,
              });
              return (await runCall(ctx, own, call, { n, pos0: 3 }, [y]))[0];
            };
            const got = await run(tokens);
            for (let tok = 0; tok < tokens; tok++) {
              for (let r = 0; r < rows; r++) {
                let g = 0, u = 0, scale = 0;
                for (let j = 0; j < k; j++) {
                  g += gate.values[r * k + j] * xn[tok * k + j];
                  u += up.values[r * k + j] * xn[tok * k + j];
                  scale += Math.abs(gate.values[r * k + j] * xn[tok * k + j]) +
                    Math.abs(up.values[r * k + j] * xn[tok * k + j]);
                }
                const want = g / (1 + Math.exp(-g)) * u;
                const at = tok * yStride + rowStart + r;
                ok(
                  Math.abs(got[at] - want) <= 1e-5 * (scale + 1) * (Math.abs(u) + Math.abs(g) + 1),
                  `token ${tok} row ${r}: ${got[at]} vs ${want}`,
                );
              }
            }
            // Nothing else written.
            got.forEach((v, i) => {
              const c = i % yStride;
              if (c < rowStart || c >= rowStart + rows) equal(v, y0[i], `element ${i}`);
            });
            // Token 0 alone gives the bits it gets among five.
            const one = await run(1);
            for (let r = 0; r < rows; r++) equal(one[rowStart + r], got[rowStart + r], `row ${r} alone`);
          } finally {
            own.destroy();
          }
        });
      }
    } finally {
      ctx.dispose();
    }
  },
});

/** Run one kernel call over a step; returns the named buffers' contents afterwards. */
async function runCall(
  ctx: GpuContext,
  own: GpuBuffers,
  call: KernelCall,
  step: { n: number; pos0: number; row0?: number },
  read: GPUBuffer[],
): Promise<Float32Array[]> {
  ctx.device.pushErrorScope("validation");
  const op = new Recorder(ctx, own.bytes(stepBytes(step.n, step.pos0, step.row0), USAGE.UNIFORM), own).record(call);
  const encoder = ctx.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  pass.setPipeline(op.pipeline);
  pass.setBindGroup(0, op.bindGroup);
  pass.dispatchWorkgroups(...op.grid(step.n, step.pos0 + step.n));
  pass.end();
  const copies = read.map((b) => {
    const copy = own.create(b.size, USAGE.MAP_READ | USAGE.COPY_DST);
    encoder.copyBufferToBuffer(b, 0, copy, 0, b.size);
    return copy;
  });
  ctx.device.queue.submit([encoder.finish()]);
  equal(await ctx.device.popErrorScope(), null);
  const out: Float32Array[] = [];
  for (const c of copies) {
    await c.mapAsync(1);
    out.push(new Float32Array(c.getMappedRange().slice(0)));
    c.unmap();
  }
  return out;
}

Deno.test({
  name:
    "webgpu kernels: matvec_qkv equals three double-precision products (own formats, biases), each token the same bits at any count",
  ignore: !HAVE_GPU,
  async fn(t) {
    const ctx = await GpuContext.open({ device: await sharedGpuDevice() });
    let seed = 13;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
    const cases: [[GgmlTypeName, GgmlTypeName, GgmlTypeName], number, boolean, boolean][] = [
      [["f32", "f32", "f32"], 72, true, false],
      [["q4_k", "q4_k", "q6_k"], 512, false, true],
      [["f16", "bf16", "q8_0"], 256, true, true],
    ];
    try {
      for (const [dtypes, k, bias, folded] of cases) {
        await t.step(
          `${dtypes.join("/")} ×${k}${bias ? " bias" : ""}${folded ? ", RMSNorm folded in" : ""}`,
          async () => {
            const own = new GpuBuffers(ctx.device);
            try {
              const qRows = 44, kvRows = 22, tokens = 5;
              const io = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
              const mats = dtypes.map((dtype, i) => {
                const rows = i === 0 ? qRows : kvRows;
                const packed = quantizeRow(dtype, Float32Array.from({ length: rows * k }, rand));
                return { dtype, rows, packed, values: dequantizeRow(dtype, packed, new Float32Array(rows * k)) };
              });
              const b = Float32Array.from({ length: qRows + 2 * kvRows }, rand);
              const x = Float32Array.from({ length: tokens * k }, rand);
              const normWeight = Float32Array.from({ length: k }, () => 1 + rand());
              const eps = 1e-6;
              const xn = Float64Array.from(x);
              if (folded) {
                for (let tok = 0; tok < tokens; tok++) {
                  let ss = 0;
                  for (let j = 0; j < k; j++) ss += x[tok * k + j] ** 2;
                  const scale = 1 / Math.sqrt(ss / k + eps);
                  for (let j = 0; j < k; j++) xn[tok * k + j] = x[tok * k + j] * scale * normWeight[j];
                }
              }
              const run = async (n: number) => {
                const outs = [qRows, kvRows, kvRows].map((r) => own.f32(new Float32Array(tokens * r), io));
                const m = mats.map((mm) => ({ w: own.bytes(mm.packed, USAGE.STORAGE), dtype: mm.dtype }));
                const call = matvecQkv({
                  wq: m[0],
                  wk: m[1],
                  wv: m[2],
                  k,
                  qRows,
                  kvRows,
                  x: own.f32(x, USAGE.STORAGE),
                  batch: tokens,
                  q: outs[0],
                  kn: outs[1],
                  vn: outs[2],
                  bias: bias ? own.f32(b, USAGE.STORAGE) : undefined,
                  norm: folded ? { weight: own.f32(normWeight, USAGE.STORAGE), eps } : undefined,
                });
                return await runCall(ctx, own, call, { n, pos0: 0 }, outs);
              };
              const got = await run(tokens);
              let offset = 0;
              mats.forEach((mm, i) => {
                for (let tok = 0; tok < tokens; tok++) {
                  for (let r = 0; r < mm.rows; r++) {
                    let sum = bias ? b[offset + r] : 0, scale = 1;
                    for (let j = 0; j < k; j++) {
                      sum += mm.values[r * k + j] * xn[tok * k + j];
                      scale += Math.abs(mm.values[r * k + j] * xn[tok * k + j]);
                    }
                    const v = got[i][tok * mm.rows + r];
                    ok(Math.abs(v - sum) <= 1e-5 * scale, `matrix ${i} token ${tok} row ${r}: ${v} vs ${sum}`);
                  }
                }
                offset += mm.rows;
              });
              const one = await run(1);
              for (let i = 0; i < 3; i++) {
                for (let r = 0; r < mats[i].rows; r++) equal(one[i][r], got[i][r], `matrix ${i} row ${r} alone`);
              }
            } finally {
              own.destroy();
            }
          },
        );
      }
    } finally {
      ctx.dispose();
    }
  },
});

Deno.test({
  name:
    "webgpu kernels: kv_append rotates the step's keys (RoPE) into f32 and f16 caches at their positions, values as they are",
  ignore: !HAVE_GPU,
  async fn(t) {
    const ctx = await GpuContext.open({ device: await sharedGpuDevice() });
    let seed = 17;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
    try {
      for (const kv of ["f32", "f16"] as const) {
        for (const withRope of [true, false]) {
          await t.step(`${kv}${withRope ? " rope" : " (ALiBi: no rotation)"}`, async () => {
            const own = new GpuBuffers(ctx.device);
            try {
              const kvHeads = 2, d = 8, dim = kvHeads * d, batch = 4, context = 6, n = 2, pos0 = 3, row0 = 1;
              const half = d / 2;
              const k = Float32Array.from({ length: batch * dim }, rand);
              const v = Float32Array.from({ length: batch * dim }, rand);
              // (cos, sin) of arbitrary angles per position and pair.
              const angle = (pos: number, i: number) => pos * (i + 1) * 0.37;
              const table = new Float32Array(context * half * 2);
              for (let pos = 0; pos < context; pos++) {
                for (let i = 0; i < half; i++) {
                  table[2 * (pos * half + i)] = Math.cos(angle(pos, i));
                  table[2 * (pos * half + i) + 1] = Math.sin(angle(pos, i));
                }
              }
              const io = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
              const bytes = context * dim * (kv === "f32" ? 4 : 2);
              const keys = own.bytes(new Uint8Array(bytes), io), values = own.bytes(new Uint8Array(bytes), io);
              const call = kvAppend({
                k: own.f32(k, USAGE.STORAGE),
                v: own.f32(v, USAGE.STORAGE),
                batch,
                keys,
                values,
                kv,
                context,
                kvHeads,
                headDim: d,
                table: withRope ? own.f32(table, USAGE.STORAGE) : undefined,
              });
              const [kc, vc] = await runCall(ctx, own, call, { n, pos0, row0 }, [keys, values]);
              const read = (c: Float32Array, e: number) => kv === "f32" ? c[e] : new Float16Array(c.buffer)[e];
              const tol = kv === "f32" ? 1e-6 : 2e-3;
              for (let pos = 0; pos < context; pos++) {
                for (let e = 0; e < dim; e++) {
                  const t = pos - pos0;
                  if (t < 0 || t >= n) {
                    equal(read(kc, pos * dim + e), 0, `untouched key ${pos}/${e}`);
                    equal(read(vc, pos * dim + e), 0, `untouched value ${pos}/${e}`);
                    continue;
                  }
                  const src = (row0 + t) * dim + e;
                  const h = Math.floor(e / d), i = e % d;
                  let want = k[src];
                  if (withRope) {
                    const j = i % half, a = Math.cos(angle(pos, j)), s = Math.sin(angle(pos, j));
                    const x0 = k[(row0 + t) * dim + h * d + j], x1 = k[(row0 + t) * dim + h * d + j + half];
                    want = i < half ? x0 * a - x1 * s : x1 * a + x0 * s;
                  }
                  ok(
                    Math.abs(read(kc, pos * dim + e) - want) <= tol,
                    `key ${pos}/${e}: ${read(kc, pos * dim + e)} vs ${want}`,
                  );
                  ok(Math.abs(read(vc, pos * dim + e) - v[src]) <= tol, `value ${pos}/${e}`);
                }
              }
            } finally {
              own.destroy();
            }
          });
        }
      }
    } finally {
      ctx.dispose();
    }
  },
});

Deno.test("webgpu kernels: matvec takes the shapes its units divide, and leaves the rest to matmul", () => {
  ok(matvecFits("f32", 4) && matvecFits("bf16", 8) && matvecFits("q4_k", 512) && matvecFits("q8_0", 96));
  ok(!matvecFits("f32", 6) && !matvecFits("f16", 12) && !matvecFits("q5_k", 256) && !matvecFits("q4_0", 64));
  const a = { w: fake(8 * 12 * 2), dtype: "f16" as const, k: 12, rowStart: 0, rows: 8, x: fake(12 * 4), xRows: 1 };
  const out = { y: fake(8 * 4), yRows: 1, yStride: 8, strategy: "cooperative" as const };
  equal(matvec({ ...a, ...out }).role, "matmul", "k = 12 is not a whole number of 8-value units");
  equal(matvec({ ...a, k: 16, w: fake(8 * 16 * 2), x: fake(16 * 4), ...out }).role, "matvec");
  throws(() => matvec({ ...a, k: 16, w: fake(8 * 16), x: fake(16 * 4), ...out }), RangeError);
  throws(() => matvec({ ...a, k: 16, w: fake(8 * 16 * 2), x: fake(16 * 4), ...out, yStride: 4 }), RangeError);
});

Deno.test({
  name: "webgpu kernels: matvec equals a double-precision sum for each format, shape, bias, accumulate and y_pos",
  ignore: !HAVE_GPU,
  async fn(t) {
    const ctx = await GpuContext.open({ device: await sharedGpuDevice() });
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
    const cases: [GgmlTypeName, number[]][] = [
      ["f32", [4, 72, 2056]],
      ["f16", [8, 136, 4104]],
      ["bf16", [16, 2056]],
      ["q8_0", [32, 96, 8224]],
      ["q4_k", [256, 2304, 8448]],
      ["q6_k", [256, 1280, 17920]],
      ["q4_0", [64]], // no matvec kernel: matmul's call
    ];
    try {
      for (const [dtype, ks] of cases) {
        for (const [i, k] of ks.entries()) {
          const rows = [37, 6, 9][i % 3], rowStart = 3, yStride = rowStart + rows + 2, pos0 = 2, yRows = 4;
          const bias = i % 3 !== 1, accumulate = i % 3 !== 2, yPos = i % 3 !== 0;
          await t.step(`${dtype} ${rows}×${k}${bias ? " bias" : ""}${accumulate ? " accumulate" : ""}`, async () => {
            const own = new GpuBuffers(ctx.device);
            try {
              const values = Float32Array.from({ length: rows * k }, rand);
              const packed = quantizeRow(dtype, values);
              const wv = dequantizeRow(dtype, packed, new Float32Array(rows * k));
              const x = Float32Array.from({ length: 2 * k }, rand);
              const b = Float32Array.from({ length: yStride }, rand);
              const y0 = Float32Array.from({ length: yRows * yStride }, rand);
              const io = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
              const y = own.f32(y0, io);
              const step = own.bytes(stepBytes(1, pos0), USAGE.UNIFORM);
              const call = matvec({
                w: own.bytes(packed, USAGE.STORAGE),
                dtype,
                k,
                rowStart,
                rows,
                x: own.f32(x, USAGE.STORAGE),
                xRows: 2,
                y,
                yRows,
                yStride,
                bias: bias ? own.f32(b, USAGE.STORAGE) : undefined,
                yPos,
                accumulate,
                strategy: "cooperative",
              });
              equal(call.role, matvecFits(dtype, k) ? "matvec" : "matmul");
              ctx.device.pushErrorScope("validation");
              const op = new Recorder(ctx, step, own).record(call);
              const encoder = ctx.device.createCommandEncoder();
              const pass = encoder.beginComputePass();
              pass.setPipeline(op.pipeline);
              pass.setBindGroup(0, op.bindGroup);
              pass.dispatchWorkgroups(...op.grid(1, pos0 + 1));
              pass.end();
              const read = own.create(y0.byteLength, USAGE.MAP_READ | USAGE.COPY_DST);
              encoder.copyBufferToBuffer(y, 0, read, 0, y0.byteLength);
              ctx.device.queue.submit([encoder.finish()]);
              equal(await ctx.device.popErrorScope(), null);
              await read.mapAsync(1);
              const got = new Float32Array(read.getMappedRange().slice(0));
              read.unmap();
              const want = Float64Array.from(y0);
              const at0 = (yPos ? pos0 : 0) * yStride + rowStart;
              for (let r = 0; r < rows; r++) {
                let sum = 0, scale = 0;
                for (let j = 0; j < k; j++) {
                  sum += wv[r * k + j] * x[j];
                  scale += Math.abs(wv[r * k + j] * x[j]);
                }
                if (bias) sum += b[rowStart + r];
                want[at0 + r] = accumulate ? want[at0 + r] + sum : sum;
                const d = Math.abs(got[at0 + r] - want[at0 + r]);
                ok(d <= 1e-5 * (scale + 1), `row ${r}: ${got[at0 + r]} vs ${want[at0 + r]}`);
              }
              // Nothing else written.
              got.forEach((v, i) => (i < at0 || i >= at0 + rows) && equal(v, y0[i], `element ${i}`));
            } finally {
              own.destroy();
            }
          });
        }
      }
    } finally {
      ctx.dispose();
    }
  },
});

Deno.test({
  name:
    "webgpu kernels: matmul_tiled equals a double-precision sum, each format, ragged shapes, bias, accumulate, y_pos",
  ignore: !HAVE_GPU,
  async fn(t) {
    const ctx = await GpuContext.open({ device: await sharedGpuDevice() });
    const device = ctx.device;
    try {
      let seed = 7;
      const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
      // [format, k values]: 16-bit and f32 rows of any even width (not multiples of the 16-wide slice), blocks whole.
      const formats = [
        ["f32", [6, 130]],
        ["f16", [2, 40, 130]],
        ["bf16", [18, 96]],
        ["q8_0", [32, 96]],
        ["q4_k", [256, 512]],
        ["q6_k", [256]],
      ] as const;
      // [rows, rowStart, n (tokens in the step), batch (x rows), extras]: rows and tokens past whole tiles; all
      // with a bias, one pipeline per format (compiling is slow on software adapters; the graph tests run without).
      const shapes = [
        { rows: 70, rowStart: 0, n: 67, batch: 80, bias: true },
        { rows: 5, rowStart: 3, n: 3, batch: 80, bias: true, accumulate: true },
        { rows: 64, rowStart: 6, n: 65, batch: 70, bias: true, yPos: true, pos0: 5 },
        { rows: 70, rowStart: 1, n: 9, batch: 1, bias: true, oneToken: true }, // x and y: one row
      ];
      for (const [dtype, ks] of formats) {
        for (const k of ks) {
          for (const s of shapes) {
            await t.step(
              `${dtype} k=${k} rows=${s.rows} n=${s.n}${s.bias ? " bias" : ""}${s.accumulate ? " accumulate" : ""}${
                s.yPos ? " y_pos" : ""
              }${s.oneToken ? " one_token" : ""}`,
              async () => {
                const own = new GpuBuffers(device);
                try {
                  const yStride = s.rowStart + s.rows + 2;
                  const pos0 = s.pos0 ?? 0;
                  const yRows = s.yPos ? pos0 + s.batch + 3 : s.batch;
                  const wf = Float32Array.from({ length: s.rows * k }, rand);
                  const packed = quantizeRow(dtype, wf);
                  const wq = dequantizeRow(dtype, packed, new Float32Array(s.rows * k)); // what the kernel reads
                  const x = Float32Array.from({ length: s.batch * k }, rand);
                  const bias = Float32Array.from({ length: yStride }, rand);
                  const y0 = Float32Array.from({ length: yRows * yStride }, rand);
                  const wBytes = new Uint8Array(Math.ceil(packed.length / 4) * 4);
                  wBytes.set(packed);
                  const yBuf = own.bytes(y0, USAGE.STORAGE | USAGE.COPY_SRC);
                  const call = matmulTiled({
                    w: own.bytes(wBytes, USAGE.STORAGE),
                    dtype,
                    k,
                    rowStart: s.rowStart,
                    rows: s.rows,
                    x: own.f32(x, USAGE.STORAGE),
                    xRows: s.batch,
                    y: yBuf,
                    yRows,
                    yStride,
                    bias: s.bias ? own.f32(bias, USAGE.STORAGE) : undefined,
                    yPos: s.yPos,
                    accumulate: s.accumulate,
                    oneToken: s.oneToken,
                  });
                  const step = own.bytes(stepBytes(s.n, pos0), USAGE.UNIFORM);
                  const op = new Recorder(ctx, step, own).record(call);
                  const read = own.create(y0.byteLength, USAGE.MAP_READ | USAGE.COPY_DST);
                  const encoder = device.createCommandEncoder();
                  const pass = encoder.beginComputePass();
                  pass.setPipeline(op.pipeline);
                  pass.setBindGroup(0, op.bindGroup);
                  pass.dispatchWorkgroups(...op.grid(s.n, pos0 + s.n));
                  pass.end();
                  encoder.copyBufferToBuffer(yBuf, 0, read, 0, y0.byteLength);
                  device.queue.submit([encoder.finish()]);
                  await read.mapAsync(GPUMapMode.READ);
                  const got = new Float32Array(read.getMappedRange().slice(0));
                  read.unmap();
                  let worst = 0;
                  for (let row = 0; row < yRows; row++) {
                    for (let col = 0; col < yStride; col++) {
                      const at = row * yStride + col;
                      const tok = row - pos0 * (s.yPos ? 1 : 0);
                      const r = col - s.rowStart;
                      if (tok < 0 || tok >= (s.oneToken ? 1 : s.n) || r < 0 || r >= s.rows) {
                        equal(got[at], y0[at], `untouched y[${row}, ${col}]`);
                        continue;
                      }
                      let sum = 0, scale = 1;
                      for (let i = 0; i < k; i++) {
                        sum += wq[r * k + i] * x[tok * k + i];
                        scale += Math.abs(wq[r * k + i] * x[tok * k + i]);
                      }
                      if (s.bias) sum += bias[col];
                      if (s.accumulate) sum += y0[at];
                      worst = Math.max(worst, Math.abs(got[at] - sum) / scale);
                    }
                  }
                  ok(worst < 1e-5, `relative error ${worst}`);
                } finally {
                  own.destroy();
                }
              },
            );
          }
        }
      }
    } finally {
      ctx.dispose();
    }
  },
});

Deno.test({
  name:
    "webgpu kernels: decode products over n token rows (matvec; rows with decode) equal double-precision sums, each token the bits of a one-token step",
  ignore: !HAVE_GPU,
  async fn(t) {
    const ctx = await GpuContext.open({ device: await sharedGpuDevice() });
    let seed = 11;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648 - 0.5;
    const cases: [GgmlTypeName, number, "cooperative" | "rows"][] = [
      ["f32", 72, "cooperative"],
      ["f16", 136, "cooperative"],
      ["q8_0", 96, "cooperative"],
      ["q4_k", 256, "cooperative"],
      ["q6_k", 512, "cooperative"],
      ["f32", 72, "rows"],
      ["bf16", 64, "rows"],
      ["q8_0", 96, "rows"],
      ["q4_k", 512, "rows"],
      ["q6_k", 256, "rows"],
      ["q5_0", 64, "rows"], // no tile: one token after another
    ];
    const n = 6, rows = 37, rowStart = 2, yStride = rows + 3;
    try {
      for (const [dtype, k, strategy] of cases) {
        await t.step(
          `${dtype} ${rows}×${k}, ${n} tokens, ${strategy === "rows" ? "matmul rows, decode" : "matvec"}`,
          async () => {
            const own = new GpuBuffers(ctx.device);
            try {
              const values = Float32Array.from({ length: rows * k }, rand);
              const packed = quantizeRow(dtype, values);
              const wv = dequantizeRow(dtype, packed, new Float32Array(rows * k));
              const xs = Float32Array.from({ length: n * k }, rand);
              const b = Float32Array.from({ length: yStride }, rand);
              const io = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
              const w = own.bytes(packed, USAGE.STORAGE);
              const bias = own.f32(b, USAGE.STORAGE);
              /** y of a step of `tokens` rows of `x` (each `k` wide). */
              const run = async (x: Float32Array, tokens: number): Promise<Float32Array> => {
                const y = own.create(n * yStride * 4, io);
                const step = own.bytes(stepBytes(tokens, 0), USAGE.UNIFORM);
                const a = { w, dtype, k, rowStart, rows, x: own.f32(x, USAGE.STORAGE), xRows: n, y, yRows: n, yStride };
                const call = strategy === "rows"
                  ? matmul({ ...a, bias, strategy, decode: true })
                  : matvec({ ...a, bias, strategy });
                equal(call.role, strategy === "rows" ? "matmul" : "matvec");
                const op = new Recorder(ctx, step, own).record(call);
                const encoder = ctx.device.createCommandEncoder();
                const pass = encoder.beginComputePass();
                pass.setPipeline(op.pipeline);
                pass.setBindGroup(0, op.bindGroup);
                pass.dispatchWorkgroups(...op.grid(tokens, tokens));
                pass.end();
                const read = own.create(n * yStride * 4, USAGE.MAP_READ | USAGE.COPY_DST);
                encoder.copyBufferToBuffer(y, 0, read, 0, n * yStride * 4);
                ctx.device.queue.submit([encoder.finish()]);
                await read.mapAsync(1);
                const got = new Float32Array(read.getMappedRange().slice(0));
                read.unmap();
                return got;
              };
              const all = await run(xs, n);
              for (let tok = 0; tok < n; tok++) {
                const padded = new Float32Array(n * k);
                padded.set(xs.subarray(tok * k, (tok + 1) * k));
                const one = await run(padded, 1);
                for (let r = 0; r < rows; r++) {
                  const at = tok * yStride + rowStart + r;
                  equal(all[at], one[rowStart + r], `token ${tok}, row ${r}: the one-token step's bits`);
                  let sum = b[rowStart + r], scale = 0;
                  for (let j = 0; j < k; j++) {
                    sum += wv[r * k + j] * xs[tok * k + j];
                    scale += Math.abs(wv[r * k + j] * xs[tok * k + j]);
                  }
                  ok(Math.abs(all[at] - sum) <= 1e-5 * (scale + 1), `token ${tok}, row ${r}: ${all[at]} vs ${sum}`);
                }
              }
            } finally {
              own.destroy();
            }
          },
        );
      }
    } finally {
      ctx.dispose();
    }
  },
});

Deno.test({
  name:
    "webgpu kernels: argmaxMasked takes the best allowed logit, the lowest id on ties, whatever the vocabulary's width",
  ignore: !HAVE_GPU,
  async fn() {
    const ctx = await GpuContext.open({ device: await sharedGpuDevice() });
    const own = new GpuBuffers(ctx.device);
    try {
      const device = ctx.device;
      const out = own.create(4, USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST);
      const read = own.create(4, USAGE.MAP_READ | USAGE.COPY_DST);
      /** The kernel's id for logits and the allowed ids (bits past the vocabulary may be set too). */
      const run = async (logits: Float32Array, allowed: Iterable<number>, words = Math.ceil(logits.length / 32)) => {
        const mask = new Uint32Array(words);
        for (const id of allowed) mask[id >>> 5] |= 1 << (id & 31);
        const op = new Recorder(ctx, own.create(STEP.size, USAGE.UNIFORM), own).record(argmaxMasked({
          logits: own.f32(logits, USAGE.STORAGE),
          mask: own.bytes(mask, USAGE.STORAGE),
          out,
          vocab: logits.length,
        }));
        device.queue.writeBuffer(out, 0, Uint32Array.of(12345));
        const encoder = device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        pass.setPipeline(op.pipeline);
        pass.setBindGroup(0, op.bindGroup);
        pass.dispatchWorkgroups(...op.grid(1, 1));
        pass.end();
        encoder.copyBufferToBuffer(out, 0, read, 0, 4);
        device.queue.submit([encoder.finish()]);
        await read.mapAsync(1);
        const id = new Uint32Array(read.getMappedRange().slice(0))[0];
        read.unmap();
        return id;
      };
      // By hand: 70 logits (not a multiple of 32: the last word is partly past the vocabulary).
      // 0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 0, ...: 10, the largest, at 8, 19, 30, 41, 52 and 63.
      const l = Float32Array.from({ length: 70 }, (_, i) => (i * 37) % 11);
      equal(await run(l, Array.from({ length: 70 }, (_, i) => i)), 8, "all allowed: the lowest 10");
      equal(await run(l, [63, 41, 30, 2]), 30, "ties: the lowest allowed id");
      equal(await run(l, [0, 1, 2, 3]), 2, "a few allowed: the largest of 0, 4, 8, 1");
      equal(await run(l, [69]), 69, "all but one masked: that one, in the last, partial word");
      equal(await run(l, []), 0xffffffff, "none allowed");
      // Bits set past the vocabulary (ids 70..95 of the last word) are ignored.
      equal(await run(l, [3, 70, 80, 95]), 3);
      // -Infinity and NaN: an allowed -Infinity is still a choice; NaN never is.
      const inf = Float32Array.from({ length: 40 }, () => -Infinity);
      inf[5] = NaN;
      equal(await run(inf, [5, 9, 33]), 9, "NaN skipped, then the lowest of equal -Infinity");
      equal(await run(inf, [5]), 0xffffffff, "only NaN allowed: none");
      // Random logits with many ties over several strides of the workgroup: the CPU's choice.
      let seed = 11;
      const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
      for (const [vocab, share] of [[1000, 0.5], [2049, 0.02], [4096, 0.9], [777, 0.004]]) {
        const logits = Float32Array.from({ length: vocab }, () => Math.floor(rand() * 20));
        const allowed = Array.from({ length: vocab }, (_, i) => i).filter(() => rand() < share);
        let want = 0xffffffff;
        for (const i of allowed) if (want === 0xffffffff || logits[i] > logits[want]) want = i;
        equal(await run(logits, allowed), want, `vocab ${vocab}, ${allowed.length} allowed`);
      }
    } finally {
      own.destroy();
      ctx.dispose();
    }
  },
});

Deno.test({
  name:
    "webgpu kernels: fused attention equals a double-precision RoPE, softmax and weighted sum; causal, GQA, ALiBi, f16, batch rows",
  ignore: !HAVE_GPU,
  async fn(t) {
    const ctx = await GpuContext.open({ device: await sharedGpuDevice() });
    const device = ctx.device;
    let seed = 5;
    const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 1073741824 - 1;
    // [name, heads, kv heads, head width, cache format, ALiBi, steps: tokens n from pos0 in rows from row0].
    type Step = { n: number; pos0: number; row0: number };
    const cases: [string, number, number, number, KvFormat, boolean, Step[]][] = [
      ["decode, GQA", 4, 2, 16, "f32", false, [{ n: 1, pos0: 0, row0: 0 }, { n: 1, pos0: 5, row0: 0 }, {
        n: 1,
        pos0: 70,
        row0: 0,
      }, { n: 1, pos0: 139, row0: 0 }]],
      ["causal prompt step, GQA", 4, 2, 16, "f32", false, [{ n: 6, pos0: 0, row0: 0 }, { n: 5, pos0: 62, row0: 0 }]],
      ["batch rows", 4, 2, 16, "f32", false, [{ n: 1, pos0: 9, row0: 3 }, { n: 2, pos0: 66, row0: 1 }]],
      ["ALiBi", 4, 4, 16, "f32", true, [{ n: 1, pos0: 77, row0: 2 }, { n: 4, pos0: 3, row0: 0 }]],
      ["f16 cache, wide heads (d = 136), GQA", 4, 1, 136, "f16", false, [{ n: 1, pos0: 100, row0: 0 }, {
        n: 3,
        pos0: 64,
        row0: 1,
      }]],
    ];
    const B = 6, C = 144;
    try {
      for (const [name, H, KV, D, kv, alibi, steps] of cases) {
        await t.step(name, async () => {
          const own = new GpuBuffers(device);
          try {
            const half = D / 2;
            const table = new Float32Array(C * D);
            for (let p = 0; p < C; p++) {
              for (let i = 0; i < half; i++) {
                table[2 * (p * half + i)] = Math.cos(p * 10000 ** (-2 * i / D));
                table[2 * (p * half + i) + 1] = Math.sin(p * 10000 ** (-2 * i / D));
              }
            }
            const slopes = Float32Array.from({ length: H }, (_, h) => 2 ** (-8 * (h + 1) / H));
            const q = Float32Array.from({ length: B * H * D }, rand);
            // The caches' values as the kernel reads them (rounded to halves for f16).
            const round = (x: number) => kv === "f16" ? f16ToF32(f32ToF16(x)) : x;
            const kf = Float32Array.from({ length: C * KV * D }, () => round(rand()));
            const vf = Float32Array.from({ length: C * KV * D }, () => round(rand()));
            const cache = (x: Float32Array) =>
              kv === "f16" ? own.bytes(Uint16Array.from(x, f32ToF16), USAGE.STORAGE) : own.f32(x, USAGE.STORAGE);
            const k = cache(kf), v = cache(vf);
            const io = USAGE.STORAGE | USAGE.COPY_SRC | USAGE.COPY_DST;
            const s = own.create(H * B * C * 4, USAGE.STORAGE);
            const qBuf = own.f32(q, USAGE.STORAGE);
            const tBuf = own.f32(table, USAGE.STORAGE);
            const sBuf = own.f32(alibi ? slopes : new Float32Array(1), USAGE.STORAGE);
            const o0 = Float32Array.from({ length: B * H * D }, rand);
            /** The output rows after one step. */
            const run = async (st: Step): Promise<Float32Array> => {
              const o = own.f32(o0, io);
              const call = attention({
                q: qBuf,
                table: tBuf,
                k,
                v,
                s,
                slopes: sBuf,
                o,
                heads: H,
                kvHeads: KV,
                headDim: D,
                batch: B,
                context: C,
                alibi,
                kv,
              });
              const step = own.bytes(stepBytes(st.n, st.pos0, st.row0), USAGE.UNIFORM);
              device.pushErrorScope("validation");
              const op = new Recorder(ctx, step, own).record(call);
              const encoder = device.createCommandEncoder();
              const pass = encoder.beginComputePass();
              pass.setPipeline(op.pipeline);
              pass.setBindGroup(0, op.bindGroup);
              pass.dispatchWorkgroups(...op.grid(st.n, st.pos0 + st.n));
              pass.end();
              const read = own.create(o0.byteLength, USAGE.MAP_READ | USAGE.COPY_DST);
              encoder.copyBufferToBuffer(o, 0, read, 0, o0.byteLength);
              device.queue.submit([encoder.finish()]);
              equal(await device.popErrorScope(), null);
              await read.mapAsync(GPUMapMode.READ);
              const got = new Float32Array(read.getMappedRange().slice(0));
              read.unmap();
              return got;
            };
            for (const st of steps) {
              const got = await run(st);
              let worst = 0;
              for (let row = 0; row < B; row++) {
                const tok = row - st.row0;
                for (let h = 0; h < H; h++) {
                  const at = (row * H + h) * D;
                  if (tok < 0 || tok >= st.n) {
                    for (let i = 0; i < D; i++) equal(got[at + i], o0[at + i], `untouched o[${row}, ${h}, ${i}]`);
                    continue;
                  }
                  const pos = st.pos0 + tok, kvh = Math.floor(h / (H / KV));
                  const qr = Array.from(q.subarray(at, at + D));
                  if (!alibi) {
                    for (let i = 0; i < half; i++) {
                      const [c, sn] = [table[2 * (pos * half + i)], table[2 * (pos * half + i) + 1]];
                      const [a, b] = [q[at + i], q[at + i + half]];
                      qr[i] = a * c - b * sn;
                      qr[i + half] = b * c + a * sn;
                    }
                  }
                  const scores = Array.from({ length: pos + 1 }, (_, j) => {
                    let dot = 0;
                    for (let i = 0; i < D; i++) dot += qr[i] * kf[(j * KV + kvh) * D + i];
                    return dot / Math.sqrt(D) + (alibi ? slopes[h] * (j - pos) : 0);
                  });
                  const mx = Math.max(...scores);
                  const e = scores.map((x) => Math.exp(x - mx));
                  const sum = e.reduce((a, b) => a + b, 0);
                  for (let i = 0; i < D; i++) {
                    let want = 0;
                    for (let j = 0; j <= pos; j++) want += e[j] / sum * vf[(j * KV + kvh) * D + i];
                    worst = Math.max(worst, Math.abs(got[at + i] - want));
                  }
                }
              }
              ok(worst < 2e-5, `n ${st.n} from ${st.pos0} in row ${st.row0}: error ${worst}`);
              // Each token's row has the bits of the same token stepped alone in row 0.
              for (let tok = 0; tok < st.n; tok++) {
                if (st.n === 1 && st.row0 === 0) continue;
                const alone = await run({ n: 1, pos0: st.pos0 + tok, row0: st.row0 + tok });
                const at = (st.row0 + tok) * H * D;
                deepEqual(got.subarray(at, at + H * D), alone.subarray(at, at + H * D), `token ${tok} alone`);
              }
            }
          } finally {
            own.destroy();
          }
        });
      }
    } finally {
      ctx.dispose();
    }
  },
});
