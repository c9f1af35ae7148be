/**
 * The tokenizer of a model, wherever it is kept: a Hugging Face folder's `tokenizer.json`, or a
 * GGUF file's `tokenizer.ggml.*` keys.
 *
 * @module
 */

import { type HfTokenizer, loadTokenizer, tokenizerFromGguf } from "../../templates/mod.ts";
import { GgufFile, isGgufFile } from "../formats/gguf_read.ts";

/**
 * Load the tokenizer of a model folder or GGUF file (told apart by the file's magic).
 *
 * @param path the model folder (or its `tokenizer.json`), or a `.gguf` file
 * @returns the tokenizer
 * @throws {InputError} for missing or unreadable files, or a vocabulary that cannot be read
 *
 * @example
 * ```ts
 * import { exportGguf, loadModel } from "../mod.ts";
 * import { loadModelTokenizer } from "./model_tokenizer.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 300, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * await exportGguf(await loadModel(dir), dir + "/m.gguf", { dtype: "f32" });
 * const tok = await loadModelTokenizer(dir + "/m.gguf");
 * if (tok.bos?.id !== 1 || tok.eos?.id !== 2) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadModelTokenizer(path: string): Promise<HfTokenizer> {
  if (!(await isGgufFile(path))) return await loadTokenizer(path);
  using file = await GgufFile.open(path);
  return tokenizerFromGguf(file.metadata, path);
}
