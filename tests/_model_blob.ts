/**
 * A loaded model's spec and weights as one binary blob, for a page that has no file system:
 * the test encodes what `loadModel` gave it, serves the bytes, and the page decodes them into
 * the same {@linkcode ModelSpec} and {@linkcode ModelWeights} (plain or quantized matrices).
 *
 * Layout: `u32` header length (little-endian), the header as UTF-8 JSON (`spec`, and per tensor
 * its path in the weights, dtype, shape and byte range), padding to 8 bytes, then the tensor
 * bytes, each starting on an 8-byte boundary. A tensor held twice (tied embeddings) is stored
 * once and comes back as one object again.
 *
 * Browser-safe: no `Deno` API.
 *
 * @module
 */

import type { ModelSpec, ModelWeights } from "../infer/model/model_spec.ts";
import type { WeightTensor } from "../infer/formats/quant_tensor.ts";

/** One tensor's entry in the header. */
interface BlobTensor {
  /** Where it sits in the weights (`layers.0.wq`); several when shared. */
  readonly paths: string[];
  readonly dtype: string;
  readonly shape: readonly number[];
  /** Byte offset from the start of the data section. */
  readonly offset: number;
  readonly byteLength: number;
}

/** The JSON header. */
interface BlobHeader {
  readonly spec: ModelSpec;
  readonly layers: number;
  readonly tensors: BlobTensor[];
}

/** A model as the page rebuilds it. */
export interface BlobModel {
  /** What the model computes. */
  readonly spec: ModelSpec;
  /** Its weights. */
  readonly weights: ModelWeights;
}

const align8 = (n: number): number => Math.ceil(n / 8) * 8;

function isTensor(v: unknown): v is WeightTensor {
  return typeof v === "object" && v !== null && "dtype" in v && "shape" in v && "data" in v &&
    ArrayBuffer.isView((v as { data: unknown }).data);
}

/** Every tensor of the weights with its dotted path, depth-first. */
function* walk(v: unknown, path: string): Generator<[string, WeightTensor]> {
  if (isTensor(v)) yield [path, v];
  else if (Array.isArray(v)) { for (let i = 0; i < v.length; i++) yield* walk(v[i], `${path}.${i}`); }
  else if (typeof v === "object" && v !== null) {
    for (const [k, x] of Object.entries(v)) if (x !== undefined) yield* walk(x, path ? `${path}.${k}` : k);
  }
}

/**
 * Encode a model's spec and weights as one blob.
 *
 * @param spec what the model computes
 * @param weights its weights (host tensors)
 * @returns the blob
 */
export function encodeModelBlob(spec: ModelSpec, weights: ModelWeights): Uint8Array {
  const seen = new Map<WeightTensor, BlobTensor>();
  const tensors: BlobTensor[] = [];
  let offset = 0;
  for (const [path, t] of walk(weights, "")) {
    const known = seen.get(t);
    if (known) {
      known.paths.push(path);
      continue;
    }
    const entry = { paths: [path], dtype: t.dtype, shape: [...t.shape], offset, byteLength: t.data.byteLength };
    seen.set(t, entry);
    tensors.push(entry);
    offset = align8(offset + t.data.byteLength);
  }
  const header: BlobHeader = { spec, layers: weights.layers.length, tensors };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const dataStart = align8(4 + json.length);
  const out = new Uint8Array(dataStart + offset);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  for (const [t, e] of seen) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), dataStart + e.offset);
  }
  return out;
}

/** The typed array a dtype's elements are held in. */
function view(dtype: string, buffer: ArrayBuffer, byteOffset: number, byteLength: number): WeightTensor["data"] {
  if (dtype === "f32") return new Float32Array(buffer, byteOffset, byteLength / 4);
  if (dtype === "f16" || dtype === "bf16") return new Uint16Array(buffer, byteOffset, byteLength / 2);
  return new Uint8Array(buffer, byteOffset, byteLength);
}

/**
 * Decode a blob written by {@linkcode encodeModelBlob}; the tensors are views of `buffer`.
 *
 * @param buffer the blob's bytes (as `fetch` gives them: 8-byte aligned at its start)
 * @returns the spec and weights
 */
export function decodeModelBlob(buffer: ArrayBuffer): BlobModel {
  const headerLength = new DataView(buffer).getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headerLength))) as BlobHeader;
  const dataStart = align8(4 + headerLength);
  const root: Record<string, unknown> = { layers: Array.from({ length: header.layers }, () => ({})) };
  for (const e of header.tensors) {
    const t = { dtype: e.dtype, shape: e.shape, data: view(e.dtype, buffer, dataStart + e.offset, e.byteLength) };
    for (const path of e.paths) {
      const keys = path.split(".");
      let node = root as Record<string, unknown>;
      for (const k of keys.slice(0, -1)) node = node[k] as Record<string, unknown>;
      node[keys[keys.length - 1]] = t;
    }
  }
  return { spec: header.spec, weights: root as unknown as ModelWeights };
}
