/**
 * The ggml block formats (`infer/formats/ggml_quant.ts`), the quantization presets
 * (`quant_preset.ts`) and quantized tensors in GGUF. Each block format is checked on a block
 * built by hand, byte by byte, against values worked out from the format's definition; the
 * quantizers by their error on Gaussian data and by exact reproduction of representable values;
 * the fused dot product against unpacking then a plain dot product; the products with 8-bit
 * activations (`int8_dot.ts`) against the f32 product within the rounding they imply.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import {
  bitsPerWeight,
  dequantizeRow,
  dotRow,
  GGML_TYPE_LAYOUTS,
  ggmlRowBytes,
  type GgmlTypeName,
  ggufSize,
  type GgufTensor,
  presetForBits,
  QUANT_PRESETS,
  quantizeRow,
  readGgufHeader,
  tensorTypeFor,
  useMoreBits,
  writeGguf,
} from "../infer/formats/mod.ts";
import { INT8_DOT_FORMATS, int8Activations, int8DotRow } from "../infer/formats/int8_dot.ts";
import { Rng } from "../infer/decode/random.ts";
import { tempDir } from "./_shared.ts";

const ALL: GgmlTypeName[] = ["f32", "f16", "bf16", "q8_0", "q4_0", "q5_0", "q4_k", "q5_k", "q6_k"];

/** f16 bit patterns used below. */
const F16 = { one: 0x3c00, half: 0x3800, quarter: 0x3400, two: 0x4000, minusHalf: 0xb800 };

function block(type: GgmlTypeName): Uint8Array {
  return new Uint8Array(GGML_TYPE_LAYOUTS[type].blockBytes);
}
function putF16(b: Uint8Array, o: number, bits: number): void {
  b[o] = bits & 0xff;
  b[o + 1] = bits >> 8;
}
function unpack(type: GgmlTypeName, b: Uint8Array): Float32Array {
  return dequantizeRow(type, b, new Float32Array(GGML_TYPE_LAYOUTS[type].blockSize));
}
function gaussian(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.normal());
}
function relRms(x: Float32Array, y: Float32Array): number {
  let e = 0, s = 0;
  for (let i = 0; i < x.length; i++) {
    e += (x[i] - y[i]) ** 2;
    s += x[i] ** 2;
  }
  return Math.sqrt(e / s);
}

Deno.test("hand-worked blocks decode as their definitions say", async (t) => {
  await t.step("q8_0: y = d · qs[j]", () => {
    const b = block("q8_0");
    putF16(b, 0, F16.half);
    b.set([127, 0x80, 0xff], 2); // qs[0] = 127, qs[1] = −128, qs[2] = −1
    b[2 + 31] = 5;
    const y = unpack("q8_0", b);
    deepEqual([y[0], y[1], y[2], y[3], y[31]], [0.5 * 127, 0.5 * -128, 0.5 * -1, 0, 0.5 * 5]);
  });

  await t.step("q4_0: y[j] = d · (low nibble − 8), y[j + 16] = d · (high nibble − 8)", () => {
    const b = block("q4_0");
    putF16(b, 0, F16.minusHalf);
    b[2 + 0] = 0x0f;
    b[2 + 15] = 0x81;
    const y = unpack("q4_0", b);
    equal(y[0], -0.5 * (15 - 8));
    equal(y[16], -0.5 * (0 - 8));
    equal(y[15], -0.5 * (1 - 8));
    equal(y[31], -0.5 * (8 - 8));
    equal(y[1], -0.5 * (0 - 8));
  });

  await t.step("q5_0: the 5th bit of element j is bit j of qh", () => {
    const b = block("q5_0");
    putF16(b, 0, F16.two);
    b.set([0x01, 0x00, 0x00, 0x80], 2); // qh bits 0 and 31
    b[6 + 0] = 0x3a; // element 0 low bits 10, element 16 low bits 3
    b[6 + 15] = 0xf5; // element 15 low bits 5, element 31 low bits 15
    const y = unpack("q5_0", b);
    equal(y[0], 2 * ((16 + 10) - 16));
    equal(y[16], 2 * (3 - 16));
    equal(y[15], 2 * (5 - 16));
    equal(y[31], 2 * ((16 + 15) - 16));
    equal(y[1], 2 * (0 - 16));
  });

  // q4_k and q5_k: d = 0.5, dmin = 0.25; sub-block scales and minimums (6 bits each):
  const sc = [1, 2, 3, 4, 33, 45, 63, 17];
  const m = [5, 6, 7, 8, 40, 9, 62, 31];
  // packed by hand: bytes 0..3 = sc[0..3] | (sc[4..7] >> 4) << 6; bytes 4..7 = m[0..3] | (m[4..7] >> 4) << 6;
  // bytes 8..11 = (sc[4..7] & 15) | (m[4..7] & 15) << 4.
  // sc4 = 33 = 0b10_0001, m4 = 40 = 0b10_1000; sc5 = 45 = 0b10_1101, m5 = 9 = 0b00_1001;
  // sc6 = 63 = 0b11_1111, m6 = 62 = 0b11_1110; sc7 = 17 = 0b01_0001, m7 = 31 = 0b01_1111.
  const scales = [
    1 | (2 << 6), // 0x81
    2 | (2 << 6), // 0x82
    3 | (3 << 6), // 0xc3
    4 | (1 << 6), // 0x44
    5 | (2 << 6), // 0x85
    6 | (0 << 6), // 0x06
    7 | (3 << 6), // 0xc7
    8 | (1 << 6), // 0x48
    0x1 | (0x8 << 4), // 0x81
    0xd | (0x9 << 4), // 0x9d
    0xf | (0xe << 4), // 0xef
    0x1 | (0xf << 4), // 0xf1
  ];
  deepEqual(scales, [0x81, 0x82, 0xc3, 0x44, 0x85, 0x06, 0xc7, 0x48, 0x81, 0x9d, 0xef, 0xf1]);
  const d = 0.5, dmin = 0.25;

  await t.step("q4_k: y = d · sc · q − dmin · m, scales of sub-blocks 4..7 using the high bits", () => {
    const b = block("q4_k");
    putF16(b, 0, F16.half);
    putF16(b, 2, F16.quarter);
    b.set(scales, 4);
    const qs = 16;
    b[qs + 0] = 0x97; // element 0 (sub-block 0) q = 7, element 32 (sub-block 1) q = 9
    b[qs + 64 + 5] = 0x3c; // element 133 (sub-block 4) q = 12, element 165 (sub-block 5) q = 3
    b[qs + 96 + 31] = 0xf0; // element 223 (sub-block 6) q = 0, element 255 (sub-block 7) q = 15
    const y = unpack("q4_k", b);
    equal(y[0], d * sc[0] * 7 - dmin * m[0]); // 2.25
    equal(y[32], d * sc[1] * 9 - dmin * m[1]); // 7.5
    equal(y[133], d * sc[4] * 12 - dmin * m[4]); // 188
    equal(y[165], d * sc[5] * 3 - dmin * m[5]); // 65.25
    equal(y[223], d * sc[6] * 0 - dmin * m[6]); // −15.5
    equal(y[255], d * sc[7] * 15 - dmin * m[7]); // 119.75
    equal(y[200], -dmin * m[6]);
    deepEqual([y[133], y[165], y[255]], [188, 65.25, 119.75]);
  });

  await t.step("q5_k: q4_k plus a 5th bit, qh[l] bit j for element l of sub-block j", () => {
    const b = block("q5_k");
    putF16(b, 0, F16.half);
    putF16(b, 2, F16.quarter);
    b.set(scales, 4);
    const qh = 16, qs = 48;
    b[qh + 0] = 0x01; // element 0: 5th bit
    b[qh + 5] = 0x30; // bits 4, 5: elements 5 of sub-blocks 4 and 5 (133, 165)
    b[qh + 31] = 0x80; // bit 7: element 31 of sub-block 7 (255)
    b[qs + 64 + 5] = 0x3c;
    b[qs + 96 + 31] = 0xf0;
    const y = unpack("q5_k", b);
    equal(y[0], d * sc[0] * (16 + 0) - dmin * m[0]); // 6.75
    equal(y[133], d * sc[4] * (16 + 12) - dmin * m[4]); // 452
    equal(y[165], d * sc[5] * (16 + 3) - dmin * m[5]); // 425.25
    equal(y[223], d * sc[6] * 0 - dmin * m[6]);
    equal(y[255], d * sc[7] * (16 + 15) - dmin * m[7]); // 255.75
    deepEqual([y[0], y[133], y[165], y[255]], [6.75, 452, 425.25, 255.75]);
  });

  await t.step("q6_k: y = d · sc · (q − 32), 4 low bits in ql, 2 high bits in qh", () => {
    const b = block("q6_k");
    const sc6 = [1, -2, 3, -4, 5, -6, 7, -8, 127, -128, 10, -10, 20, -20, 30, -30];
    b.set(sc6.map((s) => s & 0xff), 192);
    putF16(b, 208, F16.half);
    // first half, l = 0: element 0 (k = 0), 32 (k = 1), 64 (k = 2), 96 (k = 3)
    b[0] = 0xa5; // ql[0]: element 0 low bits 5, element 64 low bits 10
    b[128] = 0b10_01_11_00; // qh[0]: high bits 0 (element 0), 3 (32), 1 (64), 2 (96)
    // second half, l = 16: elements 144 (k = 0), 176 (k = 1), 208 (k = 2), 240 (k = 3)
    b[64 + 32 + 16] = 0x70; // ql[112]: element 176 low bits 0, element 240 low bits 7
    b[128 + 32 + 16] = 0xc0; // qh[48]: element 240 high bits 3
    const y = unpack("q6_k", b);
    equal(y[0], 0.5 * sc6[0] * (5 - 32)); // scale index l/16 + 2k = 0
    equal(y[32], 0.5 * sc6[2] * (3 * 16 + 0 - 32)); // index 2
    equal(y[64], 0.5 * sc6[4] * (1 * 16 + 10 - 32)); // index 4
    equal(y[96], 0.5 * sc6[6] * (2 * 16 + 0 - 32)); // index 6
    equal(y[144], 0.5 * sc6[8 + 1] * (0 - 32)); // second half: index 8 + 1 + 0
    equal(y[176], 0.5 * sc6[8 + 1 + 2] * (0 - 32));
    equal(y[240], 0.5 * sc6[8 + 1 + 6] * (3 * 16 + 7 - 32));
    deepEqual([y[0], y[32], y[64], y[96], y[144], y[240]], [-13.5, 24, -15, 0, 2048, -345]);
  });

  await t.step("f16, bf16, f32: little-endian elements", () => {
    equal(dequantizeRow("f16", new Uint8Array([0x00, 0x3c, 0x00, 0xc0]), new Float32Array(2)).join(), "1,-2");
    equal(dequantizeRow("bf16", new Uint8Array([0x80, 0x3f, 0x49, 0x40]), new Float32Array(2)).join(), "1,3.140625");
    equal(dequantizeRow("f32", new Uint8Array([0, 0, 0xc0, 0x3f]), new Float32Array(1))[0], 1.5);
  });
});

Deno.test("quantize then dequantize", async (t) => {
  // relative RMS error on N(0, 1) data; the figures measured are about 0.72 of these bounds
  const bounds: Record<GgmlTypeName, number> = {
    f32: 0,
    f16: 4e-4,
    bf16: 3e-3,
    q8_0: 0.007,
    q6_k: 0.022,
    q5_k: 0.045,
    q5_0: 0.052,
    q4_k: 0.088,
    q4_0: 0.105,
  };
  for (const type of ALL) {
    await t.step(`${type}: relative RMS error on Gaussian data below ${bounds[type]}`, () => {
      const x = gaussian(256 * 64, 5);
      const packed = quantizeRow(type, x);
      equal(packed.length, ggmlRowBytes(type, x.length));
      const err = relRms(x, dequantizeRow(type, packed, new Float32Array(x.length)));
      ok(err <= bounds[type], `${type}: ${err}`);
      if (type !== "f32") ok(err > bounds[type] / 3, `${type}: ${err} is suspiciously small`);
    });
  }

  await t.step("exactly representable values come back exactly", () => {
    const rng = new Rng(9);
    // per 32-block: integers in [lo, hi] times 2^k, with the extreme `lo` present so that d = 2^k
    const cases: [GgmlTypeName, number, number][] = [["q8_0", -127, 127], ["q4_0", -8, 7], ["q5_0", -16, 15]];
    for (const [type, lo, hi] of cases) {
      for (const k of [-6, 0, 3]) {
        const x = new Float32Array(128);
        for (let i = 0; i < x.length; i++) {
          const q = i % 32 === 7 ? lo : lo + Math.floor(rng.next() * (hi - lo + 1));
          x[i] = q * 2 ** k;
        }
        deepEqual(dequantizeRow(type, quantizeRow(type, x), new Float32Array(x.length)), x, `${type} 2^${k}`);
      }
    }
    const halves = Float32Array.from([1, -2, 0.5, 65504, 2 ** -24, 0]);
    deepEqual(dequantizeRow("f16", quantizeRow("f16", halves), new Float32Array(6)), halves);
  });

  await t.step("an all-zero row is zeros in every type", () => {
    for (const type of ALL) {
      const y = dequantizeRow(type, quantizeRow(type, new Float32Array(256)), new Float32Array(256).fill(7));
      ok(y.every((v) => v === 0), type);
    }
  });

  await t.step("a row that is not a whole number of blocks is refused", () => {
    let thrown = 0;
    for (
      const f of [
        () => quantizeRow("q4_k", new Float32Array(64)),
        () => dotRow("q8_0", new Uint8Array(68), 0, new Float32Array(48), 48),
      ]
    ) {
      try {
        f();
      } catch (e) {
        ok(/blocks of (256|32)/.test((e as Error).message));
        thrown++;
      }
    }
    equal(thrown, 2);
  });
});

Deno.test("dotRow equals dequantizeRow then a plain dot product", async (t) => {
  for (const type of ALL) {
    await t.step(type, () => {
      const n = 512;
      const rows = 4;
      const x = gaussian(n, 11);
      const w = gaussian(n * rows, 12).map((v, i) => v * (1 + (i % 7)));
      const packed = quantizeRow(type, w);
      const rowBytes = ggmlRowBytes(type, n)!;
      // the rows sit at an odd offset in a larger buffer, as inside a file
      const buf = new Uint8Array(packed.length + 3);
      buf.set(packed, 3);
      for (let r = 0; r < rows; r++) {
        const y = dequantizeRow(type, packed.subarray(r * rowBytes), new Float32Array(n));
        let plain = 0, scale = 0;
        for (let i = 0; i < n; i++) {
          plain += y[i] * x[i];
          scale += Math.abs(y[i] * x[i]);
        }
        const fused = dotRow(type, buf, 3 + r * rowBytes, x, n);
        ok(Math.abs(fused - plain) <= 1e-5 * scale, `${type} row ${r}: ${fused} vs ${plain}`);
      }
    });
  }
});

Deno.test("8-bit activations: hand-worked blocks and the f32 product within their rounding", async (t) => {
  await t.step("activations: power-of-two scales, ties to even, 128 stored as 127", () => {
    const x = new Float32Array(64);
    x.set([100, 2.5, 3.5, -2.5, 127.9]); // largest 127.9 in [64, 128): dx = 1
    x[32] = 0.75; // block 1: largest 0.75 in [2^-1, 1): dx = 2^-7, 0.75 / dx = 96
    x[33] = 1.5 * 2 ** -7; // 1.5 → 2
    x[34] = 2.5 * 2 ** -7; // 2.5 → 2
    const a = int8Activations(x);
    deepEqual([...a.d], [1, 2 ** -7]);
    deepEqual([...a.q.subarray(0, 5)], [100, 2, 4, -2, 127]);
    deepEqual([...a.q.subarray(32, 35)], [96, 2, 2]);
    deepEqual([...a.sum], [100 + 2 + 4 - 2 + 127, 96 + 2 + 2]);
  });
  await t.step("q4_k: d·sc · dx · Σ q·qx − dmin·m · dx · Σ qx per sub-block of 32", () => {
    const b = block("q4_k");
    putF16(b, 0, F16.half); // d
    putF16(b, 2, F16.quarter); // dmin
    b[4 + 1] = 3; // sub-block 1: scale 3
    b[4 + 5] = 2; // sub-block 1: minimum 2
    b[16 + 4] = 0x50; // element 32 + 4: level 5
    const x = new Float32Array(256);
    x[32 + 4] = 64; // block 1: dx = 1, qx 64
    x[32 + 5] = -10;
    // 0.5 · 3 · 1 · (5 · 64) − 0.25 · 2 · 1 · (64 − 10)
    equal(int8DotRow("q4_k", b, 0, int8Activations(x), 0, 256), 0.5 * 3 * 5 * 64 - 0.25 * 2 * 54);
  });
  await t.step("q6_k: d·sc · dx · Σ (q − 32)·qx per sub-block of 16, two per activation block", () => {
    const b = block("q6_k");
    putF16(b, 208, F16.two); // d
    b[192 + 1] = 3; // sub-block 1 (elements 16..31): scale 3
    b[192 + 0] = 0xff; // sub-block 0: scale −1
    b[16] = 5; // element 16: low bits 5
    b[128 + 16] = 1; // element 16: high bits 1 → level 21
    const x = new Float32Array(256);
    x[0] = 127; // block 0: dx = 1
    x[16] = 2;
    // sub-block 0: −1 · (0 − 32) · 127; sub-block 1: 3 · (21 − 32) · 2; both times d = 2
    equal(int8DotRow("q6_k", b, 0, int8Activations(x), 0, 256), 2 * (-1 * -32 * 127 + 3 * -11 * 2));
  });
  for (const type of INT8_DOT_FORMATS) {
    await t.step(`${type}: the f32 product of the rounded activations, and of x within Σ |w| · dx`, () => {
      const n = 512, rows = 3;
      const x = gaussian(2 * n, 21).map((v, i) => v * (i < n ? 1 : 1e-3)); // two tokens, one tiny
      const w = gaussian(n * rows, 22).map((v, i) => v * (1 + (i % 5)));
      const packed = quantizeRow(type, w);
      const rowBytes = ggmlRowBytes(type, n)!;
      const a = int8Activations(x);
      for (let tok = 0; tok < 2; tok++) {
        for (let r = 0; r < rows; r++) {
          const y = dequantizeRow(type, packed.subarray(r * rowBytes), new Float32Array(n));
          let rounded = 0, exact = 0, size = 0, bound = 0;
          for (let i = 0; i < n; i++) {
            const dx = a.d[(tok * n + i) >> 5];
            rounded += y[i] * dx * a.q[tok * n + i];
            exact += y[i] * x[tok * n + i];
            size += Math.abs(y[i] * x[tok * n + i]);
            bound += Math.abs(y[i]) * dx;
          }
          const got = int8DotRow(type, packed, r * rowBytes, a, tok * n / 32, n);
          ok(Math.abs(got - rounded) <= 1e-6 * size, `${type} token ${tok} row ${r}: ${got} vs ${rounded}`);
          ok(Math.abs(got - exact) <= bound, `${type} token ${tok} row ${r}: ${got} vs ${exact} ± ${bound}`);
          ok(Math.abs(got - exact) > 0, "the rounding shows");
        }
      }
    });
  }
});

Deno.test("quantization presets choose types as llama.cpp's llama-quantize does", async (t) => {
  const wide = (name: string, row = 4096, rows = 1024) => ({ name, shape: [rows, row] });

  await t.step("q4_k_m, 32 layers: attn_v and ffn_down get q6_k in layers 0..3, 28..31 and every third between", () => {
    // n/8 = 4: layers below 4, from 7n/8 = 28 on, and (layer − 4) % 3 == 2
    const expected = [0, 1, 2, 3, 6, 9, 12, 15, 18, 21, 24, 27, 28, 29, 30, 31];
    for (const role of ["attn_v", "ffn_down"]) {
      const picked = Array.from({ length: 32 }, (_, i) => i).filter((i) =>
        tensorTypeFor("q4_k_m", wide(`blk.${i}.${role}.weight`), { layers: 32 }) === "q6_k"
      );
      deepEqual(picked, expected, role);
    }
    deepEqual(Array.from({ length: 32 }, (_, i) => useMoreBits(i, 32)).filter(Boolean).length, 16);
    for (const role of ["attn_q", "attn_k", "attn_output", "ffn_gate", "ffn_up"]) {
      equal(tensorTypeFor("q4_k_m", wide(`blk.0.${role}.weight`), { layers: 32 }), "q4_k", role);
    }
  });

  await t.step("output, embeddings, norms", () => {
    const m = { layers: 32 };
    equal(tensorTypeFor("q4_k_m", wide("output.weight", 4096, 32000), m), "q6_k");
    equal(tensorTypeFor("q4_k_m", wide("token_embd.weight", 4096, 32000), m), "q4_k");
    equal(
      tensorTypeFor("q4_k_m", wide("token_embd.weight", 4096, 32000), { layers: 32, tiedEmbeddings: true }),
      "q6_k",
    );
    equal(tensorTypeFor("q8_0", wide("output.weight"), m), "q8_0");
    equal(tensorTypeFor("q4_0", wide("output.weight"), m), "q6_k");
    equal(tensorTypeFor("q6_k", wide("output.weight"), m), "q6_k");
    for (const preset of Object.keys(QUANT_PRESETS) as (keyof typeof QUANT_PRESETS)[]) {
      equal(tensorTypeFor(preset, { name: "blk.0.attn_norm.weight", shape: [4096] }, m), "f32");
      equal(tensorTypeFor(preset, { name: "blk.0.attn_q.bias", shape: [4096] }, m), "f32");
      equal(tensorTypeFor(preset, { name: "output_norm.weight", shape: [4096] }, m), "f32");
    }
    equal(tensorTypeFor("f16", wide("blk.0.attn_v.weight"), m), "f16");
    equal(tensorTypeFor("bf16", wide("output.weight"), m), "bf16");
  });

  await t.step("rows of 64 fall back: q4_k → q5_0, q6_k → q8_0; rows of 48 → f16", () => {
    const m = { layers: 2 };
    equal(tensorTypeFor("q4_k_m", wide("blk.1.attn_q.weight", 64), m), "q5_0");
    // 2 layers: n/8 = 0 and 7n/8 = 1, so layer 1 gets more bits and layer 0 does not
    equal(tensorTypeFor("q4_k_m", wide("blk.1.attn_v.weight", 64), m), "q8_0"); // q6_k, then its fallback
    equal(tensorTypeFor("q4_k_m", wide("blk.0.attn_v.weight", 64), m), "q5_0");
    equal(tensorTypeFor("q4_k_m", wide("blk.1.ffn_down.weight", 160), m), "q8_0");
    equal(tensorTypeFor("q4_k_m", wide("blk.0.ffn_down.weight", 160), m), "q5_0");
    equal(tensorTypeFor("q4_k_m", wide("output.weight", 64, 512), m), "q8_0");
    equal(tensorTypeFor("q6_k", wide("blk.1.attn_q.weight", 64), m), "q8_0");
    equal(tensorTypeFor("q4_0", wide("output.weight", 64, 512), m), "q8_0");
    equal(tensorTypeFor("q4_0", wide("blk.1.attn_q.weight", 64), m), "q4_0");
    equal(tensorTypeFor("q4_k_m", wide("blk.1.attn_q.weight", 48), m), "f16");
    equal(tensorTypeFor("q8_0", wide("blk.1.attn_q.weight", 48), m), "f16");
  });

  await t.step("file types, --bits and bits per weight", () => {
    deepEqual(
      Object.entries(QUANT_PRESETS).map(([k, v]) => [k, v.fileType]),
      [["f16", 1], ["f32", 0], ["bf16", 32], ["q8_0", 7], ["q6_k", 18], ["q4_k_m", 15], ["q4_0", 2]],
    );
    equal(presetForBits(4), "q4_k_m");
    equal(presetForBits(8), "q8_0");
    equal(bitsPerWeight([{ shape: [8, 256], type: "q8_0" }]), 34 * 8 / 32);
    equal(bitsPerWeight([{ shape: [8, 256], type: "q4_0" }]), 18 * 8 / 32);
    equal(bitsPerWeight([{ shape: [8, 256], type: "q4_k" }]), 144 * 8 / 256);
    equal(bitsPerWeight([{ shape: [8, 256], type: "q6_k" }]), 210 * 8 / 256);
    // a 32-layer Llama-7B-like model in q4_k_m: 16 of 32 attn_v and ffn_down in q6_k
    const h = 4096, f = 11008, v = 32000, m = { layers: 32 };
    const shapes: { name: string; shape: number[] }[] = [
      { name: "token_embd.weight", shape: [v, h] },
      { name: "output.weight", shape: [v, h] },
    ];
    for (let i = 0; i < 32; i++) {
      for (const r of ["attn_q", "attn_k", "attn_v", "attn_output"]) {
        shapes.push({ name: `blk.${i}.${r}.weight`, shape: [h, h] });
      }
      shapes.push({ name: `blk.${i}.ffn_gate.weight`, shape: [f, h] }, {
        name: `blk.${i}.ffn_up.weight`,
        shape: [f, h],
      });
      shapes.push({ name: `blk.${i}.ffn_down.weight`, shape: [h, f] });
    }
    const bpw = bitsPerWeight(shapes.map((s) => ({ shape: s.shape, type: tensorTypeFor("q4_k_m", s, m) })));
    ok(bpw > 4.8 && bpw < 4.9, `${bpw}`); // llama.cpp reports 4.85 bits per weight for Llama 2 7B Q4_K_M
  });
});

Deno.test("quantized tensors in GGUF read back bit-exactly", async () => {
  await using tmp = await tempDir();
  const path = `${tmp.dir}/q.gguf`;
  const a = quantizeRow("q4_k", gaussian(2 * 256, 1));
  const b = quantizeRow("q8_0", gaussian(3 * 32, 2));
  const c = gaussian(5, 3);
  const d = quantizeRow("q6_k", gaussian(256, 4));
  const e = quantizeRow("q5_0", gaussian(32, 5));
  const tensors: GgufTensor[] = [
    { name: "a", shape: [2, 256], dtype: "q4_k", data: () => a },
    { name: "b", shape: [3, 32], dtype: "q8_0", data: () => b },
    { name: "c", shape: [5], dtype: "f32", data: () => c },
    { name: "d", shape: [1, 256], dtype: "q6_k", data: () => d },
    { name: "e", shape: [32], dtype: "q5_0", data: () => e },
  ];
  const meta = [["general.architecture", { type: "string", value: "llama" }]] as const;
  const written = await writeGguf(path, meta, tensors);
  const bytes = await Deno.readFile(path);
  equal(written, bytes.length);
  equal(ggufSize(meta, tensors), bytes.length);
  const h = await readGgufHeader(path);
  deepEqual(h.tensors.map((t) => [t.name, t.type, t.dims.join("x")]), [
    ["a", 12, "256x2"],
    ["b", 8, "32x3"],
    ["c", 0, "5"],
    ["d", 14, "256x1"],
    ["e", 6, "32"],
  ]);
  const want = [a, b, new Uint8Array(c.buffer), d, e];
  h.tensors.forEach((t, i) => {
    equal(t.offset % 32, 0, `${t.name} aligned`);
    deepEqual(bytes.subarray(h.dataStart + t.offset, h.dataStart + t.offset + want[i].length), want[i], t.name);
  });
  let refused = "";
  try {
    await writeGguf(path, meta, [{ name: "x", shape: [2, 256], dtype: "q4_k", data: () => a.subarray(1) }]);
  } catch (err) {
    refused = (err as Error).message;
  }
  ok(refused.includes("does not match q4_k"), refused);
});
