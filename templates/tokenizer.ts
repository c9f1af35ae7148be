/**
 * Tokenizers for prompts: the small interface templates need, and its implementation over a
 * model folder's `tokenizer.json` / `tokenizer_config.json` with `@huggingface/tokenizers`
 * (sped up by {@linkcode FastBpe} where it reproduces the library exactly).
 *
 * @module
 */

import { Tokenizer } from "@huggingface/tokenizers";
import { InputError } from "../io/errors.ts";
import { byteLevelAlphabet, FastBpe } from "./fast_bpe.ts";

/** A special token: its text and its id. */
export interface SpecialToken {
  /** The token's text, e.g. `<s>`. */
  readonly token: string;
  /** Its id. */
  readonly id: number;
}

/** What rendering a prompt needs from a tokenizer. */
export interface PromptTokenizer {
  /**
   * Token ids of a text, adding no special tokens (special tokens written in the text are
   * matched, as transformers' `encode(text, add_special_tokens=False)` does).
   */
  encode(text: string): number[];
  /** The id of a token text, or `undefined` when the vocabulary lacks it. */
  tokenToId(token: string): number | undefined;
  /** The vocabulary text of an id, or `undefined`. */
  idToToken(id: number): string | undefined;
  /** Text of a sequence of ids (special tokens kept). */
  decode(ids: readonly number[]): string;
  /** The BOS token put before prompts, or `undefined` when there is none or `add_bos_token` is false. */
  readonly bos: SpecialToken | undefined;
  /** The EOS token, or `undefined`. */
  readonly eos: SpecialToken | undefined;
  /** Where the tokenizer came from (for messages), when known. */
  readonly source?: string;
  /** The text one token stands for, for display (partial UTF-8 shown as `\xNN`); optional. */
  tokenText?(id: number): string;
}

type Json = Record<string, unknown>;

/** Options for {@linkcode HfTokenizer.fromJson}. */
export interface HfTokenizerOptions {
  /** Where the files came from (shown in messages). */
  source?: string;
  /** The model's chat template when it is not in `config.chat_template` (a `chat_template.jinja` file). */
  chatTemplate?: string;
  /** Special tokens from `special_tokens_map.json`, used where `config` names none. */
  specialTokensMap?: Record<string, unknown>;
  /** Use the fast encoder where it applies (default true). */
  fast?: boolean;
}

/**
 * A Hugging Face tokenizer (`tokenizer.json` + `tokenizer_config.json`).
 *
 * @example
 * ```ts
 * import { HfTokenizer } from "./tokenizer.ts";
 * const json = {
 *   model: { type: "BPE", vocab: { "<s>": 0, "▁": 1, "a": 2, "▁a": 3 }, merges: ["▁ a"] },
 *   added_tokens: [{ id: 0, content: "<s>", special: true, normalized: false }],
 *   normalizer: { type: "Sequence", normalizers: [
 *     { type: "Prepend", prepend: "▁" }, { type: "Replace", pattern: { String: " " }, content: "▁" }] },
 *   pre_tokenizer: null, post_processor: null, decoder: null,
 * };
 * const tok = HfTokenizer.fromJson(json, { bos_token: "<s>" });
 * if (tok.bos?.id !== 0 || tok.encode("a a").join() !== "3,3") throw new Error(tok.encode("a a").join());
 * ```
 */
export class HfTokenizer implements PromptTokenizer {
  /** Where the files came from, when known. */
  readonly source?: string;
  /** BOS put before prompts (absent when the tokenizer has none or `add_bos_token` is false). */
  readonly bos: SpecialToken | undefined;
  /** The tokenizer's BOS token even when `add_bos_token` is false. */
  readonly bosToken: string | undefined;
  /** The EOS token. */
  readonly eos: SpecialToken | undefined;
  /** The model's own chat template (Jinja), when it has one. */
  readonly chatTemplate: string | undefined;
  /** Special-token texts for chat templates: `bos_token`, `eos_token`, `unk_token`, `pad_token`. */
  readonly specialTokens: Readonly<Record<string, string>>;
  /** Whether the fast encoder is in use (else every text goes through the library). */
  readonly fast: boolean;
  readonly #lib: Tokenizer;
  readonly #fast: FastBpe | undefined;
  readonly #byteLevel: boolean;
  readonly #bytes = new TextDecoder("utf-8", { fatal: true });
  #vocabSize: number | undefined;

  private constructor(lib: Tokenizer, json: Json, config: Json, options: HfTokenizerOptions) {
    this.#lib = lib;
    this.source = options.source;
    const map = options.specialTokensMap ?? {};
    const special = (key: string): string | undefined => tokenText(config[key]) ?? tokenText(map[key]);
    this.specialTokens = Object.fromEntries(
      ["bos_token", "eos_token", "unk_token", "pad_token"].flatMap((k) => {
        const t = special(k);
        return t === undefined ? [] : [[k, t]];
      }),
    );
    this.bosToken = special("bos_token");
    const bosId = this.bosToken === undefined ? undefined : lib.token_to_id(this.bosToken);
    this.bos = bosId === undefined || config.add_bos_token === false ? undefined : { token: this.bosToken!, id: bosId };
    const eosToken = special("eos_token");
    const eosId = eosToken === undefined ? undefined : lib.token_to_id(eosToken);
    this.eos = eosId === undefined ? undefined : { token: eosToken!, id: eosId };
    this.chatTemplate = options.chatTemplate ?? chatTemplateOf(config.chat_template);
    this.#fast = options.fast === false ? undefined : FastBpe.create(json, config, lib);
    this.fast = this.#fast !== undefined;
    this.#byteLevel = JSON.stringify(json.decoder ?? null).includes('"ByteLevel"');
  }

  /**
   * Build a tokenizer from parsed files.
   *
   * @param json the parsed `tokenizer.json`
   * @param config the parsed `tokenizer_config.json` (`{}` when the model has none)
   * @param options source name, chat template file, special tokens map, fast path switch
   * @returns the tokenizer
   * @throws {InputError} when the library cannot build a tokenizer from the files
   *
   * @example
   * ```ts
   * import { HfTokenizer } from "./tokenizer.ts";
   * const json = { model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2 }, merges: ["a b"] }, added_tokens: [] };
   * const tok = HfTokenizer.fromJson(json, {});
   * if (tok.bos !== undefined || tok.encode("ab").join() !== "2") throw new Error();
   * ```
   */
  static fromJson(json: Json, config: Json, options: HfTokenizerOptions = {}): HfTokenizer {
    // Hand-written files may leave out the optional parts that the library insists on.
    json = { added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null, ...json };
    let lib: Tokenizer;
    try {
      lib = new Tokenizer(json, config);
    } catch (e) {
      throw new InputError(`unsupported tokenizer.json: ${(e as Error).message}`, { file: options.source });
    }
    return new HfTokenizer(lib, json, config, options);
  }

  /**
   * Token ids of a text, adding no special tokens.
   *
   * @param text the text
   * @returns its ids
   *
   * @example
   * ```ts
   * import { HfTokenizer } from "./tokenizer.ts";
   * const tok = HfTokenizer.fromJson({ model: { type: "BPE", vocab: { a: 0 }, merges: [] }, added_tokens: [] }, {});
   * if (tok.encode("aa").join() !== "0,0") throw new Error();
   * ```
   */
  encode(text: string): number[] {
    if (this.#fast !== undefined) return this.#fast.encode(text);
    return this.#lib.encode(text, { add_special_tokens: false }).ids;
  }

  /**
   * Token ids of a text from `@huggingface/tokenizers` itself, bypassing the fast encoder (the
   * reference the fast path is checked against).
   *
   * @param text the text
   * @returns its ids
   *
   * @example
   * ```ts
   * import { HfTokenizer } from "./tokenizer.ts";
   * const tok = HfTokenizer.fromJson({ model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2 }, merges: ["a b"] } }, {});
   * if (tok.encodeWithLibrary("abab").join() !== tok.encode("abab").join()) throw new Error();
   * ```
   */
  encodeWithLibrary(text: string): number[] {
    return this.#lib.encode(text, { add_special_tokens: false }).ids;
  }

  /**
   * The id of a token text.
   *
   * @param token the token text
   * @returns its id, or `undefined`
   *
   * @example
   * ```ts
   * import { HfTokenizer } from "./tokenizer.ts";
   * const tok = HfTokenizer.fromJson({ model: { type: "BPE", vocab: { a: 0 }, merges: [] }, added_tokens: [] }, {});
   * if (tok.tokenToId("a") !== 0 || tok.tokenToId("b") !== undefined) throw new Error();
   * ```
   */
  tokenToId(token: string): number | undefined {
    return this.#lib.token_to_id(token);
  }

  /**
   * The vocabulary text of an id.
   *
   * @param id the id
   * @returns its text, or `undefined`
   *
   * @example
   * ```ts
   * import { HfTokenizer } from "./tokenizer.ts";
   * const tok = HfTokenizer.fromJson({ model: { type: "BPE", vocab: { a: 0 }, merges: [] }, added_tokens: [] }, {});
   * if (tok.idToToken(0) !== "a") throw new Error();
   * ```
   */
  idToToken(id: number): string | undefined {
    return this.#lib.id_to_token(id);
  }

  /**
   * Text of ids, special tokens kept, no clean-up of spaces.
   *
   * @param ids the ids
   * @returns the text
   *
   * @example
   * ```ts
   * import { HfTokenizer } from "./tokenizer.ts";
   * const tok = HfTokenizer.fromJson({ model: { type: "BPE", vocab: { a: 0 }, merges: [] }, added_tokens: [] }, {});
   * if (tok.decode([]) !== "") throw new Error();
   * ```
   */
  decode(ids: readonly number[]): string {
    if (ids.length === 0) return "";
    return this.#lib.decode([...ids], { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  }

  /** Number of token ids (one more than the largest id, added tokens included). */
  get vocabSize(): number {
    if (this.#vocabSize === undefined) {
      let max = -1;
      for (const id of this.#lib.get_vocab(true).values()) if (id > max) max = id;
      this.#vocabSize = max + 1;
    }
    return this.#vocabSize;
  }

  /**
   * The bytes one token adds to the decoded text: byte-level tokens and `<0xNN>` tokens mapped
   * back to their bytes, `▁` to a space, other pieces as UTF-8. `undefined` for special tokens
   * (`<s>`, `<|im_end|>`, …) and unused ids. (A leading space the decoder strips at the very
   * start of a text is kept.)
   *
   * @param id the id
   * @returns the bytes, or `undefined`
   *
   * @example
   * ```ts
   * import { HfTokenizer } from "./tokenizer.ts";
   * const tok = HfTokenizer.fromJson({ model: { type: "BPE", vocab: { "▁a": 0, "<0xE4>": 1 }, merges: [] }, added_tokens: [] }, {});
   * if (tok.tokenBytes(0)?.join() !== "32,97" || tok.tokenBytes(1)?.join() !== "228") throw new Error();
   * ```
   */
  tokenBytes(id: number): Uint8Array | undefined {
    const piece = this.#lib.id_to_token(id);
    if (piece === undefined) return undefined;
    const added = this.#lib.get_added_tokens_decoder().get(id);
    if (added !== undefined) return added.special ? undefined : new TextEncoder().encode(piece);
    if (this.#byteLevel) {
      const bytes: number[] = [];
      for (const ch of piece) {
        const b = BYTE_OF_CHAR.get(ch);
        if (b === undefined) return new TextEncoder().encode(piece);
        bytes.push(b);
      }
      return new Uint8Array(bytes);
    }
    const m = /^<0x([0-9A-Fa-f]{2})>$/.exec(piece);
    if (m) return new Uint8Array([parseInt(m[1], 16)]);
    return new TextEncoder().encode(piece.replaceAll("▁", " "));
  }

  /**
   * The text one token stands for: byte-level and `<0xNN>` tokens turned back into text,
   * `▁` into a space; bytes that are not whole UTF-8 characters shown as `\xNN`.
   *
   * @param id the id
   * @returns the text
   *
   * @example
   * ```ts
   * import { HfTokenizer } from "./tokenizer.ts";
   * const tok = HfTokenizer.fromJson({ model: { type: "BPE", vocab: { "▁a": 0, "<0xE4>": 1 }, merges: [] }, added_tokens: [] }, {});
   * if (tok.tokenText(0) !== " a" || tok.tokenText(1) !== "\\xe4") throw new Error();
   * ```
   */
  tokenText(id: number): string {
    const piece = this.#lib.id_to_token(id);
    if (piece === undefined) return "";
    if (this.#lib.get_added_tokens_decoder().has(id)) return piece;
    const bytes = this.tokenBytes(id)!;
    try {
      return this.#bytes.decode(bytes);
    } catch {
      return [...bytes].map((b) => "\\x" + b.toString(16).padStart(2, "0")).join("");
    }
  }
}

const BYTE_OF_CHAR: Map<string, number> = new Map(byteLevelAlphabet().map((ch, b) => [ch, b]));

function tokenText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (v && typeof v === "object" && typeof (v as Json).content === "string") return (v as Json).content as string;
  return undefined;
}

function chatTemplateOf(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (Array.isArray(v)) {
    const named = v.filter((x): x is Json => !!x && typeof x === "object" && typeof x.template === "string");
    return (named.find((x) => x.name === "default") ?? named[0])?.template as string | undefined;
  }
  return undefined;
}

/**
 * Load the tokenizer of a local model folder: `tokenizer.json`, with `tokenizer_config.json`,
 * `special_tokens_map.json` and `chat_template.jinja` when present.
 *
 * @param path the model folder (or its `tokenizer.json`)
 * @returns the tokenizer
 * @throws {InputError} for a missing folder, a folder without `tokenizer.json` (naming the
 *   SentencePiece converter that a `tokenizer.model`-only folder would need), or unreadable files
 *
 * @example
 * ```ts
 * import { loadTokenizer } from "./tokenizer.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/tokenizer.json`, JSON.stringify({
 *   model: { type: "BPE", vocab: { a: 0, "</s>": 1 }, merges: [] },
 *   added_tokens: [{ id: 1, content: "</s>", special: true }],
 * }));
 * await Deno.writeTextFile(`${dir}/tokenizer_config.json`, '{"eos_token": "</s>"}');
 * const tok = await loadTokenizer(dir);
 * if (tok.eos?.id !== 1) throw new Error();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadTokenizer(path: string): Promise<HfTokenizer> {
  let dir = path.replace(/\/+$/, "") || "/";
  const info = await Deno.stat(dir).catch((e) => {
    if (e instanceof Deno.errors.NotFound) throw new InputError("model folder not found", { file: path });
    throw new InputError(`cannot read: ${(e as Error).message}`, { file: path });
  });
  if (info.isFile) {
    if (!dir.endsWith("tokenizer.json")) {
      throw new InputError("expected a model folder holding tokenizer.json", { file: path });
    }
    dir = dir.slice(0, dir.lastIndexOf("/")) || ".";
  }
  const file = (name: string) => `${dir}/${name}`;
  const json = await readJson(file("tokenizer.json"));
  if (json === undefined) {
    if (await exists(file("tokenizer.model"))) {
      throw new InputError(
        "the folder has only a SentencePiece tokenizer.model; this tool reads tokenizer.json and has no " +
          "SentencePiece converter yet (write one with Python: " +
          "AutoTokenizer.from_pretrained(DIR, use_fast=True).save_pretrained(DIR))",
        { file: path },
      );
    }
    throw new InputError("no tokenizer.json in the model folder", { file: path });
  }
  const config = await readJson(file("tokenizer_config.json")) ?? {};
  const specialTokensMap = await readJson(file("special_tokens_map.json"));
  const chatTemplate = await Deno.readTextFile(file("chat_template.jinja")).catch(() => undefined);
  return HfTokenizer.fromJson(json, config, { source: file("tokenizer.json"), specialTokensMap, chatTemplate });
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function readJson(path: string): Promise<Json | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new InputError(`cannot read: ${(e as Error).message}`, { file: path });
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new InputError(`invalid JSON: ${(e as Error).message}`, { file: path });
  }
  if (!value || typeof value !== "object" || Array.isArray(value)) {
    throw new InputError("expected a JSON object", { file: path });
  }
  return value as Json;
}
