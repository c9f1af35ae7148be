/**
 * The GGUF reader: values and tensors read back as written (and against bytes laid out by hand
 * from the format's definition), quantized types accepted with their block sizes, and each
 * malformed file refused in one line naming the file and the key or tensor at fault.
 */

import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { GgufFile, isGgufFile } from "../infer/formats/gguf_read.ts";
import { readGgufHeader, writeGguf } from "../infer/formats/gguf.ts";
import { InputError } from "../io/errors.ts";
import { tempDir } from "./_shared.ts";

/** Little-endian bytes of a GGUF laid out by hand: header, key-values, tensor infos, aligned data. */
function handMade(version: number): Uint8Array {
  const parts: number[] = [];
  const u32 = (v: number) => parts.push(v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255);
  const u64 = (v: number) => (u32(v), u32(0));
  const str = (s: string) => (u64(s.length), parts.push(...[...s].map((c) => c.charCodeAt(0))));
  parts.push(0x47, 0x47, 0x55, 0x46); // GGUF
  u32(version);
  u64(1); // tensors
  u64(3); // key-values
  str("general.architecture"), u32(8), str("llama");
  str("a.flag"), u32(7), parts.push(1);
  str("a.list"), u32(9), u32(5), u64(2), u32(-3 >>> 0), u32(7); // i32 array [-3, 7]
  str("t"), u32(2), u64(2), u64(1), u32(0), u64(0); // f32 [1][2] ggml order: dims 2, 1
  while (parts.length % 32 !== 0) parts.push(0);
  const data = new Uint8Array(new Float32Array([1.5, -2]).buffer);
  return new Uint8Array([...parts, ...data]);
}

/** Patch a u32 in the tensor info of `name` (`field`: 0 = type, which follows the dims). */
function patchTensorType(bytes: Uint8Array, name: string, type: number): Uint8Array {
  const out = bytes.slice();
  const needle = new TextEncoder().encode(name);
  for (let i = 0; i < out.length - needle.length; i++) {
    if (needle.every((b, j) => out[i + j] === b) && out[i - 8] === needle.length) {
      const d = new DataView(out.buffer);
      const nd = d.getUint32(i + needle.length, true);
      d.setUint32(i + needle.length + 4 + 8 * nd, type, true);
      return out;
    }
  }
  throw new Error(`no tensor info ${name}`);
}

async function writeSample(path: string, extra: [string, number][] = []): Promise<void> {
  await writeGguf(path, [
    ["general.architecture", { type: "string", value: "llama" }],
    ...extra.map(([k, v]) => [k, { type: "u32", value: v }] as const),
  ], [
    { name: "a", shape: [2, 64], dtype: "f32", data: () => Float32Array.from({ length: 128 }, (_, i) => i) },
    { name: "b", shape: [3], dtype: "f16", data: () => new Uint16Array([1, 2, 3]) },
  ]);
}

Deno.test("GGUF files read back as written", async (t) => {
  await using tmp = await tempDir();

  await t.step("a file laid out by hand (versions 2 and 3)", async () => {
    for (const version of [2, 3]) {
      const path = `${tmp.dir}/hand${version}.gguf`;
      await Deno.writeFile(path, handMade(version));
      using f = await GgufFile.open(path);
      equal(f.version, version);
      deepEqual([...f.metadata], [["general.architecture", "llama"], ["a.flag", true], ["a.list", [-3, 7]]]);
      deepEqual([...f.metadataTypes.values()], ["string", "bool", "array<i32>"]);
      deepEqual(f.entry("t")?.shape, [1, 2]);
      deepEqual([...new Float32Array((await f.read("t")).slice().buffer)], [1.5, -2]);
      equal(f.dataStart, 192); // 167 header bytes, aligned to 32
    }
  });

  await t.step("tensors by name, into a fresh or a given buffer; readGgufHeader agrees", async () => {
    const path = `${tmp.dir}/s.gguf`;
    await writeSample(path);
    ok(await isGgufFile(path));
    equal(await isGgufFile(tmp.dir), false);
    using f = await GgufFile.open(path);
    const a = f.entry("a")!;
    deepEqual([a.typeName, a.bytes, a.elements, a.dims], ["f32", 512, 128, [64, 2]]);
    const buf = new Uint8Array(1024);
    const view = await f.read("a", buf);
    equal(view.buffer, buf.buffer);
    equal(new Float32Array(buf.buffer, 0, 128)[127], 127);
    deepEqual([...new Uint16Array((await f.read("b")).slice().buffer)], [1, 2, 3]);
    const h = await readGgufHeader(path);
    deepEqual(h.tensors.map((x) => [x.name, x.offset]), [["a", 0], ["b", 512]]);
    equal(h.dataStart, f.dataStart);
    await rejects(f.read("a", new Uint8Array(8)), /tensor "a": buffer of 8 bytes for 512/);
  });

  await t.step("quantized types are accepted, their sizes from their blocks", async () => {
    const path = `${tmp.dir}/q.gguf`;
    await writeSample(path);
    for (const [type, name, bytes] of [[8, "q8_0", 2 * 68], [2, "q4_0", 2 * 36], [6, "q5_0", 2 * 44]] as const) {
      await Deno.writeFile(`${tmp.dir}/q${type}.gguf`, patchTensorType(await Deno.readFile(path), "a", type));
      using f = await GgufFile.open(`${tmp.dir}/q${type}.gguf`);
      equal(f.entry("a")?.typeName, name);
      equal(f.entry("a")?.bytes, bytes);
      equal((await f.read("a")).length, bytes);
    }
  });
});

Deno.test("malformed GGUF files are refused in one line naming the file and the key or tensor", async (t) => {
  await using tmp = await tempDir();
  const good = `${tmp.dir}/good.gguf`;
  await writeSample(good);
  const bytes = await Deno.readFile(good);
  const cases: [string, Uint8Array | (() => Promise<void>), RegExp][] = [
    ["bad magic", new TextEncoder().encode("GGML plus some more bytes here"), /not a GGUF file/],
    [
      "an unknown version",
      (() => {
        const b = bytes.slice();
        new DataView(b.buffer).setUint32(4, 7, true);
        return b;
      })(),
      /GGUF version 7 is not supported/,
    ],
    ["an unknown tensor type", patchTensorType(bytes, "b", 3), /tensor "b": unknown ggml type id 3/],
    [
      "rows that are not whole blocks",
      patchTensorType(bytes, "b", 8),
      /tensor "b": rows of 3 elements are not whole q8_0 blocks of 32/,
    ],
    ["a truncated header", bytes.slice(0, 60), /the header is truncated/],
    [
      "a tensor past the end of the file",
      bytes.slice(0, bytes.length - 30),
      /tensor "b": its data .* runs past the end of the file/,
    ],
    [
      "a misaligned offset",
      (() => {
        const b = bytes.slice();
        const d = new DataView(b.buffer);
        const at = b.findLastIndex((_, i) => i > 8 && b[i] === 0x62 && d.getUint32(i - 8, true) === 1); // "b"
        d.setUint32(at + 1 + 4 + 8 + 4, 516, true);
        return b;
      })(),
      /tensor "b": offset 516 is not aligned to 32/,
    ],
    ["a duplicate tensor", async () => {
      await writeGguf(`${tmp.dir}/case.gguf`, [], [
        { name: "x", shape: [1], dtype: "f32", data: () => new Float32Array(1) },
        { name: "x", shape: [1], dtype: "f32", data: () => new Float32Array(1) },
      ]);
    }, /tensor "x": appears twice/],
    ["an alignment that is not a power of two", async () => {
      await writeGguf(`${tmp.dir}/case.gguf`, [["general.alignment", { type: "u32", value: 24 }]], []);
    }, /key "general.alignment": 24 is not a power of two/],
  ];
  for (const [what, content, message] of cases) {
    await t.step(what, async () => {
      const path = `${tmp.dir}/case.gguf`;
      if (content instanceof Uint8Array) await Deno.writeFile(path, content);
      else await content();
      const err = await GgufFile.open(path).catch((e) => e);
      ok(err instanceof InputError, String(err));
      match(err.message, message);
      ok(err.message.startsWith(`${path}: `), err.message);
      equal(err.message.includes("\n"), false);
    });
  }
});
