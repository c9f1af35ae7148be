/**
 * Temporary files beside an output: how they are named, how every exit path removes them, and
 * how the next run removes those a killed process left behind.
 *
 * A temporary file for `dir/out.json` is `dir/.out.json.tmp-PID-RANDOM`: hidden, named for its
 * target, and carrying the id of the process that writes it. While it is written, its removal is
 * registered here, so a signal handler can remove it before the process exits, and its writer
 * holds an advisory lock on it. A process killed with SIGKILL cannot clean up, but the system
 * drops its lock: the next run writing the same target removes every such file that nobody holds,
 * that was not written for a few seconds (a writer opens its file a moment before it locks it),
 * and whose process, where that can be checked, is gone.
 *
 * The registry is process-wide on purpose: signals are too.
 *
 * @module
 */

/** Removals of the temporary files now being written, run by {@linkcode removeTempFiles}. */
const live = new Set<() => void>();

/**
 * A fresh temporary path beside `path` (same folder, so a rename replaces the target atomically).
 *
 * @param path the target file
 * @returns `dir/.name.tmp-PID-RANDOM`
 *
 * @example
 * ```ts
 * import { tempPathFor } from "./temp_files.ts";
 * const t = tempPathFor("out/NER.json");
 * if (!t.startsWith(`out/.NER.json.tmp-${Deno.pid}-`)) throw new Error(t);
 * ```
 */
export function tempPathFor(path: string): string {
  const { dir, base } = splitPath(path);
  return `${dir}/.${base}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * Register the removal of a temporary file for exit paths that skip `finally` blocks (a signal
 * ending the process). Call the returned function once the file is renamed or removed.
 *
 * @param remove removes the file, synchronously, ignoring a file already gone
 * @returns unregisters the removal
 *
 * @example
 * ```ts
 * import { trackTempFile } from "./temp_files.ts";
 * const untrack = trackTempFile(() => {});
 * untrack();
 * ```
 */
export function trackTempFile(remove: () => void): () => void {
  live.add(remove);
  return () => {
    live.delete(remove);
  };
}

/**
 * Remove every registered temporary file now (synchronously; for signal handlers).
 *
 * @returns how many removals ran
 *
 * @example
 * ```ts
 * import { removeTempFiles, trackTempFile } from "./temp_files.ts";
 * const path = await Deno.makeTempFile();
 * trackTempFile(() => Deno.removeSync(path));
 * removeTempFiles();
 * if (await Deno.stat(path).then(() => true, () => false)) throw new Error("still there");
 * ```
 */
export function removeTempFiles(): number {
  let n = 0;
  for (const remove of [...live]) {
    live.delete(remove);
    n++;
    try {
      remove();
    } catch { /* already gone */ }
  }
  return n;
}

/**
 * Create a fresh temporary file for `path` (named by {@linkcode tempPathFor}), open for writing
 * and locked for as long as it stays open, which tells later runs that it is in use.
 *
 * @param path the target file
 * @returns the temporary path and the open, locked file
 * @throws what `Deno.open` throws (a missing folder, no permission)
 *
 * @example
 * ```ts
 * import { createTempFile } from "./temp_files.ts";
 * const dir = await Deno.makeTempDir();
 * const temp = await createTempFile(`${dir}/out.json`);
 * temp.file.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function createTempFile(path: string): Promise<{ path: string; file: Deno.FsFile }> {
  const temp = tempPathFor(path);
  const file = await Deno.open(temp, { write: true, createNew: true });
  try {
    await file.lock(true);
  } catch { /* no locks on this file system: the process id in the name still protects it */ }
  return { path: temp, file };
}

/**
 * Remove the temporary files of `path` that killed runs left behind (see
 * {@linkcode removeStaleTempFilesIn}). Files of running writers, this process's included, are
 * left alone.
 *
 * @param path the target file
 * @returns the removed paths
 *
 * @example
 * ```ts
 * import { removeStaleTempFiles } from "./temp_files.ts";
 * const dir = await Deno.makeTempDir();
 * const minuteAgo = new Date(Date.now() - 60_000);
 * await Deno.writeTextFile(`${dir}/.out.json.tmp-999999999-0badf00d`, "left by a killed run");
 * await Deno.utime(`${dir}/.out.json.tmp-999999999-0badf00d`, minuteAgo, minuteAgo);
 * await Deno.writeTextFile(`${dir}/.out.json.tmp-${Deno.pid}-12345678`, "this process's own");
 * const removed = await removeStaleTempFiles(`${dir}/out.json`);
 * if (removed.length !== 1 || !removed[0].endsWith("-0badf00d")) throw new Error(removed.join());
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function removeStaleTempFiles(path: string): Promise<string[]> {
  const { dir, base } = splitPath(path);
  return await removeStaleTempFilesIn(dir, (target) => target === base);
}

/**
 * How long a temporary file stays untouchable after its last write, whatever else is known: its
 * writer creates it and only then locks it, and without `--allow-run` (or `--allow-all`, which
 * reading `/proc` needs) whether that writer runs cannot be asked, so in that moment a fresh,
 * unlocked file may well be in use.
 */
const STALE_TEMP_AGE_MS = 10_000;

/**
 * Remove the temporary files in `dir` (named by {@linkcode tempPathFor}) of the targets
 * `isTarget` accepts that killed runs left behind: a file is removed only when it was not
 * written for 10 seconds, nobody holds it locked, and its process is gone
 * (where that can be asked). This process's files are always left alone.
 *
 * @param dir the folder
 * @param isTarget whether a target file name (without folder) is one whose temporaries to remove
 * @returns the removed paths
 *
 * @example
 * ```ts
 * import { removeStaleTempFilesIn } from "./temp_files.ts";
 * const dir = await Deno.makeTempDir();
 * const minuteAgo = new Date(Date.now() - 60_000);
 * for (const name of [".a.gguf.tmp-999999999-0badf00d", ".b.json.tmp-999999999-0badf00d"]) {
 *   await Deno.writeTextFile(`${dir}/${name}`, "left by a killed run");
 *   await Deno.utime(`${dir}/${name}`, minuteAgo, minuteAgo);
 * }
 * const removed = await removeStaleTempFilesIn(dir, (name) => name.endsWith(".gguf"));
 * if (removed.length !== 1 || !removed[0].endsWith(".a.gguf.tmp-999999999-0badf00d")) throw new Error(removed.join());
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function removeStaleTempFilesIn(dir: string, isTarget: (name: string) => boolean): Promise<string[]> {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = await Array.fromAsync(Deno.readDir(dir));
  } catch {
    return removed; // a missing or unreadable folder: opening the output reports it
  }
  for (const e of entries) {
    const m = /^\.(.+)\.tmp-(\d+)-[0-9a-f]{8}$/.exec(e.name);
    if (!e.isFile || m === null || !isTarget(m[1])) continue;
    const pid = Number(m[2]);
    const stale = `${dir}/${e.name}`;
    if (pid === Deno.pid || processRuns(pid) === true) continue;
    const written = (await Deno.stat(stale).catch(() => undefined))?.mtime?.getTime();
    if (written === undefined || Date.now() - written < STALE_TEMP_AGE_MS) continue;
    if (!unlocked(stale)) continue;
    try {
      await Deno.remove(stale);
      removed.push(stale);
    } catch { /* removed meanwhile, or not ours to remove */ }
  }
  return removed;
}

/**
 * Whether process `pid` runs; undefined when this process may not ask. Signal 0 needs
 * `--allow-run`; reading `/proc/PID` would tell as much but needs `--allow-all` in Deno, which
 * grants `--allow-run` too, so it is not tried.
 */
function processRuns(pid: number): boolean | undefined {
  try {
    Deno.kill(pid, 0 as unknown as Deno.Signal); // signal 0 only checks that the process exists
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false; // ESRCH: no such process
    if (e instanceof Deno.errors.PermissionDenied) return true; // EPERM: it runs, as another user
    return undefined;
  }
}

/** Whether nobody holds a lock on the file (false when that cannot be told). */
function unlocked(path: string): boolean {
  let file: Deno.FsFile | undefined;
  try {
    file = Deno.openSync(path, { read: true });
    return file.tryLockSync(true);
  } catch {
    return false;
  } finally {
    file?.close();
  }
}

function splitPath(path: string): { dir: string; base: string } {
  const slash = Math.max(path.lastIndexOf("/"), Deno.build.os === "windows" ? path.lastIndexOf("\\") : -1);
  return { dir: slash < 0 ? "." : path.slice(0, slash) || "/", base: slash < 0 ? path : path.slice(slash + 1) };
}
