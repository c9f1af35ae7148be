/**
 * The user's cache folder of this platform, where Deno keeps its own cache and iepile keeps
 * exported GGUF files.
 *
 * @module
 */

/** Reads an environment variable (replaceable in tests). */
export type EnvReader = (name: string) => string | undefined;

/**
 * The platform's user cache folder: `$XDG_CACHE_HOME` or `~/.cache` on Linux and the BSDs,
 * `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows.
 *
 * @param env reads an environment variable (default: `Deno.env.get`)
 * @param os the platform (default: `Deno.build.os`)
 * @returns the folder, or undefined when the environment names none
 *
 * @example
 * ```ts
 * import { userCacheBase } from "./_cache_dir.ts";
 * const env = (name: string) => ({ HOME: "/home/a" } as Record<string, string>)[name];
 * if (userCacheBase(env, "linux") !== "/home/a/.cache") throw new Error();
 * if (userCacheBase(env, "darwin") !== "/home/a/Library/Caches") throw new Error();
 * ```
 */
export function userCacheBase(
  env: EnvReader = (name) => Deno.env.get(name),
  os: typeof Deno.build.os = Deno.build.os,
): string | undefined {
  if (os === "windows") return env("LOCALAPPDATA") || undefined;
  const home = env("HOME") || undefined;
  if (os === "darwin") return home && `${home}/Library/Caches`;
  return env("XDG_CACHE_HOME") || (home && `${home}/.cache`);
}
