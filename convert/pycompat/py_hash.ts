/**
 * CPython 3.11's `hash(str)`: SipHash-1-3 over the string's fixed-width code points, keyed from
 * `PYTHONHASHSEED`. The IEPile converter's output depends on Python set iteration order, which
 * depends on these hashes; reproducing them is what makes byte-identical output possible.
 *
 * Hashes are 64-bit; they are kept as two unsigned 32-bit halves (`hi`, `lo`).
 *
 * @module
 */

/** A string with its CPython hash bits (unsigned 64-bit value as two 32-bit halves). */
export interface HashedStr {
  /** The string. */
  readonly key: string;
  /** High 32 bits of the hash, unsigned. */
  readonly hi: number;
  /** Low 32 bits of the hash, unsigned. */
  readonly lo: number;
}

/**
 * The SipHash keys CPython derives from `PYTHONHASHSEED=seed` (0 disables randomization: zero keys).
 *
 * @param seed 0 … 4294967295
 * @returns k0 and k1 as `[hi, lo]` 32-bit pairs
 *
 * @example
 * ```ts
 * import { hashSeedKeys } from "./py_hash.ts";
 * const { k0, k1 } = hashSeedKeys(0);
 * if (k0.join() !== "0,0" || k1.join() !== "0,0") throw new Error();
 * ```
 */
export function hashSeedKeys(seed: number): { k0: [number, number]; k1: [number, number] } {
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new RangeError(`hash seed must be an integer in 0..4294967295, got ${seed}`);
  }
  if (seed === 0) return { k0: [0, 0], k1: [0, 0] };
  const bytes = new Uint8Array(16);
  let x = seed >>> 0;
  for (let i = 0; i < 16; i++) {
    x = (Math.imul(x, 214013) + 2531011) >>> 0;
    bytes[i] = (x >>> 16) & 0xff;
  }
  const word = (o: number) => (bytes[o] | bytes[o + 1] << 8 | bytes[o + 2] << 16 | bytes[o + 3] << 24) >>> 0;
  return { k0: [word(4), word(0)], k1: [word(12), word(8)] };
}

/**
 * Hashes strings as CPython 3.11 does under a given `PYTHONHASHSEED`, with a bounded cache
 * (schema types and roles repeat on every record).
 *
 * @example
 * ```ts
 * import { PyStrHasher } from "./py_hash.ts";
 * const h = new PyStrHasher(0);
 * // python3.11 -c 'print(hash("a"))' with PYTHONHASHSEED=0 prints 4644417185603328019
 * if (h.hashSigned("a") !== 4644417185603328019n) throw new Error(String(h.hashSigned("a")));
 * ```
 */
export class PyStrHasher {
  /** The `PYTHONHASHSEED` this hasher reproduces. */
  readonly seed: number;
  readonly #k0h: number;
  readonly #k0l: number;
  readonly #k1h: number;
  readonly #k1l: number;
  #cache = new Map<string, HashedStr>();
  readonly #cacheLimit: number;

  /**
   * Create a `PyStrHasher`.
   *
   * @param seed the `PYTHONHASHSEED` value (0 … 4294967295)
   * @param cacheLimit strings kept in the cache before it is cleared (default 200 000)
   */
  constructor(seed: number, cacheLimit = 200_000) {
    this.seed = seed;
    const { k0, k1 } = hashSeedKeys(seed);
    [this.#k0h, this.#k0l] = k0;
    [this.#k1h, this.#k1l] = k1;
    this.#cacheLimit = cacheLimit;
  }

  /**
   * The string with its hash bits (cached; the same object for the same string while cached).
   *
   * @param key the string
   * @returns key and hash halves
   *
   * @example
   * ```ts
   * import { PyStrHasher } from "./py_hash.ts";
   * const h = new PyStrHasher(0);
   * if (h.hash("").hi !== 0 || h.hash("").lo !== 0) throw new Error("hash('') is 0");
   * ```
   */
  hash(key: string): HashedStr {
    let e = this.#cache.get(key);
    if (e === undefined) {
      if (this.#cache.size >= this.#cacheLimit) this.#cache = new Map();
      e = this.#compute(key);
      this.#cache.set(key, e);
    }
    return e;
  }

  /**
   * The string with its hash bits, computed without entering the cache: for a record's own
   * values (argument strings), which rarely come again and would only crowd the cache (a map
   * that large outlives young-generation collections and is copied by each).
   *
   * @param key the string
   * @returns key and hash halves (a new object)
   *
   * @example
   * ```ts
   * import { PyStrHasher } from "./py_hash.ts";
   * const h = new PyStrHasher(0);
   * const a = h.hashOnce("Oslo"), b = h.hash("Oslo");
   * if (a.hi !== b.hi || a.lo !== b.lo) throw new Error();
   * ```
   */
  hashOnce(key: string): HashedStr {
    return this.#compute(key);
  }

  /**
   * The hash as Python prints it (signed 64-bit).
   *
   * @param key the string
   * @returns `hash(key)` as a bigint
   *
   * @example
   * ```ts
   * import { PyStrHasher } from "./py_hash.ts";
   * if (new PyStrHasher(0).hashSigned("") !== 0n) throw new Error();
   * ```
   */
  hashSigned(key: string): bigint {
    const { hi, lo } = this.hash(key);
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  }

  #compute(key: string): HashedStr {
    if (key.length === 0) return { key, hi: 0, lo: 0 };
    const n = fixedWidthBytes(key);
    let [hi, lo] = siphash13(this.#k0h, this.#k0l, this.#k1h, this.#k1l, scratch, n);
    if (hi === 0xffffffff && lo === 0xffffffff) lo = 0xfffffffe; // -1 is reserved: becomes -2
    return { key, hi, lo };
  }
}

/** The bytes being hashed, reused from string to string (hashing allocates nothing). */
let scratch = new Uint8Array(256);

/**
 * CPython's internal string storage: 1, 2 or 4 bytes per code point, little-endian, written to
 * `scratch`; returns the byte count.
 */
function fixedWidthBytes(s: string): number {
  let maxUnit = 0;
  let astral = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > maxUnit) maxUnit = c;
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) astral = true;
    }
  }
  if (scratch.length < s.length * 4) scratch = new Uint8Array(s.length * 4);
  const out = scratch;
  if (astral) {
    let n = 0;
    for (const ch of s) {
      const cp = ch.codePointAt(0)!;
      out[n] = cp & 0xff, out[n + 1] = (cp >>> 8) & 0xff, out[n + 2] = cp >>> 16, out[n + 3] = 0;
      n += 4;
    }
    return n;
  }
  if (maxUnit > 0xff) {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      out[2 * i] = c & 0xff;
      out[2 * i + 1] = c >>> 8;
    }
    return s.length * 2;
  }
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return s.length;
}

/**
 * SipHash-1-3 (one compression round, three finalization rounds) as in CPython's pyhash.c, of
 * the first `n` bytes of `m`. 64-bit lanes are held as (hi, lo) unsigned 32-bit pairs in local
 * variables; the round is written out twice (compression, finalization) rather than called, so
 * the state stays in registers.
 */
function siphash13(
  k0h: number,
  k0l: number,
  k1h: number,
  k1l: number,
  m: Uint8Array,
  n: number,
): [number, number] {
  let v0h = (k0h ^ 0x736f6d65) >>> 0, v0l = (k0l ^ 0x70736575) >>> 0;
  let v1h = (k1h ^ 0x646f7261) >>> 0, v1l = (k1l ^ 0x6e646f6d) >>> 0;
  let v2h = (k0h ^ 0x6c796765) >>> 0, v2l = (k0l ^ 0x6e657261) >>> 0;
  let v3h = (k1h ^ 0x74656462) >>> 0, v3l = (k1l ^ 0x79746573) >>> 0;
  let s = 0, th = 0, tl = 0;

  const full = n - (n % 8);
  // Every full 8-byte block, then the last block: remaining bytes little-endian, length (mod
  // 256) in the top byte.
  for (let o = 0; o <= full; o += 8) {
    let ml = 0, mh = 0;
    if (o < full) {
      ml = (m[o] | m[o + 1] << 8 | m[o + 2] << 16 | m[o + 3] << 24) >>> 0;
      mh = (m[o + 4] | m[o + 5] << 8 | m[o + 6] << 16 | m[o + 7] << 24) >>> 0;
    } else {
      for (let i = n - 1; i >= full; i--) {
        const j = i - full;
        if (j < 4) ml |= m[i] << (8 * j);
        else mh |= m[i] << (8 * (j - 4));
      }
      mh = (mh | ((n & 0xff) << 24)) >>> 0, ml >>>= 0;
    }
    v3h = (v3h ^ mh) >>> 0, v3l = (v3l ^ ml) >>> 0;
    // SipRound: v0 += v1; v2 += v3
    s = v0l + v1l;
    v0h = (v0h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0, v0l = s >>> 0;
    s = v2l + v3l;
    v2h = (v2h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0, v2l = s >>> 0;
    // v1 = rotl(v1, 13) ^ v0; v3 = rotl(v3, 16) ^ v2
    th = ((v1h << 13) | (v1l >>> 19)) >>> 0, tl = ((v1l << 13) | (v1h >>> 19)) >>> 0;
    v1h = (th ^ v0h) >>> 0, v1l = (tl ^ v0l) >>> 0;
    th = ((v3h << 16) | (v3l >>> 16)) >>> 0, tl = ((v3l << 16) | (v3h >>> 16)) >>> 0;
    v3h = (th ^ v2h) >>> 0, v3l = (tl ^ v2l) >>> 0;
    // v0 = rotl(v0, 32)
    th = v0h, v0h = v0l, v0l = th;
    // v2 += v1; v0 += v3
    s = v2l + v1l;
    v2h = (v2h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0, v2l = s >>> 0;
    s = v0l + v3l;
    v0h = (v0h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0, v0l = s >>> 0;
    // v1 = rotl(v1, 17) ^ v2; v3 = rotl(v3, 21) ^ v0
    th = ((v1h << 17) | (v1l >>> 15)) >>> 0, tl = ((v1l << 17) | (v1h >>> 15)) >>> 0;
    v1h = (th ^ v2h) >>> 0, v1l = (tl ^ v2l) >>> 0;
    th = ((v3h << 21) | (v3l >>> 11)) >>> 0, tl = ((v3l << 21) | (v3h >>> 11)) >>> 0;
    v3h = (th ^ v0h) >>> 0, v3l = (tl ^ v0l) >>> 0;
    // v2 = rotl(v2, 32)
    th = v2h, v2h = v2l, v2l = th;
    v0h = (v0h ^ mh) >>> 0, v0l = (v0l ^ ml) >>> 0;
  }
  v2l = (v2l ^ 0xff) >>> 0;
  for (let r = 0; r < 3; r++) {
    // SipRound, as above.
    s = v0l + v1l;
    v0h = (v0h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0, v0l = s >>> 0;
    s = v2l + v3l;
    v2h = (v2h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0, v2l = s >>> 0;
    th = ((v1h << 13) | (v1l >>> 19)) >>> 0, tl = ((v1l << 13) | (v1h >>> 19)) >>> 0;
    v1h = (th ^ v0h) >>> 0, v1l = (tl ^ v0l) >>> 0;
    th = ((v3h << 16) | (v3l >>> 16)) >>> 0, tl = ((v3l << 16) | (v3h >>> 16)) >>> 0;
    v3h = (th ^ v2h) >>> 0, v3l = (tl ^ v2l) >>> 0;
    th = v0h, v0h = v0l, v0l = th;
    s = v2l + v1l;
    v2h = (v2h + v1h + (s > 0xffffffff ? 1 : 0)) >>> 0, v2l = s >>> 0;
    s = v0l + v3l;
    v0h = (v0h + v3h + (s > 0xffffffff ? 1 : 0)) >>> 0, v0l = s >>> 0;
    th = ((v1h << 17) | (v1l >>> 15)) >>> 0, tl = ((v1l << 17) | (v1h >>> 15)) >>> 0;
    v1h = (th ^ v2h) >>> 0, v1l = (tl ^ v2l) >>> 0;
    th = ((v3h << 21) | (v3l >>> 11)) >>> 0, tl = ((v3l << 21) | (v3h >>> 11)) >>> 0;
    v3h = (th ^ v0h) >>> 0, v3l = (tl ^ v0l) >>> 0;
    th = v2h, v2h = v2l, v2l = th;
  }
  return [(v0h ^ v1h ^ v2h ^ v3h) >>> 0, (v0l ^ v1l ^ v2l ^ v3l) >>> 0];
}
