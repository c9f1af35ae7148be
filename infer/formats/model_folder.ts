/**
 * A Hugging Face model folder opened for reading: `config.json`, and `model.safetensors` or the
 * shards listed by `model.safetensors.index.json`. Opening reads only headers and checks that
 * every tensor the architecture needs is present with the right shape and a loadable dtype, so
 * a bad folder fails before any large read.
 *
 * @module
 */

import { join } from "node:path";
import { InputError } from "../../io/errors.ts";
import { type ModelConfig, sourceTensors, specFromConfig } from "../model/architectures.ts";
import type { ModelSpec } from "../model/model_spec.ts";
import { type SafetensorsEntry, SafetensorsFile } from "./safetensors.ts";
import type { Tensor } from "./tensor.ts";

const LOADABLE = new Set(["F32", "F16", "BF16"]);

/**
 * Read and parse a JSON file, with errors that name it.
 *
 * @param path the file
 * @returns the parsed object
 * @throws {InputError} when missing or not a JSON object
 *
 * @example
 * ```ts
 * import { readJsonObject } from "./model_folder.ts";
 * const p = await Deno.makeTempFile();
 * await Deno.writeTextFile(p, '{"a": 1}');
 * if ((await readJsonObject(p)).a !== 1) throw new Error();
 * await Deno.remove(p);
 * ```
 */
export async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new InputError(`cannot read (${(e as Error).message})`, { file: path });
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new InputError(`not valid JSON (${(e as Error).message})`, { file: path });
  }
  if (v === null || typeof v !== "object" || Array.isArray(v)) {
    throw new InputError("not a JSON object", { file: path });
  }
  return v as Record<string, unknown>;
}

/**
 * An open model folder: config, spec and the tensors' files (headers validated).
 *
 * @example
 * ```ts
 * import { ModelFolder } from "./mod.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(dir, { architecture: "llama", vocabSize: 16, hidden: 8, intermediate: 16, layers: 1,
 *   heads: 2, kvHeads: 1 });
 * using folder = await ModelFolder.open(dir);
 * if (folder.spec.kvHeads !== 1 || folder.files.length !== 1) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class ModelFolder implements Disposable {
  /** The folder. */
  readonly dir: string;
  /** Its parsed `config.json`. */
  readonly config: ModelConfig;
  /** What the model computes. */
  readonly spec: ModelSpec;
  /** The open safetensors files. */
  readonly files: readonly SafetensorsFile[];
  readonly #where: Map<string, SafetensorsFile>;

  private constructor(dir: string, config: ModelConfig, spec: ModelSpec, files: SafetensorsFile[]) {
    this.dir = dir;
    this.config = config;
    this.spec = spec;
    this.files = files;
    this.#where = new Map();
    for (const f of files) for (const name of f.header.tensors.keys()) this.#where.set(name, f);
  }

  /**
   * Open a folder: parse the config, validate every safetensors header, and check that each
   * tensor the architecture needs exists with the expected shape and dtype.
   *
   * @param dir the model folder
   * @returns the open folder (close it, or `using`)
   * @throws {InputError} naming the file and tensor at fault
   */
  static async open(dir: string): Promise<ModelFolder> {
    const configPath = join(dir, "config.json");
    const config = await readJsonObject(configPath);
    const spec = specFromConfig(config, configPath);
    const files: SafetensorsFile[] = [];
    try {
      const indexPath = join(dir, "model.safetensors.index.json");
      const single = join(dir, "model.safetensors");
      if (await exists(indexPath)) {
        const index = await readJsonObject(indexPath);
        const map = index.weight_map;
        if (map === null || typeof map !== "object" || Array.isArray(map)) {
          throw new InputError("no weight_map object", { file: indexPath, field: "weight_map" });
        }
        const shards = [...new Set(Object.values(map as Record<string, unknown>).map(String))].sort();
        for (const shard of shards) {
          if (shard.includes("/") || shard.includes("\\") || shard.startsWith(".")) {
            throw new InputError(`shard name ${JSON.stringify(shard)} is not a plain file name`, { file: indexPath });
          }
          files.push(await SafetensorsFile.open(join(dir, shard)));
        }
        for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
          const f = files.find((x) => x.path === join(dir, String(shard)));
          if (!f?.header.tensors.has(name)) {
            throw new InputError(`tensor "${name}" is listed in the index but missing from the shard`, {
              file: join(dir, String(shard)),
            });
          }
        }
      } else if (await exists(single)) {
        files.push(await SafetensorsFile.open(single));
      } else {
        const names = [...Deno.readDirSync(dir)].map((e) => e.name);
        const hint = names.some((n) => n.endsWith(".bin") || n.endsWith(".pt") || n.endsWith(".pth"))
          ? " (PyTorch .bin weights are not read: save the model with safe_serialization=True)"
          : "";
        throw new InputError(`no model.safetensors or model.safetensors.index.json${hint}`, { file: dir });
      }
      const folder = new ModelFolder(dir, config, spec, files);
      folder.#checkTensors();
      return folder;
    } catch (e) {
      for (const f of files) f.close();
      throw e;
    }
  }

  #checkTensors(): void {
    for (const want of sourceTensors(this.spec)) {
      const e = this.entry(want.name);
      if (!LOADABLE.has(e.dtype)) {
        throw new InputError(`tensor "${want.name}": dtype ${e.dtype} is not supported (F32, F16 or BF16 are)`, {
          file: this.fileOf(want.name).path,
        });
      }
      if (e.shape.join() !== want.shape.join()) {
        throw new InputError(
          `tensor "${want.name}" has shape [${e.shape.join(", ")}] but config.json implies [${want.shape.join(", ")}]`,
          { file: this.fileOf(want.name).path },
        );
      }
    }
  }

  /**
   * The file holding a tensor.
   *
   * @param name tensor name
   * @returns its file
   * @throws {InputError} when no file has it
   */
  fileOf(name: string): SafetensorsFile {
    const f = this.#where.get(name);
    if (!f) {
      throw new InputError(`tensor "${name}" is missing`, {
        file: this.files.length === 1 ? this.files[0].path : join(this.dir, "model.safetensors.index.json"),
      });
    }
    return f;
  }

  /**
   * A tensor's header entry.
   *
   * @param name tensor name
   * @returns the entry
   */
  entry(name: string): SafetensorsEntry {
    return this.fileOf(name).entry(name);
  }

  /**
   * Whether the checkpoint has a tensor.
   *
   * @param name tensor name
   * @returns true when present
   */
  has(name: string): boolean {
    return this.#where.has(name);
  }

  /**
   * Read a tensor.
   *
   * @param name tensor name
   * @returns the tensor, in its stored format
   */
  read(name: string): Promise<Tensor> {
    return this.fileOf(name).read(name);
  }

  /** Close all files. */
  close(): void {
    for (const f of this.files) f.close();
  }

  /** Close all files (`using`). */
  [Symbol.dispose](): void {
    this.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
