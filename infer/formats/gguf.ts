/**
 * A GGUF (version 3) writer and header reader: the file format of llama.cpp and Ollama.
 * Layout: magic `GGUF`, version, tensor and key-value counts, typed key-values, tensor infos
 * (name, dimensions innermost first, type, offset), then the data, each tensor aligned to 32.
 *
 * @module
 */

import type { DType } from "./dtype.ts";
import { GGML_TYPE_LAYOUTS, ggmlRowBytes, type GgmlTypeName } from "./ggml_types.ts";
import { numel } from "./tensor.ts";
import { GgufFile } from "./gguf_read.ts";

/** Scalar GGUF value types. */
export type GgufScalarType = "u8" | "i8" | "u16" | "i16" | "u32" | "i32" | "f32" | "bool" | "u64" | "i64" | "f64";

/** A typed GGUF metadata value. */
export type GgufValue =
  | { readonly type: Exclude<GgufScalarType, "bool">; readonly value: number }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "string"; readonly value: string }
  | {
    readonly type: "array";
    readonly itemType: GgufScalarType | "string";
    readonly value: readonly (number | string | boolean)[];
  };

const TYPE_IDS: Readonly<Record<GgufScalarType | "string" | "array", number>> = {
  u8: 0,
  i8: 1,
  u16: 2,
  i16: 3,
  u32: 4,
  i32: 5,
  f32: 6,
  bool: 7,
  string: 8,
  array: 9,
  u64: 10,
  i64: 11,
  f64: 12,
};

/** ggml tensor type ids of the formats written. */
export const GGML_TYPES: Readonly<Record<DType, number>> = { f32: 0, f16: 1, bf16: 30 };

/**
 * A tensor to write: shape row-major (outermost first), data supplied when written.
 *
 * For `f32`, `f16` and `bf16` the data are the elements (`Float32Array`, or the 16-bit patterns in
 * a `Uint16Array`) or their little-endian bytes; for a quantized ggml type (`q4_k`, `q8_0`, ...)
 * they are the packed rows (`ggmlRowBytes(dtype, row length)` bytes per row, as `quantizeRow` makes).
 */
export interface GgufTensor {
  /** Name, e.g. `blk.0.attn_q.weight`. */
  readonly name: string;
  /** Row-major shape (written reversed, as ggml counts dimensions). */
  readonly shape: readonly number[];
  /** Element format: a plain {@linkcode DType} or any ggml type of `ggml_types.ts`. */
  readonly dtype: DType | GgmlTypeName;
  /** The data, asked for when the tensor is written (so a model is converted one tensor at a time). */
  readonly data: () => GgufTensorData | Promise<GgufTensorData>;
}

/** What a {@linkcode GgufTensor} gives when written: elements, or bytes in its ggml type. */
export type GgufTensorData = Float32Array | Uint16Array | Uint8Array;

/**
 * The bytes a tensor takes in a GGUF data section (before alignment): its rows, each packed in
 * its type.
 *
 * @param t the tensor's shape and type
 * @returns its byte count
 * @throws {Error} when the row length is not a whole number of the type's blocks
 *
 * @example
 * ```ts
 * import { ggufTensorBytes } from "./gguf.ts";
 * if (ggufTensorBytes({ shape: [3, 256], dtype: "q4_k" }) !== 3 * 144) throw new Error();
 * if (ggufTensorBytes({ shape: [3, 5], dtype: "f16" }) !== 30) throw new Error();
 * ```
 */
export function ggufTensorBytes(
  t: { readonly shape: readonly number[]; readonly dtype: DType | GgmlTypeName },
): number {
  const row = t.shape.length ? t.shape[t.shape.length - 1] : 1;
  const rowBytes = ggmlRowBytes(t.dtype, row);
  if (rowBytes === undefined) {
    throw new Error(`${t.dtype} stores rows in blocks of ${GGML_TYPE_LAYOUTS[t.dtype].blockSize}, not ${row}`);
  }
  return row === 0 ? 0 : (numel(t.shape) / row) * rowBytes;
}

/** Data alignment of the files written. */
export const GGUF_ALIGNMENT = 32;

/**
 * The size in bytes of the GGUF file {@linkcode writeGguf} writes for these metadata and
 * tensors, computed without asking any tensor for its data.
 *
 * @param metadata key-values, in order
 * @param tensors tensors, in order
 * @returns the file's size in bytes
 *
 * @example
 * ```ts
 * import { ggufSize, writeGguf } from "./gguf.ts";
 * const meta = [["general.architecture", { type: "string", value: "llama" }]] as const;
 * const tensors = [{ name: "w", shape: [2, 3], dtype: "f32", data: () => new Float32Array(6) }] as const;
 * const path = await Deno.makeTempFile({ suffix: ".gguf" });
 * const bytes = await writeGguf(path, meta, tensors);
 * if (ggufSize(meta, tensors) !== bytes || (await Deno.stat(path)).size !== bytes) throw new Error();
 * await Deno.remove(path);
 * ```
 */
export function ggufSize(
  metadata: readonly (readonly [string, GgufValue])[],
  tensors: readonly GgufTensor[],
): number {
  const { head, dataBytes } = layout(metadata, tensors);
  return align(head.length) + dataBytes;
}

/** Where {@linkcode writeGgufTo} writes: an open file, standard output, any byte sink. */
export interface GgufSink {
  /** Write some of `p`; resolves to how many bytes were written. */
  write(p: Uint8Array): Promise<number>;
}

/**
 * Write a GGUF file, streaming tensor data one tensor at a time.
 *
 * @param path the output file
 * @param metadata key-values, in order
 * @param tensors tensors, in order
 * @returns bytes written
 *
 * @example
 * ```ts
 * import { readGgufHeader, writeGguf } from "./gguf.ts";
 * const path = await Deno.makeTempFile({ suffix: ".gguf" });
 * await writeGguf(path, [["general.architecture", { type: "string", value: "llama" }]],
 *   [{ name: "w", shape: [2, 3], dtype: "f32", data: () => new Float32Array(6) }]);
 * const h = await readGgufHeader(path);
 * if (h.metadata.get("general.architecture") !== "llama" || h.tensors[0].dims.join() !== "3,2") throw new Error();
 * await Deno.remove(path);
 * ```
 */
export async function writeGguf(
  path: string,
  metadata: readonly (readonly [string, GgufValue])[],
  tensors: readonly GgufTensor[],
): Promise<number> {
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  try {
    return await writeGgufTo(file, metadata, tensors);
  } finally {
    file.close();
  }
}

/**
 * Write a GGUF file to a sink, front to back (no seeking), one tensor's data at a time: to a
 * pipe or standard output as well as to a file.
 *
 * @param sink where the bytes go
 * @param metadata key-values, in order
 * @param tensors tensors, in order
 * @returns bytes written
 *
 * @example
 * ```ts
 * import { ggufSize, writeGgufTo } from "./gguf.ts";
 * const chunks: Uint8Array[] = [];
 * const sink = { write: (p: Uint8Array) => (chunks.push(p.slice()), Promise.resolve(p.length)) };
 * const meta = [["general.architecture", { type: "string", value: "llama" }]] as const;
 * const tensors = [{ name: "w", shape: [2, 3], dtype: "f32", data: () => new Float32Array(6) }] as const;
 * const n = await writeGgufTo(sink, meta, tensors);
 * if (n !== ggufSize(meta, tensors) || chunks.reduce((a, c) => a + c.length, 0) !== n) throw new Error();
 * ```
 */
export async function writeGgufTo(
  sink: GgufSink,
  metadata: readonly (readonly [string, GgufValue])[],
  tensors: readonly GgufTensor[],
): Promise<number> {
  const { head: headBytes, offsets, dataBytes: offset } = layout(metadata, tensors);
  await writeAll(sink, headBytes);
  await writeAll(sink, new Uint8Array(align(headBytes.length) - headBytes.length));
  let at = 0;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    const data = await t.data();
    if (!fits(t, data)) throw new Error(`tensor ${t.name}: data does not match ${t.dtype} [${t.shape}]`);
    await writeAll(sink, new Uint8Array(offsets[i] - at));
    await writeAll(sink, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    at = offsets[i] + data.byteLength;
  }
  await writeAll(sink, new Uint8Array(offset - at));
  return align(headBytes.length) + offset;
}

/** Whether data are what a tensor of this shape and type holds (see {@linkcode GgufTensor}). */
function fits(t: GgufTensor, data: GgufTensorData): boolean {
  if (data instanceof Uint8Array) return data.length === ggufTensorBytes(t);
  if (t.dtype === "f32") return data instanceof Float32Array && data.length === numel(t.shape);
  return (t.dtype === "f16" || t.dtype === "bf16") && data instanceof Uint16Array && data.length === numel(t.shape);
}

/** The header bytes, each tensor's data offset, and the (aligned) size of the data section. */
function layout(
  metadata: readonly (readonly [string, GgufValue])[],
  tensors: readonly GgufTensor[],
): { head: Uint8Array; offsets: number[]; dataBytes: number } {
  const head = new ByteWriter();
  head.bytes(new TextEncoder().encode("GGUF"));
  head.u32(3);
  head.u64(tensors.length);
  head.u64(metadata.length);
  for (const [key, value] of metadata) {
    head.string(key);
    head.u32(TYPE_IDS[value.type]);
    writeValue(head, value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of tensors) {
    head.string(t.name);
    head.u32(t.shape.length);
    for (const d of [...t.shape].reverse()) head.u64(d);
    head.u32(GGML_TYPE_LAYOUTS[t.dtype].id);
    head.u64(offset);
    offsets.push(offset);
    offset = align(offset + ggufTensorBytes(t));
  }
  return { head: head.finish(), offsets, dataBytes: offset };
}

function align(n: number): number {
  return Math.ceil(n / GGUF_ALIGNMENT) * GGUF_ALIGNMENT;
}

async function writeAll(sink: GgufSink, bytes: Uint8Array): Promise<void> {
  let done = 0;
  while (done < bytes.length) done += await sink.write(bytes.subarray(done));
}

function writeValue(w: ByteWriter, v: GgufValue): void {
  if (v.type === "array") {
    w.u32(TYPE_IDS[v.itemType]);
    w.u64(v.value.length);
    for (const item of v.value) writeScalar(w, v.itemType, item);
  } else {
    writeScalar(w, v.type, v.value);
  }
}

function writeScalar(w: ByteWriter, type: GgufScalarType | "string", value: number | string | boolean): void {
  switch (type) {
    case "string":
      return w.string(String(value));
    case "bool":
      return w.u8(value ? 1 : 0);
    case "u8":
      return w.u8(Number(value));
    case "i8":
      return w.view(1, (d, o) => d.setInt8(o, Number(value)));
    case "u16":
      return w.view(2, (d, o) => d.setUint16(o, Number(value), true));
    case "i16":
      return w.view(2, (d, o) => d.setInt16(o, Number(value), true));
    case "u32":
      return w.u32(Number(value));
    case "i32":
      return w.view(4, (d, o) => d.setInt32(o, Number(value), true));
    case "f32":
      return w.view(4, (d, o) => d.setFloat32(o, Number(value), true));
    case "u64":
      return w.u64(Number(value));
    case "i64":
      return w.view(8, (d, o) => d.setBigInt64(o, BigInt(value as number), true));
    case "f64":
      return w.view(8, (d, o) => d.setFloat64(o, Number(value), true));
  }
}

/** A growable little-endian byte buffer. */
class ByteWriter {
  #buf = new Uint8Array(1 << 16);
  #len = 0;
  #enc = new TextEncoder();

  #room(n: number): void {
    if (this.#len + n <= this.#buf.length) return;
    const next = new Uint8Array(Math.max(this.#buf.length * 2, this.#len + n));
    next.set(this.#buf.subarray(0, this.#len));
    this.#buf = next;
  }
  view(n: number, f: (d: DataView, o: number) => void): void {
    this.#room(n);
    f(new DataView(this.#buf.buffer), this.#len);
    this.#len += n;
  }
  bytes(b: Uint8Array): void {
    this.#room(b.length);
    this.#buf.set(b, this.#len);
    this.#len += b.length;
  }
  u8(v: number): void {
    this.view(1, (d, o) => d.setUint8(o, v));
  }
  u32(v: number): void {
    this.view(4, (d, o) => d.setUint32(o, v, true));
  }
  u64(v: number): void {
    this.view(8, (d, o) => d.setBigUint64(o, BigInt(v), true));
  }
  string(s: string): void {
    const b = this.#enc.encode(s);
    this.u64(b.length);
    this.bytes(b);
  }
  finish(): Uint8Array {
    return this.#buf.slice(0, this.#len);
  }
}

/** A tensor's entry in a GGUF header. */
export interface GgufTensorInfo {
  /** Name. */
  readonly name: string;
  /** Dimensions, innermost first (ggml order). */
  readonly dims: readonly number[];
  /** ggml type id. */
  readonly type: number;
  /** Offset from the start of the data section. */
  readonly offset: number;
}

/** A GGUF file's header. */
export interface GgufHeader {
  /** Format version. */
  readonly version: number;
  /** Metadata values (arrays as JS arrays). */
  readonly metadata: ReadonlyMap<string, number | string | boolean | (number | string | boolean)[]>;
  /** Tensor entries. */
  readonly tensors: readonly GgufTensorInfo[];
  /** Where the data section starts. */
  readonly dataStart: number;
}

/**
 * Read a GGUF file's header (metadata and tensor entries), checked, with bounded reads (see
 * {@linkcode GgufFile} for the tensors' data).
 *
 * @param path the file
 * @returns the header
 * @throws {InputError} for a malformed file
 *
 * @example
 * ```ts
 * import { readGgufHeader, writeGguf } from "./gguf.ts";
 * const path = await Deno.makeTempFile({ suffix: ".gguf" });
 * await writeGguf(path, [["general.architecture", { type: "string", value: "qwen2" }]], []);
 * if ((await readGgufHeader(path)).metadata.get("general.architecture") !== "qwen2") throw new Error();
 * await Deno.remove(path);
 * ```
 */
export async function readGgufHeader(path: string): Promise<GgufHeader> {
  using file = await GgufFile.open(path);
  return {
    version: file.version,
    metadata: file.metadata,
    tensors: file.tensors.map(({ name, dims, type, offset }) => ({ name, dims, type, offset })),
    dataStart: file.dataStart,
  };
}
