/**
 * The GGUF a llama.cpp run needs when none is given: the model (its LoRA merged) exported once
 * into iepile's cache folder, never beside the user's files, and reused while the model folder,
 * the adapter and the export settings are unchanged. Each export is named by a hash of what it
 * was made from (resolved paths, every file's size and modification time, the dtype and the
 * exporter's version), is written to a temporary name and renamed into place, and replaces the
 * earlier export of the same model, adapter and dtype. A temporary file left by a killed
 * export, of any model, is removed by the next export (by the rule of `io/temp_files.ts`).
 *
 * @module
 */

import { basename, join, resolve } from "node:path";
import { writeAtomically } from "../../io/atomic_write.ts";
import { InputError } from "../../io/errors.ts";
import { removeStaleTempFilesIn } from "../../io/temp_files.ts";
import type { QuantPreset } from "../formats/quant_preset.ts";
import { writeGguf } from "../formats/gguf.ts";
import { GGUF_EXPORTER_VERSION, isQuantizedPreset, planGgufExport } from "../model/gguf_export.ts";
import { QuantizePool } from "../formats/quantize_pool.ts";
import { type LoadedModel, loadModel } from "../model/load_model.ts";
import { userCacheBase } from "./_cache_dir.ts";

/**
 * iepile's cache folder: `$IEPILE_CACHE_DIR`, else `iepile` in the platform's user cache folder
 * (`$XDG_CACHE_HOME` or `~/.cache` on Linux, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on
 * Windows).
 *
 * @param env reads an environment variable (default: `Deno.env.get`)
 * @param os the platform (default: `Deno.build.os`)
 * @returns the folder
 * @throws {InputError} when the environment names no folder at all
 *
 * @example
 * ```ts
 * import { iepileCacheDir } from "./gguf_cache.ts";
 * const env = (name: string) => ({ HOME: "/home/a", XDG_CACHE_HOME: "/tmp/c" } as Record<string, string>)[name];
 * if (iepileCacheDir(env, "linux") !== "/tmp/c/iepile") throw new Error();
 * if (iepileCacheDir((n) => n === "IEPILE_CACHE_DIR" ? "/x" : undefined, "linux") !== "/x") throw new Error();
 * ```
 */
export function iepileCacheDir(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
  os: typeof Deno.build.os = Deno.build.os,
): string {
  const own = env("IEPILE_CACHE_DIR");
  if (own) return own;
  const base = userCacheBase(env, os);
  if (base === undefined) throw new InputError("no cache folder: set IEPILE_CACHE_DIR (or HOME)");
  return join(base, "iepile");
}

/** Options of {@linkcode cachedGguf}. */
export interface CachedGgufOptions {
  /** The Hugging Face model folder. */
  readonly model: string;
  /** A PEFT LoRA adapter folder, merged before export. */
  readonly lora?: string;
  /** Format of the weight matrices: f16 (default), f32, bf16, or a quantized preset (`q4_k_m`, …). */
  readonly dtype?: QuantPreset;
  /** The folder for exports (default: `gguf` in {@linkcode iepileCacheDir}). */
  readonly cacheDir?: string;
  /**
   * Told before an export is written (not when one is reused): where it goes and its size, so
   * the user knows the disk space it takes before it is taken.
   */
  readonly onExport?: (e: { readonly path: string; readonly bytes: number }) => void;
  /** Loads the model (default: {@linkcode loadModel}). */
  readonly load?: (model: string, lora: string | undefined) => Promise<LoadedModel>;
}

/** What {@linkcode cachedGguf} gives. */
export interface CachedGguf {
  /** The GGUF file. */
  readonly path: string;
  /** True when an earlier export was reused. */
  readonly reused: boolean;
  /** Its size in bytes. */
  readonly bytes: number;
}

/**
 * The GGUF of a model and adapter: the cached export when its sources are unchanged, else a new
 * export (the earlier one of the same model, adapter and dtype is removed).
 *
 * @param options model, adapter, dtype and cache folder
 * @returns the file, and whether it was reused
 * @throws {InputError} for a missing model or adapter folder, or an unwritable cache
 *
 * @example
 * ```ts
 * import { cachedGguf } from "./gguf_cache.ts";
 * import { writeRandomModel } from "../testing/mod.ts";
 * const dir = await Deno.makeTempDir();
 * await writeRandomModel(`${dir}/m`, { architecture: "llama", vocabSize: 300, hidden: 8, intermediate: 16, layers: 1, heads: 2 });
 * const first = await cachedGguf({ model: `${dir}/m`, cacheDir: `${dir}/cache` });
 * const again = await cachedGguf({ model: `${dir}/m`, cacheDir: `${dir}/cache` });
 * if (first.reused || !again.reused || again.path !== first.path) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function cachedGguf(options: CachedGgufOptions): Promise<CachedGguf> {
  const dtype = options.dtype ?? "f16";
  const model = await sourceOf(options.model, "model folder");
  const lora = options.lora === undefined ? undefined : await sourceOf(options.lora, "adapter folder");
  const who = await sha256(JSON.stringify([model.path, lora?.path ?? null, dtype]));
  const what = await sha256(JSON.stringify([GGUF_EXPORTER_VERSION, model, lora ?? null, dtype]));
  const slug = [model.path, ...(lora ? [lora.path] : [])].map((p) => basename(p).replace(/[^\w.-]+/g, "_"))
    .join("+");
  const prefix = `${slug}-${dtype}-${who.slice(0, 12)}-`;
  const dir = options.cacheDir ?? join(iepileCacheDir(), "gguf");
  const path = join(dir, `${prefix}${what.slice(0, 16)}.gguf`);
  const found = await Deno.stat(path).catch(() => undefined);
  if (found?.isFile) return { path, reused: true, bytes: found.size };

  const loaded = await (options.load ?? ((m, l) => loadModel(m, { lora: l })))(options.model, options.lora);
  // A quantized export takes every core while it writes.
  using pool = isQuantizedPreset(dtype) ? new QuantizePool() : undefined;
  const plan = await planGgufExport(loaded, { dtype, pool });
  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new InputError(`cannot create the cache folder (${(e as Error).message}); set IEPILE_CACHE_DIR`, {
      file: dir,
    });
  }
  // Any export's, this key's or another's: a killed export of an older key is never finished.
  await removeStaleTempFilesIn(dir, (target) => target.endsWith(".gguf"));
  options.onExport?.({ path, bytes: plan.bytes });
  try {
    // Written beside its final name and renamed; a stop or a failure removes the partial file.
    await writeAtomically(path, (tmp) => writeGguf(tmp, plan.metadata, plan.tensors));
  } catch (e) {
    if (e instanceof InputError || e instanceof Deno.errors.PermissionDenied || e instanceof Deno.errors.NotFound) {
      throw new InputError(`cannot write (${(e as Error).message}); set IEPILE_CACHE_DIR`, { file: path });
    }
    throw e;
  }
  // The earlier export of the same model, adapter and dtype is out of date now.
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.startsWith(prefix) && e.name.endsWith(".gguf") && join(dir, e.name) !== path) {
      await Deno.remove(join(dir, e.name)).catch(() => {});
    }
  }
  return { path, reused: false, bytes: plan.bytes };
}

/** A source folder as the cache key sees it: its resolved path and each file's name, size and mtime. */
interface Source {
  readonly path: string;
  readonly files: readonly (readonly [string, number, number])[];
}

async function sourceOf(dir: string, what: string): Promise<Source> {
  let path: string;
  const files: [string, number, number][] = [];
  try {
    path = await Deno.realPath(resolve(dir));
    for await (const e of Deno.readDir(path)) {
      const info = await Deno.stat(join(path, e.name)).catch(() => undefined);
      if (info?.isFile) files.push([e.name, info.size, info.mtime?.getTime() ?? 0]);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new InputError(`${what} not found`, { file: dir });
    throw new InputError(`cannot read the ${what} (${(e as Error).message})`, { file: dir });
  }
  files.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0);
  return { path, files };
}

async function sha256(text: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}
