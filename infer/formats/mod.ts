/**
 * Bytes on disk: the number formats of weights, the in-memory tensor, and the files models come
 * in and go out as. Nothing here knows what a model computes; `model/` gives the bytes meaning.
 *
 * Map:
 * - `dtype.ts`: `f32`, `f16`, `bf16` and exact conversions between them.
 * - `tensor.ts`: {@linkcode Tensor}, a row-major array with its shape (the engines' unit of data).
 * - `safetensors.ts`: the Hugging Face weight file, read lazily tensor by tensor and written.
 * - `model_folder.ts`: a Hugging Face model folder (`config.json` + one or several
 *   safetensors files) opened and checked from its headers alone.
 * - `gguf.ts`: the GGUF file of llama.cpp and Ollama, written and its header read.
 * - `ggml_types.ts`: the ggml tensor types' ids and block layouts.
 * - `ggml_quant.ts`: rows of every ggml type packed, unpacked and multiplied in place (the block
 *   formats in `_quant_blocks_legacy.ts` and `_quant_blocks_k.ts`).
 * - `quant_tensor.ts`: {@linkcode WeightTensor}, a weight matrix plain or quantized (rows of ggml
 *   blocks), and quantizing and reading one.
 * - `quantize_pool.ts`: {@linkcode QuantizePool}, large matrices quantized in pieces of rows on
 *   worker threads (`_quantize_worker.ts`), the bytes of one thread's.
 * - `int8_dot.ts`: `q8_0`, `q4_0`, `q5_0`, `q4_k`, `q5_k` and `q6_k` rows times activations rounded
 *   to 8 bits, in integers (the oracle of the WebGPU engine's `dot4I8Packed` path and of the `wasm`
 *   engine's 8-bit kernels).
 * - `quant_preset.ts`: llama.cpp's quantization presets (`q8_0`, `q4_k_m`, ...) as a ggml type
 *   per tensor.
 * - `gguf_read.ts`: a GGUF file read with bounded reads: its checked header, a tensor's bytes by name.
 *
 * Data enters as files (safetensors, `config.json`, GGUF headers) and leaves as tensors for
 * `model/`, or as GGUF and safetensors files written from tensors.
 *
 * @example
 * ```ts
 * import { encodeSafetensors, f32Tensor, SafetensorsFile } from "./mod.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * const w = f32Tensor([2, 2], [1, 2, 3, 4]);
 * await Deno.writeFile(path, encodeSafetensors({ w: { dtype: "f32", shape: w.shape, data: w.data } }));
 * const file = await SafetensorsFile.open(path);
 * if (file.entry("w").shape.join() !== "2,2") throw new Error();
 * file.close();
 * await Deno.remove(path);
 * ```
 *
 * @module
 */

export { bf16ToF32, type DType, DTYPE_BYTES, f16ToF32, f32ToBf16, f32ToF16, fromF32, table16, toF32 } from "./dtype.ts";
export { castTensor, f32Tensor, numel, type Tensor, tensorToF32 } from "./tensor.ts";
export {
  encodeSafetensors,
  MAX_HEADER_BYTES,
  parseSafetensorsHeader,
  type SafetensorsEntry,
  SafetensorsFile,
  type SafetensorsHeader,
  type TensorToWrite,
} from "./safetensors.ts";
export { ModelFolder, readJsonObject } from "./model_folder.ts";
export { dequantizeRow, dotRow, isQuantized, quantizeRow } from "./ggml_quant.ts";
export {
  BITS_PRESETS,
  bitsPerWeight,
  presetForBits,
  type PresetModel,
  type PresetTensor,
  QUANT_PRESETS,
  type QuantPreset,
  type QuantPresetInfo,
  tensorTypeFor,
  useMoreBits,
} from "./quant_preset.ts";
export {
  GGML_TYPE_LAYOUTS,
  ggmlRowBytes,
  ggmlTypeById,
  type GgmlTypeLayout,
  type GgmlTypeName,
  type QuantType,
} from "./ggml_types.ts";
export {
  isQuantTensor,
  plainTensor,
  quantizeTensor,
  type QuantTensor,
  weightRow,
  weightRowBytes,
  weightRowReader,
  type WeightTensor,
} from "./quant_tensor.ts";
export { availableThreads, type QuantizedPiece, type QuantizePiece, QuantizePool } from "./quantize_pool.ts";
export {
  GGML_TYPES,
  GGUF_ALIGNMENT,
  type GgufHeader,
  type GgufScalarType,
  type GgufSink,
  ggufSize,
  type GgufTensor,
  ggufTensorBytes,
  type GgufTensorData,
  type GgufTensorInfo,
  type GgufValue,
  readGgufHeader,
  writeGguf,
  writeGgufTo,
} from "./gguf.ts";
export { GgufFile, type GgufMetaValue, type GgufTensorEntry, isGgufFile, isPlainGgmlType } from "./gguf_read.ts";
