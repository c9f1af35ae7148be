/**
 * The safetensors format (Hugging Face): an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}` and the raw data. Headers
 * are validated in full (sizes, dtypes, ranges inside the data and not overlapping) before any
 * tensor is read, and every problem names the file and the tensor.
 *
 * @module
 */

import { InputError } from "../../io/errors.ts";
import type { DType } from "./dtype.ts";
import { numel, type Tensor } from "./tensor.ts";

/** The largest header accepted (the format's own limit is 100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;

/** Element sizes of every dtype the format defines. */
const DTYPE_SIZES: Readonly<Record<string, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
  F8_E4M3: 1,
  F8_E5M2: 1,
};

const LOADABLE: Readonly<Record<string, DType>> = { F32: "f32", F16: "f16", BF16: "bf16" };

/** One tensor's entry in a safetensors header. */
export interface SafetensorsEntry {
  /** Tensor name. */
  readonly name: string;
  /** The format's dtype name (`F32`, `F16`, `BF16`, `I64`, …). */
  readonly dtype: string;
  /** Sizes, outermost first. */
  readonly shape: readonly number[];
  /** Absolute byte offset of the data in the file. */
  readonly begin: number;
  /** Absolute byte offset just past the data. */
  readonly end: number;
}

/** A parsed, validated safetensors header. */
export interface SafetensorsHeader {
  /** Entries by tensor name. */
  readonly tensors: ReadonlyMap<string, SafetensorsEntry>;
  /** The `__metadata__` strings. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Where the data section starts (8 + header length). */
  readonly dataStart: number;
}

/**
 * Parse and validate a header: JSON shape, known dtypes, integer shapes, `data_offsets` inside
 * the data section, sizes that match dtype × shape, and no two tensors overlapping.
 *
 * @param headerBytes the JSON header bytes (after the 8-byte length)
 * @param fileSize the whole file's size in bytes
 * @param file the file name, for messages
 * @returns the header
 * @throws {InputError} naming the file and the tensor at fault
 *
 * @example
 * ```ts
 * import { parseSafetensorsHeader } from "./safetensors.ts";
 * const json = new TextEncoder().encode('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}');
 * const h = parseSafetensorsHeader(json, 8 + json.length + 8, "m.safetensors");
 * if (h.tensors.get("w")?.begin !== 8 + json.length) throw new Error();
 * ```
 */
export function parseSafetensorsHeader(headerBytes: Uint8Array, fileSize: number, file: string): SafetensorsHeader {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new InputError(`safetensors header is not valid JSON (${(e as Error).message})`, { file });
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new InputError("safetensors header is not a JSON object", { file });
  }
  const dataStart = 8 + headerBytes.length;
  const dataSize = fileSize - dataStart;
  const tensors = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
        throw new InputError("`__metadata__` is not an object", { file });
      }
      metadata = Object.fromEntries(Object.entries(raw as Record<string, unknown>).map(([k, v]) => [k, String(v)]));
      continue;
    }
    const bad = (problem: string) => new InputError(`tensor "${name}": ${problem}`, { file });
    if (raw === null || typeof raw !== "object") throw bad("header entry is not an object");
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== "string" || !(dtype in DTYPE_SIZES)) {
      throw bad(`unknown dtype ${JSON.stringify(dtype)} (the format defines ${Object.keys(DTYPE_SIZES).join(", ")})`);
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw bad(`shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
    ) {
      throw bad(`data_offsets ${JSON.stringify(offsets)} is not [begin, end]`);
    }
    const [begin, end] = offsets as number[];
    if (begin > end) throw bad(`data_offsets [${begin}, ${end}] end before they begin`);
    if (end > dataSize) {
      throw bad(`data_offsets [${begin}, ${end}] run past the end of the data (${dataSize} bytes; file truncated?)`);
    }
    const want = numel(shape) * DTYPE_SIZES[dtype];
    if (end - begin !== want) {
      throw bad(`holds ${end - begin} bytes but ${dtype} [${shape.join(", ")}] needs ${want}`);
    }
    tensors.set(name, { name, dtype, shape: shape as number[], begin: dataStart + begin, end: dataStart + end });
  }
  const sorted = [...tensors.values()].filter((t) => t.end > t.begin).sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) {
      throw new InputError(
        `tensor "${sorted[i].name}": data overlaps tensor "${sorted[i - 1].name}" ` +
          `(bytes ${sorted[i].begin - dataStart}… inside ${sorted[i - 1].begin - dataStart}–${
            sorted[i - 1].end - dataStart
          })`,
        { file },
      );
    }
  }
  return { tensors, metadata, dataStart };
}

/**
 * An open safetensors file: its validated header, and tensors read on demand.
 *
 * @example
 * ```ts
 * import { encodeSafetensors, SafetensorsFile } from "./safetensors.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await Deno.writeFile(path, encodeSafetensors({ w: { dtype: "f32", shape: [2], data: new Float32Array([1, 2]) } }));
 * using f = await SafetensorsFile.open(path);
 * const t = await f.read("w");
 * if (t.data[1] !== 2) throw new Error();
 * await Deno.remove(path);
 * ```
 */
export class SafetensorsFile implements Disposable {
  /** The file's path. */
  readonly path: string;
  /** Its validated header. */
  readonly header: SafetensorsHeader;
  /** Its size in bytes. */
  readonly size: number;
  #file: Deno.FsFile;

  private constructor(path: string, file: Deno.FsFile, header: SafetensorsHeader, size: number) {
    this.path = path;
    this.#file = file;
    this.header = header;
    this.size = size;
  }

  /**
   * Open a file and validate its header (reads only the header).
   *
   * @param path the `.safetensors` file
   * @returns the open file
   * @throws {InputError} for a missing file or a bad header
   */
  static async open(path: string): Promise<SafetensorsFile> {
    let file: Deno.FsFile;
    try {
      file = await Deno.open(path, { read: true });
    } catch (e) {
      throw new InputError(`cannot open (${(e as Error).message})`, { file: path });
    }
    try {
      const size = (await file.stat()).size;
      if (size < 8) throw new InputError(`${size} bytes: too short for a safetensors file`, { file: path });
      const lenBytes = await readAt(file, 0, 8);
      const len = Number(new DataView(lenBytes.buffer).getBigUint64(0, true));
      if (len > MAX_HEADER_BYTES || len > size - 8) {
        throw new InputError(
          `safetensors header length ${len} exceeds ${
            len > size - 8 ? `the file (${size} bytes)` : "the 100 MB limit"
          }`,
          { file: path },
        );
      }
      const header = parseSafetensorsHeader(await readAt(file, 8, len), size, path);
      return new SafetensorsFile(path, file, header, size);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /** Names of the tensors in the file. */
  get names(): string[] {
    return [...this.header.tensors.keys()];
  }

  /**
   * A tensor's header entry.
   *
   * @param name tensor name
   * @returns its entry
   * @throws {InputError} when the file has no such tensor
   */
  entry(name: string): SafetensorsEntry {
    const e = this.header.tensors.get(name);
    if (!e) throw new InputError(`tensor "${name}" is missing`, { file: this.path });
    return e;
  }

  /**
   * Read a tensor (F32, F16 or BF16) into memory, keeping its format.
   *
   * @param name tensor name
   * @returns the tensor
   * @throws {InputError} when missing, of another dtype, or unreadable
   */
  async read(name: string): Promise<Tensor> {
    const e = this.entry(name);
    const dtype = LOADABLE[e.dtype];
    if (!dtype) {
      throw new InputError(`tensor "${name}": dtype ${e.dtype} is not supported (F32, F16 or BF16 are)`, {
        file: this.path,
      });
    }
    const bytes = await readAt(this.#file, e.begin, e.end - e.begin, this.path);
    const data = dtype === "f32" ? new Float32Array(bytes.buffer) : new Uint16Array(bytes.buffer);
    return { dtype, shape: e.shape, data };
  }

  /** Close the file. */
  close(): void {
    try {
      this.#file.close();
    } catch { /* already closed */ }
  }

  /** Close the file (`using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

async function readAt(file: Deno.FsFile, offset: number, length: number, path?: string): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let done = 0;
  while (done < length) {
    const n = await file.read(out.subarray(done));
    if (n === null) {
      throw new InputError(`unexpected end of file at byte ${offset + done} of ${offset + length}`, { file: path });
    }
    done += n;
  }
  return out;
}

/** A tensor to write: its format, shape and elements. */
export interface TensorToWrite {
  /** Element format. */
  dtype: DType;
  /** Sizes, outermost first. */
  shape: readonly number[];
  /** Elements (16-bit patterns for `f16`/`bf16`). */
  data: Float32Array | Uint16Array;
}

/**
 * Encode tensors as a safetensors file (header padded with spaces to 8 bytes, tensors in the
 * order given).
 *
 * @param tensors tensors by name
 * @param metadata `__metadata__` strings (e.g. `{format: "pt"}`)
 * @returns the file's bytes
 *
 * @example
 * ```ts
 * import { encodeSafetensors } from "./safetensors.ts";
 * const bytes = encodeSafetensors({ b: { dtype: "f16", shape: [1], data: new Uint16Array([0x3c00]) } });
 * if (bytes.length % 8 !== 2) throw new Error(String(bytes.length));
 * ```
 */
export function encodeSafetensors(
  tensors: Readonly<Record<string, TensorToWrite>>,
  metadata: Readonly<Record<string, string>> = { format: "pt" },
): Uint8Array {
  const names = Object.keys(tensors);
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    const bytes = t.data.byteLength;
    if (t.data.length !== numel(t.shape)) throw new Error(`tensor ${name}: ${t.data.length} values for [${t.shape}]`);
    header[name] = { dtype: t.dtype.toUpperCase(), shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const name of names) {
    const d = tensors[name].data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    at += d.byteLength;
  }
  return out;
}
