/**
 * Schema-constrained decoding at the token level: which tokens may come next so that the answer
 * stays inside its JSON shape, found by walking the vocabulary in byte order (shared prefixes are
 * stepped once, failed prefixes skipped as a block), with a fast path inside free text. As a list
 * (`allowedIds`) or as a bitset for a masked argmax on a GPU or over a batch (`allowedMask`: a
 * byte-trie walk, cached by the matcher's state class, so that most steps cost a lookup and a
 * copy; `bench/constraint_bench.ts` measures it per token).
 *
 * @module
 */

import { JsonShapeMatcher, type MatchState, utf8Step } from "./json_matcher.ts";
import type { Shape } from "./shape.ts";
import { SubstringAutomaton } from "./substring.ts";

/** What a tokenizer must tell about its vocabulary (the `HfTokenizer` of `templates` does). */
export interface TokenBytesSource {
  /** Number of token ids. */
  readonly vocabSize: number;
  /** The bytes a token adds to the text; `undefined` for special tokens. */
  tokenBytes(id: number): Uint8Array | undefined;
}

/** A token list in byte order with the common-prefix length of each token and its predecessor. */
export interface TokenWalk {
  /** Token ids in byte order. */
  ids: Int32Array;
  /** Bytes each token shares with the one before it. */
  lcp: Int32Array;
  /** The longest token, in bytes. */
  maxLen: number;
}

/**
 * A vocabulary prepared for constraint checks: token bytes, the walk order, and which tokens are
 * plain text (whole UTF-8 characters, no `"`, `\` or control bytes). Build once per tokenizer
 * (`ConstraintVocab.of`).
 *
 * @example
 * ```ts
 * import { ConstraintVocab } from "./token_constraint.ts";
 * const pieces = ["{", "}", '"', "a", "ab", ' "'].map((t) => new TextEncoder().encode(t));
 * const v = ConstraintVocab.of({ vocabSize: pieces.length, tokenBytes: (i) => pieces[i] });
 * if (v.size !== 6) throw new Error();
 * ```
 */
export class ConstraintVocab {
  /** Number of token ids. */
  readonly size: number;
  /** Bytes per token (`undefined`: special, never allowed inside an answer). */
  readonly bytes: ReadonlyArray<Uint8Array | undefined>;
  /** Tokens of plain string content: whole UTF-8 characters without `"`, `\` or control bytes. */
  readonly plainIds: Int32Array;
  /** All tokens with bytes, in byte order. */
  readonly all: TokenWalk;
  /** The other tokens, in byte order (what must be checked inside free text). */
  readonly special: TokenWalk;
  /** Words of an allowed-token bitset over this vocabulary: `ceil(size / 32)`. */
  readonly maskWords: number;
  #allTrie: TokenTrie | undefined;
  #specialTrie: TokenTrie | undefined;
  #plainMask: Uint32Array | undefined;

  private constructor(source: TokenBytesSource) {
    this.size = source.vocabSize;
    const bytes: Array<Uint8Array | undefined> = [];
    for (let id = 0; id < this.size; id++) {
      const b = source.tokenBytes(id);
      bytes.push(b !== undefined && b.length > 0 ? b : undefined);
    }
    this.bytes = bytes;
    const ids = [...bytes.keys()].filter((id) => bytes[id] !== undefined);
    const plain = (b: Uint8Array) => {
      let u = 0;
      for (const x of b) {
        if (x < 0x20 || x === 0x22 || x === 0x5c || (u = utf8Step(u, x)) < 0) return false;
      }
      return u === 0;
    };
    this.plainIds = Int32Array.from(ids.filter((id) => plain(bytes[id]!)));
    this.all = walkOrder(ids, bytes);
    this.special = walkOrder(ids.filter((id) => !plain(bytes[id]!)), bytes);
    this.maskWords = Math.ceil(this.size / 32);
  }

  /**
   * All tokens as a byte trie (built on first use).
   *
   * @returns the trie
   *
   * @example
   * ```ts
   * import { ConstraintVocab } from "./token_constraint.ts";
   * const pieces = ["{", '{"'].map((t) => new TextEncoder().encode(t));
   * const v = ConstraintVocab.of({ vocabSize: 2, tokenBytes: (i) => pieces[i] });
   * if (v.allTrie.count !== 3 || v.allTrie.maxDepth !== 2) throw new Error();
   * ```
   */
  get allTrie(): TokenTrie {
    return this.#allTrie ??= buildTrie(this.all, this.bytes);
  }

  /**
   * The tokens that are not plain string content, as a byte trie (built on first use).
   *
   * @returns the trie
   *
   * @example
   * ```ts
   * import { ConstraintVocab } from "./token_constraint.ts";
   * const pieces = ["a", '"'].map((t) => new TextEncoder().encode(t));
   * const v = ConstraintVocab.of({ vocabSize: 2, tokenBytes: (i) => pieces[i] });
   * if (v.specialTrie.count !== 2 || v.specialTrie.tokIds[0] !== 1) throw new Error();
   * ```
   */
  get specialTrie(): TokenTrie {
    return this.#specialTrie ??= buildTrie(this.special, this.bytes);
  }

  /**
   * {@linkcode ConstraintVocab.plainIds} as a bitset (built on first use).
   *
   * @returns bit `id % 32` of word `id >> 5` set for each plain token
   *
   * @example
   * ```ts
   * import { ConstraintVocab } from "./token_constraint.ts";
   * const pieces = ["a", '"', "b"].map((t) => new TextEncoder().encode(t));
   * const v = ConstraintVocab.of({ vocabSize: 3, tokenBytes: (i) => pieces[i] });
   * if (v.plainMask[0] !== 0b101) throw new Error();
   * ```
   */
  get plainMask(): Uint32Array {
    if (this.#plainMask === undefined) {
      const mask = new Uint32Array(this.maskWords);
      for (const id of this.plainIds) mask[id >>> 5] |= 1 << (id & 31);
      this.#plainMask = mask;
    }
    return this.#plainMask;
  }

  static #cache = new WeakMap<TokenBytesSource, ConstraintVocab>();

  /**
   * The prepared vocabulary of a tokenizer (cached per tokenizer object).
   *
   * @param source the tokenizer
   * @returns the prepared vocabulary
   *
   * @example
   * ```ts
   * import { ConstraintVocab } from "./token_constraint.ts";
   * const src = { vocabSize: 1, tokenBytes: () => new Uint8Array([0x7b]) };
   * if (ConstraintVocab.of(src) !== ConstraintVocab.of(src)) throw new Error("cached");
   * ```
   */
  static of(source: TokenBytesSource): ConstraintVocab {
    let v = ConstraintVocab.#cache.get(source);
    if (v === undefined) ConstraintVocab.#cache.set(source, v = new ConstraintVocab(source));
    return v;
  }
}

function walkOrder(ids: number[], bytes: ReadonlyArray<Uint8Array | undefined>): TokenWalk {
  const cmp = (a: Uint8Array, b: Uint8Array) => {
    const n = Math.min(a.length, b.length);
    for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
    return a.length - b.length;
  };
  const sorted = ids.slice().sort((x, y) => cmp(bytes[x]!, bytes[y]!));
  const lcp = new Int32Array(sorted.length);
  let maxLen = 0;
  for (let k = 0; k < sorted.length; k++) {
    const b = bytes[sorted[k]]!;
    maxLen = Math.max(maxLen, b.length);
    if (k === 0) continue;
    const a = bytes[sorted[k - 1]]!;
    let l = 0;
    while (l < a.length && l < b.length && a[l] === b[l]) l++;
    lcp[k] = l;
  }
  return { ids: Int32Array.from(sorted), lcp, maxLen };
}

/**
 * A token list as a byte trie, its nodes in preorder (node 0 is the root, the empty prefix), so
 * that a walk skips a failed prefix's whole subtree in one step.
 *
 * @example
 * ```ts
 * import { ConstraintVocab } from "./token_constraint.ts";
 * const pieces = ["ab", "a", "b", "ab"].map((t) => new TextEncoder().encode(t));
 * const trie = ConstraintVocab.of({ vocabSize: 4, tokenBytes: (i) => pieces[i] }).allTrie;
 * // root, "a" (token 1), "ab" (tokens 0 and 3), "b" (token 2)
 * if (trie.count !== 4 || trie.end[1] !== 3 || [...trie.tokIds.subarray(trie.tokStart[2], trie.tokStart[3])].join() !== "0,3") {
 *   throw new Error();
 * }
 * ```
 */
export interface TokenTrie {
  /** Number of nodes. */
  readonly count: number;
  /** The byte on the edge into each node (0 for the root). */
  readonly byte: Uint8Array;
  /** Each node's depth (its prefix's length). */
  readonly depth: Int32Array;
  /** One past the last node of each node's subtree. */
  readonly end: Int32Array;
  /** Tokens ending at node `n`: `tokIds[tokStart[n] .. tokStart[n + 1]]`. */
  readonly tokStart: Int32Array;
  /** Token ids, grouped by node. */
  readonly tokIds: Int32Array;
  /** The deepest node's depth (the longest token, in bytes). */
  readonly maxDepth: number;
}

function buildTrie(walk: TokenWalk, bytes: ReadonlyArray<Uint8Array | undefined>): TokenTrie {
  const { ids, lcp } = walk;
  let cap = 1;
  for (let k = 0; k < ids.length; k++) cap += bytes[ids[k]]!.length - (k === 0 ? 0 : lcp[k]);
  const byte = new Uint8Array(cap);
  const depth = new Int32Array(cap);
  const end = new Int32Array(cap);
  const tokStart = new Int32Array(cap + 1);
  const path = new Int32Array(walk.maxLen + 1); // path[d]: the open node at depth d (path[0]: the root)
  let top = 0;
  let count = 1;
  for (let k = 0; k < ids.length; k++) {
    const b = bytes[ids[k]]!;
    const l = k === 0 ? 0 : lcp[k];
    while (top > l) end[path[top--]] = count;
    for (let d = l; d < b.length; d++) {
      byte[count] = b[d];
      depth[count] = d + 1;
      path[++top] = count++;
    }
    // In byte order a token's node (path[b.length]) never precedes the previous token's: ids stay grouped.
    tokStart[path[b.length] + 1]++;
  }
  while (top > 0) end[path[top--]] = count;
  end[0] = count;
  for (let n = 0; n < count; n++) tokStart[n + 1] += tokStart[n];
  return {
    count,
    byte: byte.slice(0, count),
    depth: depth.slice(0, count),
    end: end.slice(0, count),
    tokStart: tokStart.slice(0, count + 1),
    tokIds: Int32Array.from(ids),
    maxDepth: walk.maxLen,
  };
}

/** Options of {@linkcode JsonConstraint}. */
export interface JsonConstraintOptions {
  /** Token ids that end the text (EOS, stop tokens): allowed only once the answer is complete. */
  endIds?: readonly number[];
  /** When given, every span string must be a substring of this text (`--extractive`). */
  extractiveText?: string;
}

/**
 * The decoding state of one constrained answer.
 *
 * @example
 * ```ts
 * import { ConstraintVocab, JsonConstraint } from "./token_constraint.ts";
 * import { shapeForSchema } from "./shape.ts";
 * const pieces = ['{"', "person", '": [', '"', "Ann", '"]', "}", "x"].map((t) => new TextEncoder().encode(t));
 * const vocab = ConstraintVocab.of({ vocabSize: pieces.length + 1, tokenBytes: (i) => pieces[i] });
 * const c = new JsonConstraint(vocab, shapeForSchema("NER", ["person"]), { endIds: [8] });
 * if (c.allowedIds().join() !== "0") throw new Error(String(c.allowedIds()));
 * for (const id of [0, 1, 2, 3, 4, 5, 6]) c.accept(id);
 * if (!c.done || c.allowedIds().join() !== "8") throw new Error();
 * ```
 */
export class JsonConstraint {
  readonly #vocab: ConstraintVocab;
  readonly #matcher: JsonShapeMatcher;
  readonly #end: readonly number[];
  #state: MatchState;
  readonly #states: Array<MatchState | undefined>;
  /** Masks by state key: shared per vocabulary when not extractive, else this answer's own. */
  readonly #masks: Map<string, Uint32Array>;
  readonly #maskLimit: number;

  /**
   * Bytes of masks kept per vocabulary for the answers that are not extractive (shared by all of
   * them; least recently used first out): 64 MiB, about 3,500 masks of Qwen3's 151k tokens.
   */
  static readonly MASK_CACHE_BYTES: number = 64 << 20;
  /** Most masks kept per extractive answer (its own: they depend on its text). */
  static readonly MASK_CACHE_OWN: number = 64;
  static #shared = new WeakMap<ConstraintVocab, Map<string, Uint32Array>>();

  /**
   * Create a `JsonConstraint`.
   *
   * @param vocab the prepared vocabulary
   * @param shape the answer shape (`shapeForSchema`)
   * @param options end tokens, extractive input text
   */
  constructor(vocab: ConstraintVocab, shape: Shape, options: JsonConstraintOptions = {}) {
    this.#vocab = vocab;
    const sam = options.extractiveText === undefined ? undefined : new SubstringAutomaton(options.extractiveText);
    this.#matcher = new JsonShapeMatcher(shape, sam);
    this.#end = options.endIds ?? [];
    this.#state = this.#matcher.start();
    this.#states = new Array(vocab.all.maxLen + 1);
    if (sam === undefined) {
      let shared = JsonConstraint.#shared.get(vocab);
      if (shared === undefined) JsonConstraint.#shared.set(vocab, shared = new Map());
      this.#masks = shared;
      this.#maskLimit = Math.max(1, Math.floor(JsonConstraint.MASK_CACHE_BYTES / (4 * vocab.maskWords)));
    } else {
      this.#masks = new Map();
      this.#maskLimit = JsonConstraint.MASK_CACHE_OWN;
    }
  }

  /** Whether the answer is complete (then only end tokens are allowed). */
  get done(): boolean {
    return this.#matcher.isDone(this.#state);
  }

  /**
   * Whether a token may come next.
   *
   * @param id the token id
   * @returns true when allowed
   *
   * @example
   * ```ts
   * import { ConstraintVocab, JsonConstraint } from "./token_constraint.ts";
   * const pieces = ["[", "]"].map((t) => new TextEncoder().encode(t));
   * const c = new JsonConstraint(ConstraintVocab.of({ vocabSize: 2, tokenBytes: (i) => pieces[i] }), { kind: "list", item: { kind: "string", span: false } });
   * if (!c.allows(0) || c.allows(1)) throw new Error();
   * ```
   */
  allows(id: number): boolean {
    if (this.done) return this.#end.includes(id);
    const b = this.#vocab.bytes[id];
    return b !== undefined && this.#matcher.feed(this.#state, b) !== undefined;
  }

  /**
   * All tokens that may come next.
   *
   * @returns token ids, ascending within each group (end tokens when complete)
   *
   * @example
   * ```ts
   * import { ConstraintVocab, JsonConstraint } from "./token_constraint.ts";
   * const pieces = ["[", "]", '["', "[]"].map((t) => new TextEncoder().encode(t));
   * const c = new JsonConstraint(ConstraintVocab.of({ vocabSize: 4, tokenBytes: (i) => pieces[i] }), { kind: "list", item: { kind: "string", span: false } });
   * if (c.allowedIds().sort().join() !== "0,2,3") throw new Error();
   * ```
   */
  allowedIds(): number[] {
    if (this.done) return [...this.#end];
    const out: number[] = [];
    if (this.#matcher.inFreeString(this.#state)) {
      for (const id of this.#vocab.plainIds) out.push(id);
      this.#walk(this.#vocab.special, out);
    } else {
      this.#walk(this.#vocab.all, out);
    }
    return out;
  }

  /**
   * All tokens that may come next, as a bitset: bit `id % 32` of word `id >> 5` is set when token
   * `id` is allowed (the same set as {@linkcode JsonConstraint.allowedIds}), ready to upload for
   * a masked argmax. Computed once per state class (a trie walk of the vocabulary from the
   * state; inside free text the plain tokens are taken as a block) and cached by the matcher's
   * state key: shared by all answers of a vocabulary, or, with `extractiveText`, per answer (a
   * span's allowed set depends on the text). A call then costs a key and a copy.
   *
   * @param out where to write (length `vocab.maskWords`); a new array by default
   * @returns `out`, filled
   * @throws {RangeError} when `out` has the wrong length
   *
   * @example
   * ```ts
   * import { ConstraintVocab, JsonConstraint } from "./token_constraint.ts";
   * const pieces = ["[", "]", '["', "[]"].map((t) => new TextEncoder().encode(t));
   * const c = new JsonConstraint(ConstraintVocab.of({ vocabSize: 4, tokenBytes: (i) => pieces[i] }), { kind: "list", item: { kind: "string", span: false } });
   * const mask = c.allowedMask();
   * if (mask.length !== 1 || mask[0] !== 0b1101) throw new Error(mask[0].toString(2));
   * ```
   */
  allowedMask(out?: Uint32Array): Uint32Array {
    const words = this.#vocab.maskWords;
    if (out === undefined) out = new Uint32Array(words);
    else if (out.length !== words) throw new RangeError(`mask of ${out.length} words, the vocabulary needs ${words}`);
    if (this.done) {
      out.fill(0);
      for (const id of this.#end) if (id >= 0 && id < this.#vocab.size) out[id >>> 5] |= 1 << (id & 31);
      return out;
    }
    if (this.#matcher.inSpan(this.#state)) return this.#computeMask(out); // new at nearly every step: not cached
    const key = this.#matcher.stateKey(this.#state);
    const masks = this.#masks;
    let mask = masks.get(key);
    if (mask !== undefined) {
      masks.delete(key); // most recently used last
    } else {
      let reuse: Uint32Array | undefined;
      if (masks.size >= this.#maskLimit) {
        const oldest = masks.keys().next().value!;
        reuse = masks.get(oldest);
        masks.delete(oldest);
      }
      mask = this.#computeMask(reuse ?? new Uint32Array(words));
    }
    masks.set(key, mask);
    out.set(mask);
    return out;
  }

  /** The allowed set of the current state (not done), computed into `mask`. */
  #computeMask(mask: Uint32Array): Uint32Array {
    if (this.#matcher.inFreeString(this.#state)) {
      mask.set(this.#vocab.plainMask);
      this.#walkTrie(this.#vocab.specialTrie, mask);
    } else {
      mask.fill(0);
      this.#walkTrie(this.#vocab.allTrie, mask);
    }
    return mask;
  }

  /** Set the bits of the trie's tokens that fit from the current state; failed prefixes skip their subtree. */
  #walkTrie(trie: TokenTrie, mask: Uint32Array): void {
    const { count, byte, depth, end, tokStart, tokIds } = trie;
    const states = this.#states;
    const m = this.#matcher;
    states[0] = this.#state;
    let n = 1;
    while (n < count) {
      const d = depth[n];
      const next = m.step(states[d - 1]!, byte[n]);
      if (next === undefined) {
        n = end[n];
        continue;
      }
      states[d] = next;
      for (let t = tokStart[n], stop = tokStart[n + 1]; t < stop; t++) {
        const id = tokIds[t];
        mask[id >>> 5] |= 1 << (id & 31);
      }
      n++;
    }
  }

  /**
   * Take a token.
   *
   * @param id the chosen token (must be allowed)
   * @throws {Error} when the token is not allowed
   *
   * @example
   * ```ts
   * import { ConstraintVocab, JsonConstraint } from "./token_constraint.ts";
   * const pieces = ["[", "]"].map((t) => new TextEncoder().encode(t));
   * const c = new JsonConstraint(ConstraintVocab.of({ vocabSize: 2, tokenBytes: (i) => pieces[i] }), { kind: "list", item: { kind: "string", span: false } });
   * c.accept(0);
   * c.accept(1);
   * if (!c.done) throw new Error();
   * ```
   */
  accept(id: number): void {
    if (this.done) {
      if (this.#end.includes(id)) return;
      throw new Error(`token ${id} after a complete answer`);
    }
    const b = this.#vocab.bytes[id];
    const next = b === undefined ? undefined : this.#matcher.feed(this.#state, b);
    if (next === undefined) throw new Error(`token ${id} does not fit the answer shape here`);
    this.#state = next;
  }

  /**
   * The shortest bytes that turn what was generated so far into a complete answer (for a run
   * that hits its token limit). The tokens may end inside a UTF-8 character: these bytes finish
   * it, so the answer is the generated bytes followed by these, decoded once.
   *
   * @param prefix the answer's bytes when they are fewer than the accepted tokens' (an answer cut
   *   before a stop text); by default the accepted tokens' bytes
   * @returns bytes to append (none when complete)
   * @throws {RangeError} when `prefix` does not fit the answer shape
   *
   * @example
   * ```ts
   * import { ConstraintVocab, JsonConstraint } from "./token_constraint.ts";
   * import { shapeForSchema } from "./shape.ts";
   * const enc = new TextEncoder();
   * const pieces = [enc.encode('{"袭'), enc.encode("击").subarray(0, 2)]; // a byte-level token ends inside 击
   * const c = new JsonConstraint(ConstraintVocab.of({ vocabSize: 2, tokenBytes: (i) => pieces[i] }), shapeForSchema("NER", ["袭击"]));
   * c.accept(0);
   * c.accept(1);
   * const answer = new Uint8Array([...pieces[0], ...pieces[1], ...c.completionBytes()]);
   * if (new TextDecoder("utf-8", { fatal: true }).decode(answer) !== '{"袭击": []}') throw new Error();
   * ```
   */
  completionBytes(prefix?: Uint8Array): Uint8Array {
    const m = this.#matcher;
    const state = prefix === undefined ? this.#state : m.feed(m.start(), prefix);
    if (state === undefined) throw new RangeError("the answer's bytes do not fit its shape");
    return m.completionBytes(state);
  }

  /**
   * The shortest text that turns what was generated so far into a complete answer, when the
   * tokens end between characters (see {@linkcode JsonConstraint.completionBytes}).
   *
   * @returns text to append ("" when complete)
   * @throws {RangeError} when the tokens end inside a UTF-8 character
   *
   * @example
   * ```ts
   * import { ConstraintVocab, JsonConstraint } from "./token_constraint.ts";
   * const pieces = ["[", '"a'].map((t) => new TextEncoder().encode(t));
   * const c = new JsonConstraint(ConstraintVocab.of({ vocabSize: 2, tokenBytes: (i) => pieces[i] }), { kind: "list", item: { kind: "string", span: false } });
   * c.accept(0);
   * c.accept(1);
   * if (c.completion() !== '"]') throw new Error();
   * ```
   */
  completion(): string {
    return this.#matcher.completion(this.#state);
  }

  /** Walk a token list in byte order from the current state; shared prefixes are stepped once. */
  #walk(walk: TokenWalk, out: number[]): void {
    const { ids, lcp } = walk;
    const bytes = this.#vocab.bytes;
    const states = this.#states;
    const m = this.#matcher;
    states[0] = this.#state;
    for (let k = 0; k < ids.length; k++) {
      const b = bytes[ids[k]]!;
      let d = lcp[k]; // states[0..d] hold for this token's first d bytes
      let ok = true;
      for (; d < b.length; d++) {
        const next = m.step(states[d]!, b[d]);
        if (next === undefined) {
          ok = false;
          break;
        }
        states[d + 1] = next;
      }
      if (ok) {
        out.push(ids[k]);
        continue;
      }
      // Every following token sharing the failed prefix b[0..d] fails too: skip them.
      while (k + 1 < ids.length && lcp[k + 1] > d) k++;
    }
  }
}

/**
 * Greedy choice under a constraint: the highest-scoring allowed token. Checks the best few
 * candidates first (usually the first fits), and only then takes the full allowed set
 * ({@linkcode JsonConstraint.allowedMask}; ties go to the lower id).
 *
 * @param logits scores over the vocabulary
 * @param constraint the answer's constraint
 * @param candidates how many top tokens to try before the full set (default 16)
 * @returns the chosen token id
 *
 * @example
 * ```ts
 * import { ConstraintVocab, JsonConstraint, pickGreedy } from "./token_constraint.ts";
 * const pieces = ["[", "]", "x"].map((t) => new TextEncoder().encode(t));
 * const c = new JsonConstraint(ConstraintVocab.of({ vocabSize: 3, tokenBytes: (i) => pieces[i] }), { kind: "list", item: { kind: "string", span: false } });
 * if (pickGreedy(new Float32Array([0.1, 5, 9]), c) !== 0) throw new Error("only [ may start the answer");
 * ```
 */
export function pickGreedy(logits: ArrayLike<number>, constraint: JsonConstraint, candidates = 16): number {
  const top = topK(logits, candidates);
  for (const id of top) if (constraint.allows(id)) return id;
  const mask = constraint.allowedMask();
  let best = -1;
  for (let w = 0; w < mask.length; w++) {
    for (let bits = mask[w]; bits !== 0; bits &= bits - 1) {
      const id = w * 32 + 31 - Math.clz32(bits & -bits);
      if (best < 0 || logits[id] > logits[best]) best = id;
    }
  }
  if (best < 0) throw new Error("no token fits the answer shape (the vocabulary lacks the needed characters)");
  return best;
}

/** Indices of the k largest values, best first (ties: lower index first). */
function topK(values: ArrayLike<number>, k: number): number[] {
  const idx: number[] = [];
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (idx.length === k && !(v > values[idx[k - 1]])) continue;
    let j = idx.length < k ? idx.length : k - 1;
    while (j > 0 && v > values[idx[j - 1]]) j--;
    idx.splice(j, 0, i);
    if (idx.length > k) idx.pop();
  }
  return idx;
}
