/**
 * The documents of an `extract` run: a `.txt` file (one document), a folder of `.txt` files
 * (one document each, in name order), JSON Lines of `{"id", "text"}` (a `.jsonl`/`.json` file;
 * records may carry IEPile annotations, which then become the `label` of `--format iepile`), or
 * standard input (`-`, one text document unless the format says JSON Lines).
 *
 * @module
 */

import { InputError } from "../io/errors.ts";
import { readJsonItems } from "../io/json_items.ts";
import type { PyJson } from "../io/py_json.ts";
import { parseRecordLine } from "../io/record.ts";

/** One document to extract from. */
export interface InputDocument {
  /** Its id: the record's `id`, the file name for text files, or `stdin`. */
  id: string;
  /** Its text. */
  text: string;
  /** The JSON Lines record it came from (its annotations give `label` in `--format iepile`). */
  record?: PyJson;
  /** Where it came from, for messages. */
  file: string;
  /** Its 1-based line (JSON Lines input). */
  line?: number;
}

/** How to read `--input`. */
export type InputFormat = "auto" | "text" | "jsonl";

/** Options of {@linkcode readDocuments}. */
export interface ReadDocumentsOptions {
  /** `auto` (default): by the path — a folder, `.jsonl`/`.json`, else text. */
  format?: InputFormat;
  /** Most characters (UTF-16 units) in one document (default 5,000,000). */
  maxChars?: number;
  /** What `-` reads (default: standard input). */
  stdin?: ReadableStream<Uint8Array>;
}

/** The default of {@linkcode ReadDocumentsOptions.maxChars}. */
export const MAX_DOCUMENT_CHARS = 5_000_000;

/**
 * Read the documents of `path`, checked: every document has a string `text` within the size
 * limit, ids are unique.
 *
 * @param path a file, a folder, or `-`
 * @param options format, size limit, standard input
 * @returns the documents in input order
 * @throws {InputError} naming the file, line and field that is wrong
 *
 * @example
 * ```ts
 * import { readDocuments } from "./documents.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/docs.jsonl`, '{"id": "a", "text": "Ann lives in Oslo."}\n{"text": "Bob."}\n');
 * const docs = await readDocuments(`${dir}/docs.jsonl`);
 * if (docs.map((d) => d.id).join() !== "a,2") throw new Error(docs.map((d) => d.id).join());
 * ```
 */
export async function readDocuments(path: string, options: ReadDocumentsOptions = {}): Promise<InputDocument[]> {
  const maxChars = options.maxChars ?? MAX_DOCUMENT_CHARS;
  const format = options.format ?? "auto";
  let docs: InputDocument[];
  if (path === "-") {
    const bytes = new Uint8Array(await new Response(options.stdin ?? Deno.stdin.readable).arrayBuffer());
    const text = decodeUtf8(bytes, "standard input");
    docs = format === "jsonl"
      ? parseJsonLines(text, "standard input")
      : [{ id: "stdin", text, file: "standard input" }];
  } else {
    const info = await Deno.stat(path).catch((e) => {
      throw new InputError(e instanceof Deno.errors.NotFound ? "file not found" : `cannot read: ${e.message}`, {
        file: path,
      });
    });
    if (info.isDirectory) docs = await readFolder(path);
    else if (format === "jsonl" || format === "auto" && /\.jsonl?$/i.test(path)) docs = await readJsonl(path);
    else docs = [{ id: baseName(path), text: await readText(path), file: path }];
  }
  const seen = new Map<string, InputDocument>();
  for (const d of docs) {
    if (d.text.length > maxChars) {
      throw new InputError(
        `the document has ${d.text.length.toLocaleString("en-US")} characters, more than the limit of ` +
          `${maxChars.toLocaleString("en-US")} (--max-document-chars raises it)`,
        { file: d.file, line: d.line, field: d.line ? "text" : undefined },
      );
    }
    const earlier = seen.get(d.id);
    if (earlier) {
      throw new InputError(`id "${d.id}" was already used${earlier.line ? ` on line ${earlier.line}` : ""}`, {
        file: d.file,
        line: d.line,
        field: "id",
      });
    }
    seen.set(d.id, d);
  }
  return docs;
}

async function readText(path: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new InputError(`cannot read: ${(e as Error).message}`, { file: path });
  }
  return decodeUtf8(bytes, path);
}

/** UTF-8 text without its byte order mark; anything else refused (not silently replaced by U+FFFD). */
function decodeUtf8(bytes: Uint8Array, file: string): string {
  try {
    const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    return text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  } catch {
    throw new InputError("not UTF-8 text", { file });
  }
}

async function readFolder(dir: string): Promise<InputDocument[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) if (e.isFile && e.name.endsWith(".txt")) names.push(e.name);
  if (names.length === 0) throw new InputError("the folder holds no .txt files", { file: dir });
  names.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const docs: InputDocument[] = [];
  for (const name of names) {
    const file = `${dir.replace(/\/+$/, "")}/${name}`;
    docs.push({ id: name, text: await readText(file), file });
  }
  return docs;
}

async function readJsonl(path: string): Promise<InputDocument[]> {
  const docs: InputDocument[] = [];
  for await (const item of readJsonItems(path)) docs.push(documentOf(item.text, path, item.line));
  return docs;
}

function parseJsonLines(text: string, file: string): InputDocument[] {
  const docs: InputDocument[] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() !== "") docs.push(documentOf(line, file, i + 1));
  });
  return docs;
}

function documentOf(json: string, file: string, line: number): InputDocument {
  const { fields, value } = parseRecordLine(json, file, line);
  const text = fields.text;
  if (typeof text !== "string") {
    throw new InputError(text === undefined ? "missing (every document needs its text)" : "must be a string", {
      file,
      line,
      field: "text",
    });
  }
  if (!text.isWellFormed()) {
    throw new InputError("holds an unpaired surrogate (\\ud800–\\udfff escape), which is not text", {
      file,
      line,
      field: "text",
    });
  }
  const id = fields.id;
  if (id !== undefined && typeof id !== "string" && typeof id !== "number") {
    throw new InputError("must be a string or a number", { file, line, field: "id" });
  }
  return { id: id === undefined ? String(line) : String(id), text, record: value, file, line };
}

function baseName(path: string): string {
  return path.replace(/\/+$/, "").split("/").pop() ?? path;
}
