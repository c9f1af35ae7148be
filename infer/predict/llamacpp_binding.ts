/**
 * node-llama-cpp, the llama.cpp binding, loaded only when a llama.cpp engine runs. Its
 * specifier is put together at run time, so Deno leaves it out of every command's module
 * graph: converting, evaluating or running the other engines never downloads it (with its
 * dependencies and CPU build it is about 85 MB from a clone of this repository, whose
 * package.json leaves out the GPU builds, and up to 870 MB elsewhere).
 *
 * @module
 */

import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { userCacheBase } from "./_cache_dir.ts";

/** The npm package (name and version) of the llama.cpp binding. */
export const LLAMA_CPP_PACKAGE = "node-llama-cpp@3.21.1";

/** The node-llama-cpp module, as {@linkcode importLlamaCpp} returns it. */
// A type only: Deno fetches nothing for it. Not mapped in deno.json, where Deno would fetch the
// package for every command.
export type LlamaCppModule = typeof import("npm:node-llama-cpp@3.21.1");

/**
 * Import node-llama-cpp (Deno fetches it on first use).
 *
 * @returns the module
 * @throws {Error} when it cannot be fetched or loaded
 *
 * @example
 * ```ts
 * import { importLlamaCpp } from "./llamacpp_binding.ts";
 * const { LlamaLogLevel } = await importLlamaCpp();
 * if (LlamaLogLevel.error !== "error") throw new Error();
 * ```
 */
export async function importLlamaCpp(): Promise<LlamaCppModule> {
  // Not a literal: Deno would otherwise fetch it with every command that can reach this file.
  const specifier = ["npm", LLAMA_CPP_PACKAGE].join(":");
  return await import(specifier);
}

/** Where {@linkcode llamaCppBindingCached} looks. */
export interface BindingCacheOptions {
  /** Deno's cache folder (default: `$DENO_DIR`, else the platform's). */
  readonly denoDir?: string;
  /**
   * The folder whose `node_modules` Deno fills (default: the project of `module`, the nearest
   * folder above it with a `deno.json`, `deno.jsonc` or `package.json`).
   */
  readonly projectDir?: string;
  /**
   * The module whose project counts (default: this one). Only a `file:` URL has a project; a
   * module fetched from a registry (JSR) has only Deno's npm cache.
   */
  readonly module?: string | URL;
}

/**
 * Whether node-llama-cpp is already on this machine, in Deno's npm cache or in the `node_modules`
 * of this module's project (so importing it downloads nothing), wherever the command runs from.
 *
 * @param options the folders to look in
 * @returns true when it is there
 *
 * @example
 * ```ts
 * import { llamaCppBindingCached } from "./llamacpp_binding.ts";
 * const empty = await Deno.makeTempDir();
 * if (await llamaCppBindingCached({ denoDir: empty, projectDir: empty })) throw new Error();
 * await Deno.remove(empty);
 * ```
 */
export async function llamaCppBindingCached(options: BindingCacheOptions = {}): Promise<boolean> {
  const [name, version] = LLAMA_CPP_PACKAGE.split("@");
  let denoDir = options.denoDir;
  try {
    denoDir ??= Deno.env.get("DENO_DIR") || (() => {
      const base = userCacheBase();
      return base && `${base}/deno`;
    })();
  } catch { /* no --allow-env: look in the project only */ }
  const projectDir = options.projectDir ?? projectOf(new URL(options.module ?? import.meta.url));
  const places = [
    ...(projectDir ? [`${projectDir}/node_modules/.deno/${name}@${version}/node_modules/${name}/package.json`] : []),
    ...(denoDir ? [`${denoDir}/npm/registry.npmjs.org/${name}/${version}/package.json`] : []),
  ];
  for (const path of places) {
    try {
      if ((await Deno.stat(path)).isFile) return true;
    } catch { /* not there, or not readable */ }
  }
  return false;
}

/** The nearest folder above a `file:` module holding a Deno or npm project file (where Deno puts `node_modules`). */
function projectOf(module: URL): string | undefined {
  if (module.protocol !== "file:") return undefined;
  let dir = dirname(fileURLToPath(module));
  for (;;) {
    for (const marker of ["deno.json", "deno.jsonc", "package.json"]) {
      try {
        if (Deno.statSync(join(dir, marker)).isFile) return dir;
      } catch { /* not here, or not readable */ }
    }
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}
