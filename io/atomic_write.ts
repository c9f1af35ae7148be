/**
 * Write a text file atomically: everything goes to a temporary file beside the target, which is
 * renamed over the target only on `commit()`. A failed or interrupted job leaves the old target
 * (or no target) behind, never a half-written one, and no temporary file: errors remove it, a
 * stop signal removes it (see `temp_files.ts`), and after a SIGKILL the next run for the same
 * target does.
 *
 * @module
 */

import { InputError } from "./errors.ts";
import { createTempFile, removeStaleTempFiles, trackTempFile } from "./temp_files.ts";

/**
 * A buffered UTF-8 writer to a temporary file that replaces `path` on `commit()`.
 * The path `-` writes to standard output instead (no atomicity there).
 *
 * @example
 * ```ts
 * import { AtomicTextWriter } from "./atomic_write.ts";
 * const dir = await Deno.makeTempDir();
 * const w = await AtomicTextWriter.open(`${dir}/out.jsonl`);
 * await w.write("a\n");
 * await w.commit();
 * if (await Deno.readTextFile(`${dir}/out.jsonl`) !== "a\n") throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class AtomicTextWriter {
  /** The final path (or `-`). */
  readonly path: string;
  /** The temporary path written to until `commit()` (equal to `path` for `-`). */
  readonly tempPath: string;
  #file: Deno.FsFile | undefined;
  #stdout: boolean;
  #parts: string[] = [];
  #pending = 0;
  #encoder = new TextEncoder();
  #buffer = new Uint8Array(0);
  #bytesWritten = 0;
  #closed = false;
  #inFlight: Promise<void> = Promise.resolve();
  readonly #bufferChars: number;
  #untrack: () => void = () => {};

  private constructor(path: string, tempPath: string, file: Deno.FsFile | undefined, bufferChars: number) {
    this.path = path;
    this.tempPath = tempPath;
    this.#file = file;
    this.#stdout = file === undefined;
    this.#bufferChars = bufferChars;
    // Registered until the temporary file is renamed or removed, whatever state the writer is in.
    if (file !== undefined) this.#untrack = trackTempFile(() => this.#removeTempSync());
  }

  /**
   * Create the temporary file next to `path`, first removing those of `path` that killed runs
   * left behind.
   *
   * @param path target file, or `-` for standard output
   * @param options `bufferChars`: characters gathered before each write (default 256 Ki)
   * @returns the open writer
   * @throws {InputError} when the target folder does not exist or is not writable
   *
   * @example
   * ```ts
   * import { AtomicTextWriter } from "./atomic_write.ts";
   * const dir = await Deno.makeTempDir();
   * const w = await AtomicTextWriter.open(`${dir}/x.txt`);
   * await w.abort();
   * if ([...Deno.readDirSync(dir)].length !== 0) throw new Error("temp file left");
   * await Deno.remove(dir);
   * ```
   */
  static async open(path: string, options: { bufferChars?: number } = {}): Promise<AtomicTextWriter> {
    const bufferChars = options.bufferChars ?? 1 << 18;
    if (path === "-") return new AtomicTextWriter(path, path, undefined, bufferChars);
    await checkOutputPath(path);
    await removeStaleTempFiles(path);
    try {
      const temp = await createTempFile(path);
      return new AtomicTextWriter(path, temp.path, temp.file, bufferChars);
    } catch (e) {
      throw outputError(e, path);
    }
  }

  /** UTF-8 bytes handed to the file so far. */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /**
   * Append text (buffered); flushes when the buffer is full.
   *
   * @param text the text
   * @returns a promise that settles once a flush this call started has been handed on
   *
   * @example
   * ```ts
   * import { AtomicTextWriter } from "./atomic_write.ts";
   * const w = await AtomicTextWriter.open(await Deno.makeTempFile() + ".out");
   * await w.write("x");
   * await w.abort();
   * ```
   */
  async write(text: string): Promise<void> {
    if (this.append(text)) await this.flush();
  }

  /**
   * Append text to the buffer without flushing (for hot loops; call `flush()` when it returns true).
   *
   * @param text the text
   * @returns true when the buffer is full and should be flushed
   *
   * @example
   * ```ts
   * import { AtomicTextWriter } from "./atomic_write.ts";
   * const w = await AtomicTextWriter.open(await Deno.makeTempFile() + ".out", { bufferChars: 2 });
   * if (w.append("a") || !w.append("bc")) throw new Error();
   * await w.abort();
   * ```
   */
  append(text: string): boolean {
    this.#parts.push(text);
    this.#pending += text.length;
    return this.#pending >= this.#bufferChars;
  }

  /**
   * Hand the buffered text to the file. The write runs while the caller goes on producing text;
   * the next `flush()` (or `commit()`) waits for it, so at most one write is in flight.
   *
   * @returns once the previous write finished and this one started
   *
   * @example
   * ```ts
   * import { AtomicTextWriter } from "./atomic_write.ts";
   * const w = await AtomicTextWriter.open(await Deno.makeTempFile() + ".out");
   * await w.write("x");
   * await w.flush();
   * if (w.bytesWritten !== 1) throw new Error();
   * await w.abort();
   * ```
   */
  async flush(): Promise<void> {
    await this.#inFlight;
    if (this.#parts.length === 0) return;
    const text = this.#parts.join("");
    this.#parts = [];
    this.#pending = 0;
    // Encoded into one reused buffer (the previous write, awaited above, is done with it):
    // `encodeInto` is about twice as fast as `encode`, which allocates a new array each time.
    if (this.#buffer.length < text.length * 3) this.#buffer = new Uint8Array(text.length * 3);
    const { written } = this.#encoder.encodeInto(text, this.#buffer);
    this.#bytesWritten += written;
    this.#inFlight = writeAll(this.#stdout ? Deno.stdout : this.#file!, this.#buffer.subarray(0, written));
  }

  /**
   * Flush, close, and rename the temporary file over the target.
   *
   * @returns once the target is in place
   *
   * @example
   * ```ts
   * import { AtomicTextWriter } from "./atomic_write.ts";
   * const path = await Deno.makeTempFile();
   * const w = await AtomicTextWriter.open(path);
   * await w.write("new");
   * await w.commit();
   * if (await Deno.readTextFile(path) !== "new") throw new Error();
   * ```
   */
  async commit(): Promise<void> {
    if (this.#closed) throw new Error("writer already closed");
    await this.flush();
    await this.#inFlight;
    this.#closed = true;
    if (this.#stdout) return;
    this.#file!.close();
    try {
      await Deno.rename(this.tempPath, this.path);
    } catch (e) {
      await Deno.remove(this.tempPath).catch(() => {});
      throw new InputError(`cannot replace it: ${(e as Error).message}`, { file: this.path });
    } finally {
      this.#untrack();
    }
  }

  /**
   * Close and delete the temporary file; the target is left as it was.
   *
   * @returns once cleaned up
   *
   * @example
   * ```ts
   * import { AtomicTextWriter } from "./atomic_write.ts";
   * const w = await AtomicTextWriter.open(await Deno.makeTempFile() + ".out");
   * await w.abort();
   * ```
   */
  async abort(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#parts = [];
    await this.#inFlight.catch(() => {});
    if (this.#stdout) return;
    try {
      this.#file!.close();
    } catch { /* already closed */ }
    await Deno.remove(this.tempPath).catch(() => {});
    this.#untrack();
  }

  /**
   * Delete the temporary file synchronously (for signal handlers and exit paths).
   *
   * @example
   * ```ts
   * import { AtomicTextWriter } from "./atomic_write.ts";
   * const w = await AtomicTextWriter.open(await Deno.makeTempFile() + ".out");
   * w.abortSync();
   * ```
   */
  abortSync(): void {
    if (this.#closed || this.#stdout) return;
    this.#closed = true;
    this.#removeTempSync();
    this.#untrack();
  }

  #removeTempSync(): void {
    try {
      this.#file!.close();
    } catch { /* already closed */ }
    try {
      Deno.removeSync(this.tempPath);
    } catch { /* gone */ }
  }
}

async function writeAll(w: { write(p: Uint8Array): Promise<number> }, bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await w.write(bytes.subarray(off));
}

/**
 * Check, before any work, that `path` can be written as an output file: it is not a folder and
 * its folder exists. (`-`, standard output, always can.)
 *
 * @param path the output file
 * @returns once checked
 * @throws {InputError} naming the path and what is wrong
 *
 * @example
 * ```ts
 * import { checkOutputPath } from "./atomic_write.ts";
 * const dir = await Deno.makeTempDir();
 * await checkOutputPath(`${dir}/out.json`);
 * const problem = await checkOutputPath(dir).then(() => "", (e) => e.message);
 * if (problem !== `${dir}: is a folder; give a file path for the output`) throw new Error(problem);
 * await Deno.remove(dir);
 * ```
 */
export async function checkOutputPath(path: string): Promise<void> {
  if (path === "-") return;
  const existing = await Deno.stat(path).catch(() => undefined);
  if (existing?.isDirectory) throw new InputError("is a folder; give a file path for the output", { file: path });
  if (existing !== undefined) return;
  const slash = path.lastIndexOf("/");
  const folder = slash < 0 ? "." : path.slice(0, slash) || "/";
  const info = await Deno.stat(folder).catch(() => undefined);
  if (info === undefined) throw new InputError("output folder does not exist", { file: path });
  if (!info.isDirectory) throw new InputError(`${folder} is not a folder`, { file: path });
}

/**
 * Write a file through a temporary file beside it, renamed over `path` once `write` succeeds.
 * The temporary file is removed if `write` fails or a signal ends the process, and stale ones of
 * killed runs are removed first (as {@linkcode AtomicTextWriter} does, for writers that need a
 * path, such as binary formats).
 *
 * @param path the target file (not `-`)
 * @param write writes the whole file at the path it is given
 * @returns what `write` returned
 * @throws {InputError} when the target is a folder, its folder is missing, or it cannot be written
 *
 * @example
 * ```ts
 * import { writeAtomically } from "./atomic_write.ts";
 * const dir = await Deno.makeTempDir();
 * const n = await writeAtomically(`${dir}/a.bin`, async (tmp) => (await Deno.writeFile(tmp, new Uint8Array(3)), 3));
 * if (n !== 3 || (await Deno.readFile(`${dir}/a.bin`)).length !== 3) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function writeAtomically<T>(path: string, write: (tempPath: string) => Promise<T>): Promise<T> {
  await checkOutputPath(path);
  await removeStaleTempFiles(path);
  let temp: { path: string; file: Deno.FsFile };
  try {
    temp = await createTempFile(path);
  } catch (e) {
    throw outputError(e, path);
  }
  const tempPath = temp.path;
  const untrack = trackTempFile(() => Deno.removeSync(tempPath));
  let open = true;
  const unlock = () => {
    if (open) temp.file.close();
    open = false;
  };
  try {
    const result = await write(tempPath); // the file stays open, and so locked, meanwhile
    unlock();
    await Deno.rename(tempPath, path);
    return result;
  } catch (e) {
    unlock();
    await Deno.remove(tempPath).catch(() => {});
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.PermissionDenied) throw outputError(e, path);
    if (e instanceof Deno.errors.IsADirectory || e instanceof Deno.errors.NotADirectory) throw outputError(e, path);
    throw e;
  } finally {
    untrack();
  }
}

function outputError(e: unknown, path: string): InputError {
  if (e instanceof Deno.errors.NotFound) return new InputError("output folder does not exist", { file: path });
  if (e instanceof Deno.errors.PermissionDenied) return new InputError("output folder is not writable", { file: path });
  return new InputError(`cannot write: ${(e as Error).message}`, { file: path });
}
