/**
 * A GGUF reader (versions 2 and 3) that never holds the whole file: the header is read in
 * bounded chunks and checked before any tensor data is touched (magic, version, every tensor's
 * type, dimensions, alignment and extent within the file, duplicate names), then one tensor's
 * bytes are read on demand, by name.
 *
 * @module
 */

import { InputError } from "../../io/errors.ts";
import { GGML_TYPE_LAYOUTS, ggmlTypeById, type GgmlTypeName } from "./ggml_types.ts";

/** A metadata value as read: scalars as numbers, booleans or strings; arrays as JS arrays. */
export type GgufMetaValue = number | string | boolean | (number | string | boolean)[];

/** A tensor's entry in a GGUF file, checked. */
export interface GgufTensorEntry {
  /** Name, e.g. `blk.0.attn_q.weight`. */
  readonly name: string;
  /** Dimensions, innermost first (ggml order). */
  readonly dims: readonly number[];
  /** Row-major shape (outermost first, as the engines count). */
  readonly shape: readonly number[];
  /** ggml type id. */
  readonly type: number;
  /** The type's name. */
  readonly typeName: GgmlTypeName;
  /** Offset from the start of the data section. */
  readonly offset: number;
  /** Elements. */
  readonly elements: number;
  /** Bytes of its data. */
  readonly bytes: number;
}

const SCALAR_BYTES: Readonly<Record<number, number>> = {
  0: 1,
  1: 1,
  2: 2,
  3: 2,
  4: 4,
  5: 4,
  6: 4,
  7: 1,
  10: 8,
  11: 8,
  12: 8,
};
const TYPE_NAMES: Readonly<Record<number, string>> = {
  0: "u8",
  1: "i8",
  2: "u16",
  3: "i16",
  4: "u32",
  5: "i32",
  6: "f32",
  7: "bool",
  8: "string",
  10: "u64",
  11: "i64",
  12: "f64",
};
const STRING = 8;
const ARRAY = 9;
const CHUNK = 1 << 20;

/**
 * Whether a path is to be read as a GGUF file: a file that starts with the GGUF magic, or one
 * named `*.gguf` (so that a damaged one is reported as a damaged GGUF, not as a bad folder).
 * `false` for a folder or a missing path.
 *
 * @param path the path
 * @returns whether it is GGUF
 *
 * @example
 * ```ts
 * import { isGgufFile } from "./gguf_read.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "GGUF....");
 * if (!(await isGgufFile(path)) || await isGgufFile(Deno.cwd())) throw new Error();
 * await Deno.remove(path);
 * ```
 */
export async function isGgufFile(path: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    if (!(await Deno.stat(path)).isFile) return false;
    if (/\.gguf$/i.test(path)) return true;
    file = await Deno.open(path);
  } catch {
    return false;
  }
  try {
    const head = new Uint8Array(4);
    const n = await readFully(file, head, 0);
    return n === 4 && new TextDecoder().decode(head) === "GGUF";
  } finally {
    file.close();
  }
}

/**
 * An open GGUF file: its checked header, and its tensors' bytes on demand.
 *
 * @example
 * ```ts
 * import { writeGguf } from "./gguf.ts";
 * import { GgufFile } from "./gguf_read.ts";
 * const path = await Deno.makeTempFile({ suffix: ".gguf" });
 * await writeGguf(path, [["general.architecture", { type: "string", value: "llama" }]],
 *   [{ name: "w", shape: [2, 3], dtype: "f32", data: () => new Float32Array([1, 2, 3, 4, 5, 6]) }]);
 * using f = await GgufFile.open(path);
 * const w = new Float32Array((await f.read("w")).slice().buffer);
 * if (f.metadata.get("general.architecture") !== "llama" || w[5] !== 6 || f.entry("w")?.shape.join() !== "2,3") {
 *   throw new Error();
 * }
 * await Deno.remove(path);
 * ```
 */
export class GgufFile implements Disposable {
  /** The file's path. */
  readonly path: string;
  /** Format version (2 or 3). */
  readonly version: number;
  /** Metadata, in file order. */
  readonly metadata: ReadonlyMap<string, GgufMetaValue>;
  /** Each key's stored type: `u32`, `f32`, `string`, … or `array<ITEM>` (e.g. `array<string>`). */
  readonly metadataTypes: ReadonlyMap<string, string>;
  /** Tensor entries, in file order. */
  readonly tensors: readonly GgufTensorEntry[];
  /** Where the data section starts. */
  readonly dataStart: number;
  /** Data alignment (`general.alignment`, default 32). */
  readonly alignment: number;
  /** The file's size in bytes. */
  readonly size: number;
  readonly #file: Deno.FsFile;
  readonly #byName: ReadonlyMap<string, GgufTensorEntry>;

  private constructor(path: string, file: Deno.FsFile, h: ParsedHeader, size: number) {
    this.path = path;
    this.#file = file;
    this.version = h.version;
    this.metadata = h.metadata;
    this.metadataTypes = h.metadataTypes;
    this.tensors = h.tensors;
    this.dataStart = h.dataStart;
    this.alignment = h.alignment;
    this.size = size;
    this.#byName = new Map(h.tensors.map((t) => [t.name, t]));
  }

  /**
   * Open a GGUF file and check its header.
   *
   * @param path the file
   * @returns the open file (close it, or declare it with `using`)
   * @throws {InputError} for a missing file or a malformed header, naming the file and the key
   *   or tensor at fault
   *
   * @example
   * ```ts
   * import { GgufFile } from "./gguf_read.ts";
   * const path = await Deno.makeTempFile();
   * await Deno.writeTextFile(path, "not gguf");
   * const err = await GgufFile.open(path).catch((e) => e);
   * if (!String(err.message).includes("not a GGUF file")) throw new Error(err.message);
   * await Deno.remove(path);
   * ```
   */
  static async open(path: string): Promise<GgufFile> {
    let file: Deno.FsFile;
    let size: number;
    try {
      const info = await Deno.stat(path);
      if (!info.isFile) throw new InputError("expected a GGUF file, found a folder", { file: path });
      size = info.size;
      file = await Deno.open(path);
    } catch (e) {
      if (e instanceof InputError) throw e;
      if (e instanceof Deno.errors.NotFound) throw new InputError("file not found", { file: path });
      throw new InputError(`cannot read: ${(e as Error).message}`, { file: path });
    }
    try {
      const header = await parseHeader(new ChunkReader(file, size, path), size, path);
      return new GgufFile(path, file, header, size);
    } catch (e) {
      file.close();
      throw e;
    }
  }

  /**
   * A tensor's entry.
   *
   * @param name the tensor's name
   * @returns its entry, or `undefined` when the file has none
   *
   * @example
   * ```ts
   * import { writeGguf } from "./gguf.ts";
   * import { GgufFile } from "./gguf_read.ts";
   * const path = await Deno.makeTempFile({ suffix: ".gguf" });
   * await writeGguf(path, [], [{ name: "b", shape: [4], dtype: "f16", data: () => new Uint16Array(4) }]);
   * using f = await GgufFile.open(path);
   * if (f.entry("b")?.bytes !== 8 || f.entry("b")?.typeName !== "f16" || f.entry("c")) throw new Error();
   * await Deno.remove(path);
   * ```
   */
  entry(name: string): GgufTensorEntry | undefined {
    return this.#byName.get(name);
  }

  /**
   * Read one tensor's bytes, as stored (any type, quantized ones too).
   *
   * @param name the tensor's name
   * @param into where to read them (at least the tensor's bytes long); default a fresh buffer
   * @returns the bytes (a view of `into` when given)
   * @throws {InputError} for an unknown name, a buffer too small, or a file cut short
   *
   * @example
   * ```ts
   * import { writeGguf } from "./gguf.ts";
   * import { GgufFile } from "./gguf_read.ts";
   * const path = await Deno.makeTempFile({ suffix: ".gguf" });
   * await writeGguf(path, [], [{ name: "v", shape: [2], dtype: "f32", data: () => new Float32Array([1, -2]) }]);
   * using f = await GgufFile.open(path);
   * const buf = new Uint8Array(8);
   * await f.read("v", buf);
   * if (new DataView(buf.buffer).getFloat32(4, true) !== -2) throw new Error();
   * await Deno.remove(path);
   * ```
   */
  async read(name: string, into?: Uint8Array): Promise<Uint8Array> {
    const e = this.#byName.get(name);
    if (!e) throw new InputError(`no tensor "${name}"`, { file: this.path });
    if (into && into.length < e.bytes) {
      throw new InputError(`tensor "${name}": buffer of ${into.length} bytes for ${e.bytes}`, { file: this.path });
    }
    const out = into ? into.subarray(0, e.bytes) : new Uint8Array(e.bytes);
    const n = await readFully(this.#file, out, this.dataStart + e.offset);
    if (n !== e.bytes) throw new InputError(`tensor "${name}": the file ends inside its data`, { file: this.path });
    return out;
  }

  /** Close the file. */
  close(): void {
    this.#file.close();
  }

  /** Close the file (for `using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

interface ParsedHeader {
  version: number;
  metadata: Map<string, GgufMetaValue>;
  metadataTypes: Map<string, string>;
  tensors: GgufTensorEntry[];
  dataStart: number;
  alignment: number;
}

async function parseHeader(r: ChunkReader, size: number, path: string): Promise<ParsedHeader> {
  const fail = (why: string) => new InputError(why, { file: path });
  if (size < 4 || new TextDecoder().decode(await r.bytes(4, "the magic")) !== "GGUF") {
    throw fail("not a GGUF file (no GGUF magic)");
  }
  const version = await r.u32("the version");
  if (version !== 2 && version !== 3) throw fail(`GGUF version ${version} is not supported (2 and 3 are)`);
  const nTensors = await r.u64("the tensor count");
  const nKv = await r.u64("the metadata count");
  // Each key-value takes at least 12 bytes and each tensor info at least 24: counts beyond that are lies.
  if (nKv * 12 > size || nTensors * 24 > size) throw fail("the header is truncated (counts beyond the file's size)");
  const metadata = new Map<string, GgufMetaValue>();
  const metadataTypes = new Map<string, string>();
  for (let i = 0; i < nKv; i++) {
    const key = await r.string(`metadata key ${i}`);
    const where = `key "${key}"`;
    if (metadata.has(key)) throw fail(`${where}: appears twice`);
    const type = await r.u32(where);
    if (type === ARRAY) {
      const itemType = await r.u32(where);
      const n = await r.u64(where);
      const itemBytes = itemType === STRING ? 8 : SCALAR_BYTES[itemType];
      if (itemBytes === undefined) throw fail(`${where}: unknown array item type ${itemType}`);
      if (n * itemBytes > size - r.at) throw fail(`${where}: the header is truncated (array of ${n} items)`);
      const items: (number | string | boolean)[] = new Array(n);
      for (let j = 0; j < n; j++) items[j] = r.buffered(itemType) ?? await r.scalar(itemType, where);
      metadata.set(key, items);
      metadataTypes.set(key, `array<${TYPE_NAMES[itemType]}>`);
    } else if (type === STRING || SCALAR_BYTES[type] !== undefined) {
      metadata.set(key, await r.scalar(type, where));
      metadataTypes.set(key, TYPE_NAMES[type]);
    } else {
      throw fail(`${where}: unknown value type ${type}`);
    }
  }
  const alignValue = metadata.get("general.alignment") ?? 32;
  if (typeof alignValue !== "number" || alignValue <= 0 || (alignValue & (alignValue - 1)) !== 0) {
    throw fail(`key "general.alignment": ${JSON.stringify(alignValue)} is not a power of two`);
  }
  const alignment = alignValue;
  const tensors: GgufTensorEntry[] = [];
  const names = new Set<string>();
  for (let i = 0; i < nTensors; i++) {
    const name = await r.string(`tensor info ${i}`);
    const where = `tensor "${name}"`;
    if (names.has(name)) throw fail(`${where}: appears twice`);
    names.add(name);
    const nd = await r.u32(where);
    if (nd < 1 || nd > 4) throw fail(`${where}: ${nd} dimensions (1 to 4 are allowed)`);
    const dims: number[] = [];
    for (let j = 0; j < nd; j++) dims.push(await r.u64(where));
    const type = await r.u32(where);
    const offset = await r.u64(where);
    const layout = ggmlTypeById(type);
    if (!layout) throw fail(`${where}: unknown ggml type id ${type}`);
    if (dims.some((d) => d === 0)) throw fail(`${where}: a dimension of 0 in [${dims.join(", ")}]`);
    const elements = dims.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(elements)) throw fail(`${where}: too many elements [${dims.join(", ")}]`);
    if (dims[0] % layout.blockSize !== 0) {
      throw fail(
        `${where}: rows of ${dims[0]} elements are not whole ${layout.name} blocks of ${layout.blockSize}`,
      );
    }
    if (offset % alignment !== 0) throw fail(`${where}: offset ${offset} is not aligned to ${alignment}`);
    tensors.push({
      name,
      dims,
      shape: [...dims].reverse(),
      type,
      typeName: layout.name,
      offset,
      elements,
      bytes: (elements / layout.blockSize) * layout.blockBytes,
    });
  }
  const dataStart = Math.ceil(r.at / alignment) * alignment;
  for (const t of tensors) {
    if (dataStart + t.offset + t.bytes > size) {
      throw fail(
        `tensor "${t.name}": its data (${t.bytes} bytes at offset ${t.offset}) runs past the end of the file ` +
          `(${size} bytes)`,
      );
    }
  }
  return { version, metadata, metadataTypes, tensors, dataStart, alignment };
}

/** Reads a file front to back through a bounded buffer, for headers of any size. */
class ChunkReader {
  #file: Deno.FsFile;
  #size: number;
  #path: string;
  #buf = new Uint8Array(0);
  #bufAt = 0;
  #pos = 0;
  // A token may be a lone byte-order mark: keep it (TextDecoder drops a leading one by default).
  #dec = new TextDecoder("utf-8", { ignoreBOM: true });

  constructor(file: Deno.FsFile, size: number, path: string) {
    this.#file = file;
    this.#size = size;
    this.#path = path;
  }

  get at(): number {
    return this.#pos;
  }

  async #need(n: number, what: string): Promise<void> {
    if (this.#pos + n > this.#size) {
      throw new InputError(`the header is truncated (the file ends inside ${what})`, { file: this.#path });
    }
    if (this.#pos + n <= this.#bufAt + this.#buf.length) return;
    const len = Math.min(Math.max(n, CHUNK), this.#size - this.#pos);
    const buf = new Uint8Array(len);
    const got = await readFully(this.#file, buf, this.#pos);
    this.#buf = buf.subarray(0, got);
    this.#bufAt = this.#pos;
    if (got < n) throw new InputError(`the header is truncated (the file ends inside ${what})`, { file: this.#path });
  }

  async bytes(n: number, what: string): Promise<Uint8Array> {
    await this.#need(n, what);
    const o = this.#pos - this.#bufAt;
    this.#pos += n;
    return this.#buf.subarray(o, o + n);
  }

  async #view(n: number, what: string): Promise<[DataView, number]> {
    const b = await this.bytes(n, what);
    return [new DataView(b.buffer, b.byteOffset, n), 0];
  }

  async u32(what: string): Promise<number> {
    const [d] = await this.#view(4, what);
    return d.getUint32(0, true);
  }

  async u64(what: string): Promise<number> {
    const [d] = await this.#view(8, what);
    const v = d.getBigUint64(0, true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new InputError(`${what}: value ${v} is out of range`, { file: this.#path });
    }
    return Number(v);
  }

  async string(what: string): Promise<string> {
    const n = await this.u64(what);
    if (n > this.#size - this.#pos) {
      throw new InputError(`${what}: the header is truncated (a string of ${n} bytes)`, { file: this.#path });
    }
    return this.#dec.decode(await this.bytes(n, what));
  }

  /**
   * The next value when the buffer already holds all of it (else `undefined`, nothing consumed):
   * long arrays are read without a promise per item.
   */
  buffered(type: number): number | string | boolean | undefined {
    const o = this.#pos - this.#bufAt;
    const left = this.#buf.length - o;
    if (type === STRING) {
      if (left < 8) return undefined;
      const n = new DataView(this.#buf.buffer, this.#buf.byteOffset + o, 8).getBigUint64(0, true);
      if (n > BigInt(left - 8)) return undefined;
      this.#pos += 8 + Number(n);
      return this.#dec.decode(this.#buf.subarray(o + 8, o + 8 + Number(n)));
    }
    const size = SCALAR_BYTES[type];
    if (left < size) return undefined;
    this.#pos += size;
    return scalarAt(new DataView(this.#buf.buffer, this.#buf.byteOffset + o, size), type);
  }

  async scalar(type: number, what: string): Promise<number | string | boolean> {
    if (type === STRING) return await this.string(what);
    const [d] = await this.#view(SCALAR_BYTES[type], what);
    return scalarAt(d, type);
  }
}

/** A scalar of a GGUF value type at the start of `d`. */
function scalarAt(d: DataView, type: number): number | boolean {
  switch (type) {
    case 0:
      return d.getUint8(0);
    case 1:
      return d.getInt8(0);
    case 2:
      return d.getUint16(0, true);
    case 3:
      return d.getInt16(0, true);
    case 4:
      return d.getUint32(0, true);
    case 5:
      return d.getInt32(0, true);
    case 6:
      return d.getFloat32(0, true);
    case 7:
      return d.getUint8(0) !== 0;
    case 10:
      return Number(d.getBigUint64(0, true));
    case 11:
      return Number(d.getBigInt64(0, true));
    default:
      return d.getFloat64(0, true);
  }
}

/** Read `buf.length` bytes at `position` (fewer only at the end of the file); returns how many. */
async function readFully(file: Deno.FsFile, buf: Uint8Array, position: number): Promise<number> {
  await file.seek(position, Deno.SeekMode.Start);
  let done = 0;
  while (done < buf.length) {
    const n = await file.read(buf.subarray(done));
    if (n === null || n === 0) break;
    done += n;
  }
  return done;
}

/**
 * The layout names of the plain number types (the rest are quantized).
 *
 * @param type a type name
 * @returns whether its elements are plain f32, f16 or bf16 numbers
 *
 * @example
 * ```ts
 * import { isPlainGgmlType } from "./gguf_read.ts";
 * if (!isPlainGgmlType("bf16") || isPlainGgmlType("q8_0")) throw new Error();
 * ```
 */
export function isPlainGgmlType(type: GgmlTypeName): type is "f32" | "f16" | "bf16" {
  return GGML_TYPE_LAYOUTS[type].blockSize === 1;
}
