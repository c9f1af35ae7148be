/**
 * A fast encoder for BPE `tokenizer.json` files (byte-level like Qwen and LLaMA-3, or
 * SentencePiece-style like LLaMA-2 and Mistral) that gives the same ids as
 * `@huggingface/tokenizers`, several times faster: merges are looked up by integer ids in an
 * open-addressing table, BPE runs on a heap of (rank, position), byte-level chunks go straight
 * from UTF-8 bytes to ids, and chunk results are cached.
 *
 * It reproduces the library's `encode(text, { add_special_tokens: false })` step by step (added
 * tokens split out first, the library's own normalizer, pre-tokenizer rules, BPE) and covers only
 * configurations whose every step it reproduces; {@linkcode FastBpe.create} returns `undefined`
 * for others, and for texts whose result would need unknown-token fusing it defers to the
 * library. The tests compare both on large corpora.
 *
 * @module
 */

import { SplitPreTokenizer, type Tokenizer } from "@huggingface/tokenizers";

type Json = Record<string, unknown>;

/**
 * GPT-2's byte-to-character table (byte-level BPE vocabularies): printable bytes map to
 * themselves, the others to U+0100 upwards.
 *
 * @returns the character of each byte value 0–255
 *
 * @example
 * ```ts
 * import { byteLevelAlphabet } from "./fast_bpe.ts";
 * const a = byteLevelAlphabet();
 * if (a[65] !== "A" || a[32] !== "Ġ" || a[10] !== "Ċ") throw new Error();
 * ```
 */
export function byteLevelAlphabet(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out = new Array<string>(256);
  let next = 256;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(printable(b) ? b : next++);
  return out;
}

/** GPT-2's pre-tokenization pattern, as used by a `ByteLevel` pre-tokenizer with `use_regex`. */
const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

interface AddedInfo {
  id: number;
  lstrip: boolean;
  rstrip: boolean;
}

/** A trie over added-token contents for leftmost-longest splitting. */
class TokenTrie {
  readonly #root = new Map<number, TrieNode>();
  readonly #first = new Set<number>();
  size = 0;

  add(word: string): void {
    if (word.length === 0) return;
    let node: TrieNode | undefined;
    let map = this.#root;
    for (let i = 0; i < word.length; i++) {
      const c = word.charCodeAt(i);
      node = map.get(c);
      if (node === undefined) map.set(c, node = { next: new Map(), end: undefined });
      map = node.next;
    }
    node!.end = word;
    this.#first.add(word.charCodeAt(0));
    this.size++;
  }

  /** Split `text` into plain pieces and matched words, as the library's DictionarySplitter does. */
  split(text: string): string[] {
    const out: string[] = [];
    if (this.size === 0) {
      out.push(text);
      return out;
    }
    const n = text.length;
    let start = 0;
    let i = 0;
    while (i < n) {
      if (!this.#first.has(text.charCodeAt(i))) {
        i++;
        continue;
      }
      let map = this.#root;
      let match: string | undefined;
      for (let j = i; j < n; j++) {
        const node = map.get(text.charCodeAt(j));
        if (node === undefined) break;
        if (node.end !== undefined) match = node.end;
        map = node.next;
      }
      if (match === undefined) {
        i++;
        continue;
      }
      if (i > start) out.push(text.slice(start, i));
      out.push(match);
      i += match.length;
      start = i;
    }
    if (start < n) out.push(text.slice(start));
    return out;
  }
}

interface TrieNode {
  next: Map<number, TrieNode>;
  end: string | undefined;
}

/** (left id, right id) → merge rank, in an open-addressing table of typed arrays. */
class MergeTable {
  readonly #left: Int32Array;
  readonly #right: Int32Array;
  readonly #rank: Int32Array;
  readonly #mask: number;

  constructor(count: number) {
    let cap = 16;
    while (cap < count * 2) cap *= 2;
    this.#left = new Int32Array(cap).fill(-1);
    this.#right = new Int32Array(cap);
    this.#rank = new Int32Array(cap);
    this.#mask = cap - 1;
  }

  #slot(a: number, b: number): number {
    return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) >>> 0;
  }

  set(a: number, b: number, rank: number): void {
    let i = this.#slot(a, b) & this.#mask;
    while (this.#left[i] !== -1) {
      if (this.#left[i] === a && this.#right[i] === b) return; // the first (lowest) rank wins
      i = (i + 1) & this.#mask;
    }
    this.#left[i] = a;
    this.#right[i] = b;
    this.#rank[i] = rank;
  }

  /** The rank of merging `a` then `b`, or -1. */
  get(a: number, b: number): number {
    if (a < 0 || b < 0) return -1;
    let i = this.#slot(a, b) & this.#mask;
    for (;;) {
      const l = this.#left[i];
      if (l === -1) return -1;
      if (l === a && this.#right[i] === b) return this.#rank[i];
      i = (i + 1) & this.#mask;
    }
  }
}

type PreMode =
  | { kind: "none" }
  | { kind: "library" }
  | { kind: "bytes"; pattern: RegExp | undefined; isolated: boolean; prefixSpace: boolean };

/**
 * The fast encoder for one tokenizer. Build it with {@linkcode FastBpe.create}.
 *
 * @example
 * ```ts
 * import { Tokenizer } from "@huggingface/tokenizers";
 * import { FastBpe } from "./fast_bpe.ts";
 * const json = {
 *   model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2 }, merges: ["a b"] },
 *   added_tokens: [{ id: 3, content: "<s>", special: true, normalized: false }],
 *   normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null,
 * };
 * const lib = new Tokenizer(json, {});
 * const fast = FastBpe.create(json, {}, lib)!;
 * if (fast.encode("<s>abab").join() !== "3,2,2") throw new Error(fast.encode("<s>abab").join());
 * ```
 */
export class FastBpe {
  readonly #lib: Tokenizer;
  readonly #vocab: Map<string, number>;
  readonly #added = new Map<string, AddedInfo>();
  readonly #plainTrie = new TokenTrie();
  readonly #normalizedTrie = new TokenTrie();
  readonly #merges: MergeTable;
  readonly #merged: Int32Array;
  readonly #byteIds: Int32Array | undefined;
  readonly #pre: PreMode;
  readonly #ignoreMerges: boolean;
  /** No vocabulary token has `▁` after another character, so chunks split before such `▁`s. */
  readonly #splitAtSpaces: boolean;
  readonly #byteFallback: boolean;
  readonly #fuseUnk: boolean;
  readonly #unkId: number | undefined;
  readonly #cache = new Map<string, readonly number[]>();
  readonly #utf8 = new TextEncoder();

  private constructor(lib: Tokenizer, model: Json, pre: PreMode, vocab: Map<string, number>) {
    this.#lib = lib;
    this.#vocab = vocab;
    this.#pre = pre;
    this.#ignoreMerges = model.ignore_merges === true;
    // A merge never joins across "x▁" when no token contains it: BPE of the whole equals BPE of
    // the pieces, and the pieces (words) repeat, so their results can be cached.
    this.#splitAtSpaces = pre.kind !== "bytes" && !this.#ignoreMerges &&
      ![...vocab.keys()].some((t) => /[^\u2581]\u2581/.test(t));
    this.#byteFallback = model.byte_fallback === true;
    this.#fuseUnk = model.fuse_unk === true;
    this.#unkId = typeof model.unk_token === "string" ? vocab.get(model.unk_token) : undefined;
    const merges = model.merges as Array<string | [string, string]>;
    this.#merges = new MergeTable(merges.length);
    this.#merged = new Int32Array(merges.length).fill(-1);
    for (let r = 0; r < merges.length; r++) {
      const m = merges[r];
      let a: string, b: string;
      if (Array.isArray(m)) [a, b] = m;
      else {
        const cut = m.indexOf(" ");
        a = m.slice(0, cut);
        b = m.slice(cut + 1);
      }
      const ia = vocab.get(a), ib = vocab.get(b), im = vocab.get(a + b);
      if (ia === undefined || ib === undefined || im === undefined) continue;
      this.#merges.set(ia, ib, r);
      this.#merged[r] = im;
    }
    if (pre.kind === "bytes") {
      const alphabet = byteLevelAlphabet();
      this.#byteIds = new Int32Array(256);
      for (let b = 0; b < 256; b++) this.#byteIds[b] = vocab.get(alphabet[b]) ?? -1;
    }
  }

  /**
   * Build the fast encoder for a tokenizer, when its configuration is one it reproduces.
   *
   * @param json the parsed `tokenizer.json`
   * @param config the parsed `tokenizer_config.json` (the library got the same)
   * @param lib the library tokenizer built from the same file (its normalizer is reused)
   * @returns the encoder, or `undefined` when the configuration is not covered or a self-check
   *   against the library fails
   *
   * @example
   * ```ts
   * import { Tokenizer } from "@huggingface/tokenizers";
   * import { FastBpe } from "./fast_bpe.ts";
   * const json = {
   *   model: { type: "WordPiece", vocab: { a: 0, "[UNK]": 1 }, unk_token: "[UNK]" },
   *   added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null,
   * };
   * if (FastBpe.create(json, {}, new Tokenizer(json, {})) !== undefined) throw new Error("WordPiece is not covered");
   * ```
   */
  static create(json: Json, config: Json, lib: Tokenizer): FastBpe | undefined {
    const model = json.model as Json | undefined;
    if (!model || model.type !== "BPE" || !Array.isArray(model.merges)) return undefined;
    if (model.dropout || model.continuing_subword_prefix || model.end_of_word_suffix) return undefined;
    if (config.remove_space === true || config.do_lowercase_and_remove_accent === true) return undefined;
    const pre = preMode(json.pre_tokenizer as Json | null | undefined);
    if (pre === undefined) return undefined;
    const vocab = new Map<string, number>(lib.model!.tokens_to_ids);
    const fast = new FastBpe(lib, model, pre, vocab);
    const normalizer = lib.normalizer;
    for (const t of (json.added_tokens ?? []) as Json[]) {
      const content = String(t.content);
      const info = { id: Number(t.id), lstrip: t.lstrip === true, rstrip: t.rstrip === true };
      fast.#added.set(content, info);
      if (t.normalized === true && normalizer !== null) {
        const normalized = normalizer(content);
        fast.#added.set(normalized, info);
        fast.#normalizedTrie.add(normalized);
      } else {
        fast.#plainTrie.add(content);
      }
    }
    if (fast.#byteIds?.includes(-1)) return undefined;
    return fast.#selfCheck() ? fast : undefined;
  }

  /** Compare with the library on a few varied texts. */
  #selfCheck(): boolean {
    const added = [...this.#added.keys()].slice(0, 50).join(" x");
    const probes = [
      'Hello world! 你好，世界。\n\n  [INST] <<SYS>>\n x 123 4567 éè 🙂 {"a": 1}\t\r\n end ',
      ' {"instruction": "抽取", "schema": ["人物"], "input": "It\'s 2024\'s"}  ',
      "\u0000\u00ad\ud800 lone",
      added,
    ];
    for (const p of probes) {
      const mine = this.encode(p);
      const theirs = this.#lib.encode(p, { add_special_tokens: false }).ids;
      if (mine.length !== theirs.length || mine.some((id, i) => id !== theirs[i])) return false;
    }
    return true;
  }

  /**
   * Encode a text without adding special tokens (added tokens written in the text are matched).
   *
   * @param text the text
   * @returns the token ids, equal to the library's `encode(text, { add_special_tokens: false }).ids`
   *
   * @example
   * ```ts
   * import { Tokenizer } from "@huggingface/tokenizers";
   * import { FastBpe } from "./fast_bpe.ts";
   * const json = {
   *   model: { type: "BPE", vocab: { x: 0, y: 1, xy: 2 }, merges: [["x", "y"]] },
   *   added_tokens: [], normalizer: null, pre_tokenizer: null, post_processor: null, decoder: null,
   * };
   * if (FastBpe.create(json, {}, new Tokenizer(json, {}))!.encode("xyx").join() !== "2,0") throw new Error();
   * ```
   */
  encode(text: string): number[] {
    const out: number[] = [];
    const sections = this.#plainTrie.split(text);
    this.#strip(sections);
    const normalizer = this.#lib.normalizer;
    for (let s = 0; s < sections.length; s++) {
      const section = sections[s];
      if (section.length === 0) continue;
      const added = this.#added.get(section);
      if (added !== undefined) {
        out.push(added.id);
        continue;
      }
      const normalized = normalizer === null ? section : normalizer(section);
      if (normalized.length === 0) continue;
      const subs = this.#normalizedTrie.split(normalized);
      if (subs.length > 1) this.#strip(subs);
      for (const sub of subs) {
        if (sub.length === 0) continue;
        const a = this.#added.get(sub);
        if (a !== undefined) out.push(a.id);
        else if (!this.#encodeSub(sub, s, out)) return this.#lib.encode(text, { add_special_tokens: false }).ids;
      }
    }
    return out;
  }

  /** Apply added tokens' lstrip / rstrip to their neighbours. */
  #strip(parts: string[]): void {
    for (let i = 0; i < parts.length; i++) {
      const a = this.#added.get(parts[i]);
      if (a === undefined) continue;
      if (a.lstrip && i > 0) parts[i - 1] = parts[i - 1].trimEnd();
      if (a.rstrip && i < parts.length - 1) parts[i + 1] = parts[i + 1].trimStart();
    }
  }

  /** Pre-tokenize and BPE one normalized piece; false when the library must take over. */
  #encodeSub(text: string, sectionIndex: number, out: number[]): boolean {
    const pre = this.#pre;
    if (pre.kind === "bytes") {
      if (pre.prefixSpace && !text.startsWith(" ")) text = " " + text;
      if (pre.pattern === undefined) return this.#chunkBytes(text, out);
      pre.pattern.lastIndex = 0;
      let prev = 0;
      for (const m of text.matchAll(pre.pattern)) {
        if (pre.isolated && prev < m.index) this.#chunkBytes(text.slice(prev, m.index), out);
        if (m[0].length > 0) this.#chunkBytes(m[0], out);
        prev = m.index + m[0].length;
      }
      if (pre.isolated && prev < text.length) this.#chunkBytes(text.slice(prev), out);
      return true;
    }
    const chunks = pre.kind === "none" ? [text] : this.#lib.pre_tokenizer!(text, { section_index: sectionIndex });
    for (const chunk of chunks) {
      if (!this.#splitAtSpaces) {
        if (!this.#chunkChars(chunk, out)) return false;
        continue;
      }
      let from = 0;
      for (let at = chunk.indexOf("\u2581", 1); at > 0; at = chunk.indexOf("\u2581", at + 1)) {
        if (chunk.charCodeAt(at - 1) === 0x2581) continue;
        if (!this.#chunkChars(chunk.slice(from, at), out)) return false;
        from = at;
      }
      if (!this.#chunkChars(from === 0 ? chunk : chunk.slice(from), out)) return false;
    }
    return true;
  }

  /** BPE of a byte-level chunk (raw text; its UTF-8 bytes are the symbols). */
  #chunkBytes(chunk: string, out: number[]): boolean {
    const cached = this.#cache.get(chunk);
    if (cached !== undefined) {
      for (let i = 0; i < cached.length; i++) out.push(cached[i]);
      return true;
    }
    const byteIds = this.#byteIds!;
    const syms: number[] = [];
    for (let i = 0; i < chunk.length; i++) {
      let c = chunk.charCodeAt(i);
      if (c < 0x80) {
        syms.push(byteIds[c]);
        continue;
      }
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < chunk.length) {
        const d = chunk.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        }
      }
      if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd; // a lone surrogate encodes as U+FFFD
      if (c < 0x800) syms.push(byteIds[0xc0 | (c >> 6)], byteIds[0x80 | (c & 63)]);
      else if (c < 0x10000) {
        syms.push(byteIds[0xe0 | (c >> 12)], byteIds[0x80 | ((c >> 6) & 63)], byteIds[0x80 | (c & 63)]);
      } else {
        syms.push(
          byteIds[0xf0 | (c >> 18)],
          byteIds[0x80 | ((c >> 12) & 63)],
          byteIds[0x80 | ((c >> 6) & 63)],
          byteIds[0x80 | (c & 63)],
        );
      }
    }
    let result: number[];
    if (this.#ignoreMerges && syms.length > 1) {
      const whole = this.#vocab.get(this.#mapBytes(chunk));
      result = whole !== undefined ? [whole] : this.#bpe(syms);
    } else result = this.#bpe(syms);
    this.#remember(chunk, result);
    for (let i = 0; i < result.length; i++) out.push(result[i]);
    return true;
  }

  #mapBytes(chunk: string): string {
    const alphabet = BYTE_ALPHABET;
    let s = "";
    for (const b of this.#utf8.encode(chunk)) s += alphabet[b];
    return s;
  }

  /** BPE of a chunk whose characters are the symbols (SentencePiece-style vocabularies). */
  #chunkChars(chunk: string, out: number[]): boolean {
    const cached = this.#cache.get(chunk);
    if (cached !== undefined) {
      for (let i = 0; i < cached.length; i++) out.push(cached[i]);
      return true;
    }
    let result: number[] | undefined;
    if (this.#ignoreMerges) {
      const whole = this.#vocab.get(chunk);
      if (whole !== undefined) result = [whole];
    }
    if (result === undefined) {
      const syms: number[] = [];
      const unknown: string[] = [];
      for (const ch of chunk) {
        const id = this.#vocab.get(ch);
        if (id === undefined) {
          unknown.push(ch);
          syms.push(-unknown.length - 1); // never merges; resolved below
        } else syms.push(id);
      }
      const merged = this.#bpe(syms);
      result = [];
      for (const id of merged) {
        if (id >= 0) {
          result.push(id);
          continue;
        }
        const ch = unknown[-id - 2];
        const fallback = this.#byteFallback ? this.#byteTokens(ch) : undefined;
        if (fallback !== undefined) result.push(...fallback);
        else if (this.#unkId !== undefined) {
          if (this.#fuseUnk) return false;
          result.push(this.#unkId);
        } else return false;
      }
    }
    this.#remember(chunk, result);
    for (let i = 0; i < result.length; i++) out.push(result[i]);
    return true;
  }

  #byteTokens(ch: string): number[] | undefined {
    const ids: number[] = [];
    for (const b of this.#utf8.encode(ch)) {
      const id = this.#vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
      if (id === undefined) return undefined;
      ids.push(id);
    }
    return ids;
  }

  #remember(chunk: string, ids: number[]): void {
    if (chunk.length >= 256) return;
    if (this.#cache.size >= 100_000) this.#cache.clear();
    this.#cache.set(chunk, ids);
  }

  /**
   * Merge symbols by rank, lowest first and leftmost among equals (the order of the Rust crate
   * and of the library), with a binary heap of packed (rank, position) keys.
   */
  #bpe(syms: number[]): number[] {
    const n = syms.length;
    if (n < 2) return syms;
    const merges = this.#merges;
    if (n <= 8) return this.#bpeSmall(syms);
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      next[i] = i + 1;
      prev[i] = i - 1;
    }
    next[n - 1] = -1;
    const heap: number[] = [];
    for (let i = 0; i + 1 < n; i++) {
      const r = merges.get(syms[i], syms[i + 1]);
      if (r >= 0) heapPush(heap, r * n + i);
    }
    while (heap.length > 0) {
      const key = heapPop(heap);
      const rank = Math.floor(key / n);
      const pos = key - rank * n;
      const right = next[pos];
      if (syms[pos] === DEAD || right < 0 || merges.get(syms[pos], syms[right]) !== rank) continue;
      syms[pos] = this.#merged[rank];
      syms[right] = DEAD;
      const after = next[right];
      next[pos] = after;
      if (after >= 0) prev[after] = pos;
      const before = prev[pos];
      if (before >= 0) {
        const r = merges.get(syms[before], syms[pos]);
        if (r >= 0) heapPush(heap, r * n + before);
      }
      if (after >= 0) {
        const r = merges.get(syms[pos], syms[after]);
        if (r >= 0) heapPush(heap, r * n + pos);
      }
    }
    const out: number[] = [];
    for (let i = 0; i >= 0; i = next[i]) out.push(syms[i]);
    return out;
  }

  /** The same merge order for a few symbols, by scanning. */
  #bpeSmall(syms: number[]): number[] {
    const merges = this.#merges;
    for (;;) {
      let best = -1;
      let at = -1;
      for (let i = 0; i + 1 < syms.length; i++) {
        const r = merges.get(syms[i], syms[i + 1]);
        if (r >= 0 && (best < 0 || r < best)) {
          best = r;
          at = i;
        }
      }
      if (at < 0) return syms;
      syms[at] = this.#merged[best];
      syms.splice(at + 1, 1);
    }
  }
}

const DEAD = -0x7fffffff;
const BYTE_ALPHABET = byteLevelAlphabet();

function heapPush(h: number[], v: number): void {
  let i = h.length;
  h.push(v);
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p] <= v) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = v;
}

function heapPop(h: number[]): number {
  const top = h[0];
  const last = h.pop()!;
  const n = h.length;
  if (n === 0) return top;
  let i = 0;
  for (;;) {
    let c = 2 * i + 1;
    if (c >= n) break;
    if (c + 1 < n && h[c + 1] < h[c]) c++;
    if (h[c] >= last) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = last;
  return top;
}

/** Which pre-tokenization this encoder reproduces for a `pre_tokenizer` config, if any. */
function preMode(cfg: Json | null | undefined): PreMode | undefined {
  if (cfg === null || cfg === undefined) return { kind: "none" };
  const byteLevel = (c: Json) => c.type === "ByteLevel";
  if (byteLevel(cfg)) {
    return {
      kind: "bytes",
      pattern: cfg.use_regex === false ? undefined : GPT2_PATTERN,
      isolated: false,
      prefixSpace: cfg.add_prefix_space === true,
    };
  }
  if (cfg.type === "Sequence" && Array.isArray(cfg.pretokenizers) && cfg.pretokenizers.length === 2) {
    const [split, bl] = cfg.pretokenizers as Json[];
    const pattern = split.pattern as Json | undefined;
    if (
      split.type === "Split" && typeof pattern?.Regex === "string" && split.invert === false &&
      String(split.behavior).toLowerCase() === "isolated" && byteLevel(bl) && bl.use_regex === false &&
      bl.add_prefix_space !== true
    ) {
      const compiled = new SplitPreTokenizer(split as never).pattern;
      if (!compiled) return undefined;
      return { kind: "bytes", pattern: compiled, isolated: true, prefixSpace: false };
    }
  }
  if (cfg.type === "Metaspace") return { kind: "library" };
  return undefined;
}
