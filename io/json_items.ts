/**
 * Stream the JSON items of a file — one per line of a JSON Lines file, or one per element of a
 * top-level JSON array — as raw text with their 1-based line number, in flat memory.
 *
 * @module
 */

import { InputError } from "./errors.ts";

/** One JSON item read from a file, not parsed yet. */
export interface RawItem {
  /** The item's JSON text. */
  text: string;
  /** 1-based line number where the item starts. */
  line: number;
  /** Bytes of the file read up to the end of this item's chunk (for progress). */
  bytesRead: number;
}

/** Options for {@linkcode readJsonItems}. */
export interface ReadJsonItemsOptions {
  /** Bytes per read (default 256 KiB). */
  chunkSize?: number;
  /** Name used in error messages (default: the path). */
  displayName?: string;
  /**
   * Most bytes decoded into one block of text (default: no limit, all the lines a read
   * completes). Blocks end at line ends (a longer line is one block); blocks smaller than reads
   * keep each block's text young (below V8's large-object size) while reads stay few.
   */
  decodeSize?: number;
}

/**
 * Read the items of a JSON Lines file or of a file holding one JSON array.
 * Blank lines of a JSON Lines file are skipped; a final line without newline is read;
 * `\r\n` line ends are accepted; a UTF-8 byte order mark is ignored.
 *
 * @param path the file
 * @param options chunk size and the name shown in errors
 * @returns an async iterator of raw items in file order
 * @throws {InputError} for a missing file, invalid UTF-8, or an unterminated array
 *
 * @example
 * ```ts
 * import { readJsonItems } from "./json_items.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, '{"a": 1}\n\n{"a": 2}\n');
 * const lines = [];
 * for await (const item of readJsonItems(path)) lines.push(item.line);
 * if (lines.join() !== "1,3") throw new Error(lines.join());
 * await Deno.remove(path);
 * ```
 */
export async function* readJsonItems(
  path: string,
  options: ReadJsonItemsOptions = {},
): AsyncGenerator<RawItem> {
  for await (const batch of readJsonItemBatches(path, options)) yield* batch;
}

/**
 * The items of {@linkcode readJsonItems}, handed over one array per block read (about 256 KiB of
 * input), so a consumer doing little work per item does not pay an asynchronous step per item.
 *
 * @param path the file
 * @param options chunk size and the name shown in errors
 * @returns an async iterator of non-empty arrays of raw items, in file order
 * @throws {InputError} as {@linkcode readJsonItems}
 *
 * @example
 * ```ts
 * import { readJsonItemBatches } from "./json_items.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, '\ufeff{"a": 1}\r\n\n{"a": 2}');
 * const lines = [];
 * for await (const batch of readJsonItemBatches(path)) for (const item of batch) lines.push(`${item.line}:${item.text}`);
 * if (lines.join() !== '1:{"a": 1},3:{"a": 2}') throw new Error(lines.join());
 * await Deno.remove(path);
 * ```
 */
export async function* readJsonItemBatches(
  path: string,
  options: ReadJsonItemsOptions = {},
): AsyncGenerator<RawItem[]> {
  const name = options.displayName ?? path;
  const file = await openForReading(path, name);
  try {
    const chunkSize = options.chunkSize ?? 1 << 18;
    const decodeSize = options.decodeSize ?? Infinity;
    const chunks = readUtf8Blocks(file, chunkSize, decodeSize, name);
    const first = await chunks.next();
    if (first.done) return;
    let { text, startLine, bytesRead } = first.value;
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const lead = text.search(/\S/);
    if (lead >= 0 && text[lead] === "[") {
      yield* batched(arrayItems(text, startLine, bytesRead, chunks, name));
      return;
    }
    let block: Block | undefined = { text, startLine, bytesRead };
    while (block !== undefined) {
      const lines = block.text.split("\n");
      // Each block ends at a line end (or at end of file), so the last piece is "" or the final line.
      const n = lines.length - (lines[lines.length - 1] === "" ? 1 : 0);
      const batch: RawItem[] = [];
      for (let i = 0; i < n; i++) {
        let line = lines[i];
        if (line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
        if (line.length === 0 || (line.charCodeAt(0) <= 32 && line.trim() === "")) continue;
        batch.push({ text: line, line: block.startLine + i, bytesRead: block.bytesRead });
      }
      if (batch.length > 0) yield batch;
      const next = await chunks.next();
      block = next.done ? undefined : next.value;
    }
  } finally {
    file.close();
  }
}

async function* batched(items: AsyncGenerator<RawItem>, size = 4096): AsyncGenerator<RawItem[]> {
  let batch: RawItem[] = [];
  for await (const item of items) {
    batch.push(item);
    if (batch.length >= size) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

async function openForReading(path: string, name: string): Promise<Deno.FsFile> {
  try {
    const file = await Deno.open(path, { read: true });
    const info = await file.stat();
    if (info.isDirectory) {
      file.close();
      throw new InputError("is a directory, expected a JSON Lines file", { file: name });
    }
    return file;
  } catch (e) {
    if (e instanceof InputError) throw e;
    if (e instanceof Deno.errors.NotFound) throw new InputError("file not found", { file: name });
    if (e instanceof Deno.errors.PermissionDenied) throw new InputError("permission denied", { file: name });
    throw new InputError(`cannot open: ${(e as Error).message}`, { file: name });
  }
}

interface Block {
  text: string;
  startLine: number;
  bytesRead: number;
}

/**
 * Decoded blocks of whole lines (each ends with "\n" except possibly the last). The line a read
 * ends in the middle of is copied to the front of the next read's buffer, and the read goes
 * after it. A line longer than half a read is instead gathered as a list of reads and joined
 * once when its end arrives, so reading stays linear in the line's length however many reads it
 * spans.
 */
async function* readUtf8Blocks(
  file: Deno.FsFile,
  chunkSize: number,
  decodeSize: number,
  name: string,
): AsyncGenerator<Block> {
  const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  let carry: Uint8Array[] = [];
  let carryBytes = 0;
  let line = 1;
  let bytesRead = 0;
  // Two buffers: the next read runs while the consumer works on this block's lines.
  const bufs = [new Uint8Array(chunkSize), new Uint8Array(chunkSize)];
  let which = 0;
  /** Bytes at the front of `bufs[which]` held over from the previous read (a line's start). */
  let held = 0;
  const readInto = (buf: Uint8Array, offset: number): Promise<number | null> => {
    const read = file.read(buf.subarray(offset));
    // A consumer that stops early closes the file under a read still running: that read's error
    // is moot (an awaited read still throws).
    read.catch(() => {});
    return read;
  };
  let pending = readInto(bufs[0], 0);
  for (;;) {
    const n = await pending;
    if (n === null) break;
    const buf = bufs[which];
    which ^= 1;
    bytesRead += n;
    const chunk = buf.subarray(0, held + n);
    held = 0;
    const cut = chunk.lastIndexOf(10);
    if (cut < 0) {
      // Keep this read as it is and read later ones into a fresh buffer: no copy now, one join later.
      carry.push(chunk);
      carryBytes += chunk.length;
      bufs[which ^ 1] = new Uint8Array(chunkSize);
      pending = readInto(bufs[which], 0);
      continue;
    }
    const bytes = join(carry, carryBytes, chunk.subarray(0, cut + 1));
    carry = [];
    carryBytes = 0;
    // The next read goes into the other buffer, after the unfinished line; `buf` is decoded meanwhile.
    const next = bufs[which];
    const tail = chunk.subarray(cut + 1);
    if (tail.length * 2 <= next.length) {
      next.set(tail);
      held = tail.length;
    } else {
      carry = [tail.slice()];
      carryBytes = tail.length;
    }
    pending = readInto(next, held);
    for (let start = 0; start < bytes.length;) {
      const end = pieceEnd(bytes, start, decodeSize);
      const text = decode(decoder, bytes.subarray(start, end), line, name);
      yield { text, startLine: line, bytesRead };
      line += countNewlines(text);
      start = end;
    }
  }
  if (carryBytes + held > 0) {
    const rest = join(carry, carryBytes, bufs[which].subarray(0, held));
    yield { text: decode(decoder, rest, line, name), startLine: line, bytesRead };
  }
}

/**
 * Where the block of `bytes` (whole lines) starting at `start` ends: after the last line end
 * within `size` bytes, or, for a longer line, after that line's end.
 */
function pieceEnd(bytes: Uint8Array, start: number, size: number): number {
  if (bytes.length - start <= size) return bytes.length;
  const last = bytes.lastIndexOf(10, start + size - 1);
  if (last >= start) return last + 1;
  const next = bytes.indexOf(10, start + size);
  return next < 0 ? bytes.length : next + 1;
}

/** Replaces invalid UTF-8 with U+FFFD instead of throwing: about twice as fast as the fatal decoder here. */
const LOSSY = new TextDecoder("utf-8", { ignoreBOM: true });

function decode(decoder: TextDecoder, bytes: Uint8Array, firstLine: number, name: string): string {
  // Text without U+FFFD was valid UTF-8, so the lossy decoding is the fatal decoder's result;
  // text with one (invalid bytes, or a U+FFFD written in the file) is decoded again strictly.
  const text = LOSSY.decode(bytes);
  if (text.indexOf("\uFFFD") < 0) return text;
  try {
    return decoder.decode(bytes);
  } catch {
    // Find the exact line for the message.
    let start = 0;
    let line = firstLine;
    for (;;) {
      const end = bytes.indexOf(10, start);
      const piece = bytes.subarray(start, end < 0 ? bytes.length : end);
      try {
        decoder.decode(piece);
      } catch (e) {
        if (piece.length > MAX_STRING_LENGTH && /maximum length/i.test((e as Error).message)) {
          const mib = (piece.length / 2 ** 20).toFixed(0);
          throw new InputError(`the line is ${mib} MiB, longer than the longest text this runtime holds`, {
            file: name,
            line,
          });
        }
        throw new InputError("invalid UTF-8", { file: name, line });
      }
      if (end < 0) throw new InputError("invalid UTF-8", { file: name, line });
      start = end + 1;
      line++;
    }
  }
}

/** V8's longest string, in UTF-16 units (a UTF-8 line of more bytes may not fit in one). */
const MAX_STRING_LENGTH = 2 ** 29 - 24;

/** The carried pieces (`total` bytes) followed by `tail`, in one array. */
function join(pieces: Uint8Array[], total: number, tail: Uint8Array): Uint8Array {
  if (pieces.length === 0) return tail;
  const out = new Uint8Array(total + tail.length);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  out.set(tail, at);
  return out;
}

function countNewlines(text: string): number {
  let n = 0;
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) n++;
  return n;
}

/**
 * Split a top-level JSON array into element texts while streaming, tracking strings and nesting
 * so commas and brackets inside elements are not mistaken for separators.
 */
async function* arrayItems(
  firstText: string,
  firstLine: number,
  firstBytes: number,
  rest: AsyncGenerator<Block>,
  name: string,
): AsyncGenerator<RawItem> {
  let depth = 0;
  let inString = false;
  let escaped = false;
  let done = false;
  let line = firstLine;
  let item = ""; // text of the current element gathered from earlier blocks
  let itemLine = -1; // line of its first non-blank character; -1 before it starts
  let text = firstText;
  let bytesRead = firstBytes;
  for (;;) {
    let from = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      const blank = c === 32 || c === 9 || c === 10 || c === 13;
      if (done) {
        if (!blank) throw new InputError("extra data after the top-level JSON array", { file: name, line });
      } else if (inString) {
        if (escaped) escaped = false;
        else if (c === 92) escaped = true;
        else if (c === 34) inString = false;
      } else if (depth === 0) {
        if (c === 91) depth = 1, from = i + 1;
      } else if (depth === 1 && (c === 44 || c === 93)) {
        const element = (item + text.slice(from, i)).trim();
        if (element !== "") yield { text: element, line: itemLine, bytesRead };
        else if (c === 44) throw new InputError("empty element in the JSON array", { file: name, line });
        item = "";
        itemLine = -1;
        from = i + 1;
        if (c === 93) done = true, depth = 0;
      } else {
        if (itemLine < 0 && !blank && depth === 1) itemLine = line;
        if (c === 34) inString = true;
        else if (c === 91 || c === 123) depth++;
        else if (c === 93 || c === 125) depth--;
      }
      if (c === 10) line++;
    }
    if (!done) item += text.slice(from);
    const next = await rest.next();
    if (next.done) break;
    text = next.value.text;
    bytesRead = next.value.bytesRead;
  }
  if (!done) throw new InputError("unterminated top-level JSON array", { file: name, line });
}
