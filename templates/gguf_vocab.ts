/**
 * A GGUF file's vocabulary (`tokenizer.ggml.*` keys) as the Hugging Face files it was made
 * from: an equivalent `tokenizer.json` and `tokenizer_config.json`, for
 * {@linkcode HfTokenizer.fromJson}.
 *
 * - `llama` (SentencePiece-style BPE with byte fallback): the merges are rebuilt from the
 *   scores, as Hugging Face's SentencePiece converter builds them: every token that splits into
 *   two vocabulary tokens, the best-scored first, each with all its splits ordered by the ids of
 *   the left then the right part.
 * - `gpt2` (byte-level BPE): tokens and merges as stored; `tokenizer.ggml.pre` names the
 *   pre-tokenizer (split pattern and normalizer).
 *
 * Control and user-defined tokens become added tokens (special or not); unused ones (the
 * exporter's `[PAD…]` fillers for ids the tokenizer never had) are left out.
 *
 * @module
 */

import { InputError } from "../io/errors.ts";
import { HfTokenizer } from "./tokenizer.ts";

/** A metadata value as a GGUF reader returns it. */
export type GgufVocabValue = number | string | boolean | readonly (number | string | boolean)[];

/** Token types of `tokenizer.ggml.token_type`. */
const TYPE = { normal: 1, unknown: 2, control: 3, user: 4, unused: 5, byte: 6 } as const;

const QWEN2_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const LLAMA3_SPLIT =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

/** Byte-level pre-tokenizers by `tokenizer.ggml.pre`: the split pattern (none: GPT-2's own) and NFC. */
const BYTE_LEVEL_PRE: Readonly<Record<string, { split?: string; nfc: boolean; ignoreMerges: boolean }>> = {
  qwen2: { split: QWEN2_SPLIT, nfc: true, ignoreMerges: false },
  "llama-bpe": { split: LLAMA3_SPLIT, nfc: false, ignoreMerges: true },
  llama3: { split: LLAMA3_SPLIT, nfc: false, ignoreMerges: true },
  default: { nfc: false, ignoreMerges: false },
  gpt2: { nfc: false, ignoreMerges: false },
};

type Json = Record<string, unknown>;

/** The rebuilt files. */
export interface GgufTokenizerFiles {
  /** The `tokenizer.json` object. */
  readonly json: Record<string, unknown>;
  /** The `tokenizer_config.json` object. */
  readonly config: Record<string, unknown>;
}

/**
 * Rebuild `tokenizer.json` and `tokenizer_config.json` from GGUF metadata.
 *
 * @param metadata the file's metadata
 * @param file the file's path, for messages
 * @returns the two objects
 * @throws {InputError} for a missing or unsupported vocabulary, naming the key
 *
 * @example
 * ```ts
 * import { tokenizerFilesFromGguf } from "./gguf_vocab.ts";
 * const meta = new Map<string, unknown>([
 *   ["tokenizer.ggml.model", "gpt2"], ["tokenizer.ggml.pre", "qwen2"],
 *   ["tokenizer.ggml.tokens", ["a", "b", "ab", "<|end|>"]], ["tokenizer.ggml.token_type", [1, 1, 1, 3]],
 *   ["tokenizer.ggml.merges", ["a b"]], ["tokenizer.ggml.eos_token_id", 3],
 * ]);
 * const { json, config } = tokenizerFilesFromGguf(meta as never, "m.gguf");
 * if (config.eos_token !== "<|end|>" || (json.added_tokens as unknown[]).length !== 1) throw new Error();
 * ```
 */
export function tokenizerFilesFromGguf(
  metadata: ReadonlyMap<string, GgufVocabValue>,
  file: string,
): GgufTokenizerFiles {
  const fail = (key: string, why: string) => new InputError(`key "${key}": ${why}`, { file });
  const kind = metadata.get("tokenizer.ggml.model");
  if (kind === undefined) throw fail("tokenizer.ggml.model", "missing: the file has no vocabulary");
  const tokens = metadata.get("tokenizer.ggml.tokens");
  if (!Array.isArray(tokens) || tokens.some((t) => typeof t !== "string")) {
    throw fail("tokenizer.ggml.tokens", "missing or not an array of strings");
  }
  const list = tokens as readonly string[];
  const types = arrayOf(metadata, "tokenizer.ggml.token_type", list.length, TYPE.normal, fail);
  const id = (key: string): number | undefined => {
    const v = metadata.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v >= list.length) {
      throw fail(key, `${JSON.stringify(v)} is not a token id`);
    }
    return v;
  };
  const flag = (key: string): boolean | undefined => {
    const v = metadata.get(key);
    return typeof v === "boolean" ? v : undefined;
  };
  const bos = id("tokenizer.ggml.bos_token_id");
  const eos = id("tokenizer.ggml.eos_token_id");
  const unk = id("tokenizer.ggml.unknown_token_id");
  const pad = id("tokenizer.ggml.padding_token_id");
  const added: Json[] = [];
  list.forEach((content, i) => {
    const t = types[i];
    if (t === TYPE.control || t === TYPE.user || t === TYPE.unknown) {
      added.push({
        id: i,
        content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: t !== TYPE.user,
      });
    }
  });
  let json: Json;
  let addBosDefault: boolean;
  if (kind === "llama") {
    const scores = arrayOf(metadata, "tokenizer.ggml.scores", list.length, 0, fail);
    const prefix = flag("tokenizer.ggml.add_space_prefix") ?? true;
    json = {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: {
        type: "Sequence",
        normalizers: [
          ...(prefix ? [{ type: "Prepend", prepend: "▁" }] : []),
          { type: "Replace", pattern: { String: " " }, content: "▁" },
        ],
      },
      pre_tokenizer: null,
      post_processor: null,
      decoder: {
        type: "Sequence",
        decoders: [
          { type: "Replace", pattern: { String: "▁" }, content: " " },
          { type: "ByteFallback" },
          { type: "Fuse" },
          ...(prefix ? [{ type: "Strip", content: " ", start: 1, stop: 0 }] : []),
        ],
      },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: unk === undefined ? null : list[unk],
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: true,
        byte_fallback: true,
        vocab: Object.fromEntries(list.flatMap((t, i) => types[i] === TYPE.unused ? [] : [[t, i]])),
        merges: mergesFromScores(list, scores, types),
      },
    };
    addBosDefault = true;
  } else if (kind === "gpt2") {
    const preName = metadata.get("tokenizer.ggml.pre") ?? "default";
    const pre = typeof preName === "string" ? BYTE_LEVEL_PRE[preName] : undefined;
    if (!pre) {
      throw fail(
        "tokenizer.ggml.pre",
        `pre-tokenizer ${JSON.stringify(preName)} is not supported (${Object.keys(BYTE_LEVEL_PRE).join(", ")} are)`,
      );
    }
    const merges = metadata.get("tokenizer.ggml.merges");
    if (!Array.isArray(merges) || merges.some((m) => typeof m !== "string")) {
      throw fail("tokenizer.ggml.merges", "missing or not an array of strings");
    }
    const byteLevel = { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: !pre.split };
    const vocab: Record<string, number> = {};
    list.forEach((t, i) => {
      if (types[i] !== TYPE.control && types[i] !== TYPE.user && types[i] !== TYPE.unused) vocab[t] = i;
    });
    json = {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: added,
      normalizer: pre.nfc ? { type: "NFC" } : null,
      pre_tokenizer: pre.split
        ? {
          type: "Sequence",
          pretokenizers: [
            { type: "Split", pattern: { Regex: pre.split }, behavior: "Isolated", invert: false },
            byteLevel,
          ],
        }
        : byteLevel,
      post_processor: { ...byteLevel, use_regex: false },
      decoder: { ...byteLevel, use_regex: false },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: "",
        end_of_word_suffix: "",
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: pre.ignoreMerges,
        vocab,
        merges: merges as string[],
      },
    };
    addBosDefault = false;
  } else {
    throw fail("tokenizer.ggml.model", `vocabulary ${JSON.stringify(kind)} is not supported (llama and gpt2 are)`);
  }
  const text = (i: number | undefined) => i === undefined ? null : list[i];
  const config: Json = {
    add_bos_token: flag("tokenizer.ggml.add_bos_token") ?? addBosDefault,
    add_eos_token: flag("tokenizer.ggml.add_eos_token") ?? false,
    bos_token: text(bos),
    eos_token: text(eos),
    unk_token: text(unk),
    pad_token: text(pad),
  };
  const template = metadata.get("tokenizer.chat_template");
  if (typeof template === "string") config.chat_template = template;
  return { json, config };
}

/**
 * The tokenizer of a GGUF file's metadata.
 *
 * @param metadata the file's metadata
 * @param file the file's path (for messages and as the tokenizer's source)
 * @returns the tokenizer
 * @throws {InputError} for a missing or unsupported vocabulary
 *
 * @example
 * ```ts
 * import { tokenizerFromGguf } from "./gguf_vocab.ts";
 * const meta = new Map<string, unknown>([
 *   ["tokenizer.ggml.model", "llama"], ["tokenizer.ggml.tokens", ["<unk>", "<s>", "▁", "a", "▁a"]],
 *   ["tokenizer.ggml.scores", [0, 0, 0, 0, -0]], ["tokenizer.ggml.token_type", [2, 3, 1, 1, 1]],
 *   ["tokenizer.ggml.bos_token_id", 1], ["tokenizer.ggml.unknown_token_id", 0],
 * ]);
 * const tok = tokenizerFromGguf(meta as never, "m.gguf");
 * if (tok.encode("a").join() !== "4" || tok.bos?.id !== 1) throw new Error(tok.encode("a").join());
 * ```
 */
export function tokenizerFromGguf(metadata: ReadonlyMap<string, GgufVocabValue>, file: string): HfTokenizer {
  const { json, config } = tokenizerFilesFromGguf(metadata, file);
  return HfTokenizer.fromJson(json, config, { source: file });
}

function arrayOf(
  metadata: ReadonlyMap<string, GgufVocabValue>,
  key: string,
  n: number,
  fallback: number,
  fail: (key: string, why: string) => InputError,
): readonly number[] {
  const v = metadata.get(key);
  if (v === undefined) return new Array<number>(n).fill(fallback);
  if (!Array.isArray(v) || v.length !== n || v.some((x) => typeof x !== "number")) {
    throw fail(key, `expected ${n} numbers, one per token`);
  }
  return v as readonly number[];
}

/**
 * BPE merges from SentencePiece-style scores: each normal token that splits into two vocabulary
 * tokens, best score first (ties by id); a token's splits ordered by the left part's id, then the
 * right's. A score of exactly +0 marks a token no merge makes (the exporter writes `-rank`, so
 * the first merge's token carries -0).
 */
function mergesFromScores(tokens: readonly string[], scores: readonly number[], types: readonly number[]): string[] {
  const ids = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (!ids.has(t)) ids.set(t, i);
  });
  const made: number[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (types[i] !== TYPE.normal || Object.is(scores[i], 0)) continue;
    made.push(i);
  }
  made.sort((a, b) => scores[b] - scores[a] || a - b);
  const merges: string[] = [];
  for (const i of made) {
    const chars = [...tokens[i]];
    const local: [number, number, string][] = [];
    for (let k = 1; k < chars.length; k++) {
      const l = chars.slice(0, k).join("");
      const r = chars.slice(k).join("");
      const li = ids.get(l);
      const ri = ids.get(r);
      if (li !== undefined && ri !== undefined) local.push([li, ri, `${l} ${r}`]);
    }
    local.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    for (const m of local) merges.push(m[2]);
  }
  return merges;
}
