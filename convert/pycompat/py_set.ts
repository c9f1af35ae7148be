/**
 * A set of strings that iterates in the order a CPython 3.11 `set` would: same hash-table size,
 * same probe sequence (linear probes of 10 slots, then perturbed jumps), same resize points,
 * same reuse of deleted ("dummy") slots. IEPile's converter lists sets in many places, so their
 * iteration order is part of its output.
 *
 * @module
 */

import type { HashedStr, PyStrHasher } from "./py_hash.ts";

const DUMMY: HashedStr = Object.freeze({ key: "<dummy>", hi: 0xffffffff, lo: 0xffffffff });
const LINEAR_PROBES = 9;
const MIN_SIZE = 8;

type Slot = HashedStr | undefined;

/**
 * A CPython-ordered string set.
 *
 * @example
 * ```ts
 * import { PyStrHasher } from "./py_hash.ts";
 * import { PySet } from "./py_set.ts";
 * const h = new PyStrHasher(0);
 * const s = PySet.from(h, ["person", "location", "organization"]);
 * // PYTHONHASHSEED=0 python3.11 -c 'print(list({"person", "location", "organization"}))'
 * if (s.toArray().join() !== "organization,location,person") throw new Error(s.toArray().join());
 * ```
 */
export class PySet {
  /** The hasher (and so the hash seed) this set uses. */
  readonly hasher: PyStrHasher;
  #table: Slot[] = new Array(MIN_SIZE);
  #mask = MIN_SIZE - 1;
  #fill = 0; // active + dummy slots
  #used = 0; // active slots
  /** `differenceArray` results by the other set's elements; dropped whenever this set changes. */
  #differences: Map<number | string, string[]> | undefined;
  /** The elements in slot order (what `toArray` copies); dropped whenever this set changes. */
  #elements: string[] | undefined;

  /**
   * Create a `PySet`.
   *
   * @param hasher the string hasher for the simulated interpreter
   */
  constructor(hasher: PyStrHasher) {
    this.hasher = hasher;
  }

  /**
   * `set(items)`: a new set with the items added in order.
   *
   * @param hasher the string hasher
   * @param items the strings
   * @returns the set
   *
   * @example
   * ```ts
   * import { PyStrHasher } from "./py_hash.ts";
   * import { PySet } from "./py_set.ts";
   * if (PySet.from(new PyStrHasher(0), ["a", "a"]).size !== 1) throw new Error();
   * ```
   */
  static from(hasher: PyStrHasher, items: Iterable<string>): PySet {
    const s = new PySet(hasher);
    for (const x of items) s.add(x);
    return s;
  }

  /**
   * `set(items)` for strings seen once (a record's own values): as `from`, with hashes that do not
   * enter the hasher's cache (see `PyStrHasher.hashOnce`).
   *
   * @param hasher the string hasher
   * @param items the strings
   * @returns the set
   *
   * @example
   * ```ts
   * import { PyStrHasher } from "./py_hash.ts";
   * import { PySet } from "./py_set.ts";
   * const h = new PyStrHasher(0);
   * if (PySet.fromOnce(h, ["b", "a", "b"]).toArray().join() !== PySet.from(h, ["b", "a"]).toArray().join()) throw new Error();
   * ```
   */
  static fromOnce(hasher: PyStrHasher, items: Iterable<string>): PySet {
    const s = new PySet(hasher);
    for (const x of items) s.addOnce(x);
    return s;
  }

  /** Number of elements (`len(s)`). */
  get size(): number {
    return this.#used;
  }

  /**
   * `s.add(key)`.
   *
   * @param key the string
   *
   * @example
   * ```ts
   * import { PyStrHasher } from "./py_hash.ts";
   * import { PySet } from "./py_set.ts";
   * const s = new PySet(new PyStrHasher(0));
   * s.add("x");
   * if (!s.has("x")) throw new Error();
   * ```
   */
  add(key: string): void {
    this.#addEntry(this.hasher.hash(key));
  }

  /**
   * `s.add(key)` for a string seen once (see `fromOnce`).
   *
   * @param key the string
   *
   * @example
   * ```ts
   * import { PyStrHasher } from "./py_hash.ts";
   * import { PySet } from "./py_set.ts";
   * const s = new PySet(new PyStrHasher(0));
   * s.addOnce("x");
   * if (!s.has("x")) throw new Error();
   * ```
   */
  addOnce(key: string): void {
    this.#addEntry(this.hasher.hashOnce(key));
  }

  /**
   * `key in s`.
   *
   * @param key the string
   * @returns whether it is an element
   *
   * @example
   * ```ts
   * import { PyStrHasher } from "./py_hash.ts";
   * import { PySet } from "./py_set.ts";
   * if (PySet.from(new PyStrHasher(0), ["x"]).has("y")) throw new Error();
   * ```
   */
  has(key: string): boolean {
    return this.#find(this.hasher.hash(key)) >= 0;
  }

  /**
   * `s.update(other)` for another set or any iterable of strings (added in order).
   *
   * @param other a `PySet` (merged slot by slot, as CPython does) or strings
   *
   * @example
   * ```ts
   * import { PyStrHasher } from "./py_hash.ts";
   * import { PySet } from "./py_set.ts";
   * const h = new PyStrHasher(0);
   * const s = PySet.from(h, ["a"]);
   * s.update(PySet.from(h, ["b"]));
   * s.update(["c"]);
   * if (s.size !== 3) throw new Error();
   * ```
   */
  update(other: PySet | Iterable<string>): void {
    if (other instanceof PySet) this.#merge(other);
    else for (const x of other) this.add(x);
  }

  /**
   * `s.copy()`.
   *
   * @returns a new set with the same elements (its layout may differ, as in CPython)
   *
   * @example
   * ```ts
   * import { PyStrHasher } from "./py_hash.ts";
   * import { PySet } from "./py_set.ts";
   * const s = PySet.from(new PyStrHasher(0), ["a", "b"]);
   * if (s.copy().size !== 2) throw new Error();
   * ```
   */
  copy(): PySet {
    const out = new PySet(this.hasher);
    out.#merge(this);
    return out;
  }

  /**
   * `s - other`.
   *
   * @param other the set to subtract
   * @returns a new set
   *
   * @example
   * ```ts
   * import { PyStrHasher } from "./py_hash.ts";
   * import { PySet } from "./py_set.ts";
   * const h = new PyStrHasher(0);
   * const d = PySet.from(h, ["a", "b", "c"]).difference(PySet.from(h, ["b"]));
   * if (d.size !== 2 || d.has("b")) throw new Error();
   * ```
   */
  difference(other: PySet): PySet {
    if ((this.#used >> 2) > other.#used) {
      const out = this.copy();
      for (const e of other.#entries()) out.#discard(e);
      if (out.#fill - out.#used > (out.#mask >>> 2)) out.#resize(out.#used > 50000 ? out.#used * 2 : out.#used * 4);
      return out;
    }
    const out = new PySet(this.hasher);
    for (const e of this.#entries()) if (other.#find(e) < 0) out.#addEntry(e);
    return out;
  }

  /**
   * `list(s - other)`, remembered per membership of `other` while this set does not change: the
   * converter subtracts each record's few positives from the same schema set, record after
   * record, and the result depends only on which elements `other` holds.
   *
   * @param other the set to subtract
   * @returns a new array (the caller may change it)
   *
   * @example
   * ```ts
   * import { PyStrHasher } from "./py_hash.ts";
   * import { PySet } from "./py_set.ts";
   * const h = new PyStrHasher(0);
   * const all = PySet.from(h, ["a", "b", "c"]);
   * const once = all.differenceArray(PySet.from(h, ["b"]));
   * if (once.join() !== all.difference(PySet.from(h, ["b"])).toArray().join()) throw new Error();
   * if (all.differenceArray(PySet.from(h, ["b"])) === once) throw new Error("a fresh array each time");
   * ```
   */
  differenceArray(other: PySet): string[] {
    const key = this.#membershipKey(other);
    if (this.#differences === undefined || this.#differences.size >= 4096) this.#differences = new Map();
    let found = this.#differences.get(key);
    if (found === undefined) this.#differences.set(key, found = this.difference(other).toArray());
    return found.slice();
  }

  /**
   * What `differenceArray` depends on, as its cache key: which of this set's elements `other`
   * holds and how many elements `other` has (it picks `difference`'s path). For a table of up to
   * 32 slots, a number: a bit per slot of this set that `other` holds, plus `other`'s size times
   * 2^32; otherwise `other`'s elements as JSON.
   */
  #membershipKey(other: PySet): number | string {
    if (this.#mask >= 32 || other.#used >= 0x100000) return JSON.stringify(other.toArray());
    let bits = 0;
    for (const e of other.#table) {
      if (e === undefined || e === DUMMY) continue;
      const j = this.#find(e);
      if (j >= 0) bits |= 1 << j;
    }
    return (bits >>> 0) + other.#used * 0x100000000;
  }

  /**
   * `list(s)`: the elements in iteration (slot) order.
   *
   * @returns a new array
   *
   * @example
   * ```ts
   * import { PyStrHasher } from "./py_hash.ts";
   * import { PySet } from "./py_set.ts";
   * if (PySet.from(new PyStrHasher(0), []).toArray().length !== 0) throw new Error();
   * ```
   */
  toArray(): string[] {
    if (this.#elements === undefined) {
      const out: string[] = [];
      for (const e of this.#table) if (e !== undefined && e !== DUMMY) out.push(e.key);
      this.#elements = out;
    }
    return this.#elements.slice();
  }

  /**
   * Push the elements onto `out` in iteration order (`out.push(...s.toArray())` without the copy).
   *
   * @param out the array to extend
   * @returns `out`
   *
   * @example
   * ```ts
   * import { PyStrHasher } from "./py_hash.ts";
   * import { PySet } from "./py_set.ts";
   * const s = PySet.from(new PyStrHasher(0), ["b", "c"]);
   * if (s.appendTo(["a"]).join() !== ["a", ...s.toArray()].join()) throw new Error();
   * ```
   */
  appendTo(out: string[]): string[] {
    for (const e of this.#table) if (e !== undefined && e !== DUMMY) out.push(e.key);
    return out;
  }

  /**
   * Iterate like `for x in s`.
   *
   * @returns an iterator over the elements in slot order
   *
   * @example
   * ```ts
   * import { PyStrHasher } from "./py_hash.ts";
   * import { PySet } from "./py_set.ts";
   * if ([...PySet.from(new PyStrHasher(0), ["z"])].join() !== "z") throw new Error();
   * ```
   */
  [Symbol.iterator](): Iterator<string> {
    return this.toArray()[Symbol.iterator]();
  }

  *#entries(): Generator<HashedStr> {
    for (const e of this.#table) if (e !== undefined && e !== DUMMY) yield e;
  }

  // #find, #addEntry and #insertClean each walk CPython's probe sequence (10 linear slots, then a
  // perturbed jump); it is written out in each because they run for every set operation.

  /** Slot of `e`, or -1. */
  #find(e: HashedStr): number {
    const table = this.#table;
    const mask = this.#mask;
    let i = e.lo & mask;
    let pLo = e.lo, pHi = e.hi;
    for (;;) {
      const last = i + LINEAR_PROBES <= mask ? i + LINEAR_PROBES : i;
      for (let j = i; j <= last; j++) {
        const cur = table[j];
        if (cur === undefined) return -1;
        if (cur !== DUMMY && cur.lo === e.lo && cur.hi === e.hi && (cur === e || cur.key === e.key)) return j;
      }
      pLo = ((pLo >>> 5) | (pHi << 27)) >>> 0;
      pHi >>>= 5;
      i = (i * 5 + 1 + pLo) & mask;
    }
  }

  #addEntry(e: HashedStr): void {
    this.#differences = undefined;
    this.#elements = undefined;
    const table = this.#table;
    const mask = this.#mask;
    let i = e.lo & mask;
    let pLo = e.lo, pHi = e.hi;
    let freeSlot = -1;
    for (;;) {
      const last = i + LINEAR_PROBES <= mask ? i + LINEAR_PROBES : i;
      for (let j = i; j <= last; j++) {
        const cur = table[j];
        if (cur === undefined) {
          if (freeSlot >= 0) {
            table[freeSlot] = e;
            this.#used++;
            return;
          }
          table[j] = e;
          this.#fill++;
          this.#used++;
          if (this.#fill * 5 >= mask * 3) this.#resize(this.#used > 50000 ? this.#used * 2 : this.#used * 4);
          return;
        }
        if (cur === DUMMY) freeSlot = j;
        else if (cur.lo === e.lo && cur.hi === e.hi && (cur === e || cur.key === e.key)) return;
      }
      pLo = ((pLo >>> 5) | (pHi << 27)) >>> 0;
      pHi >>>= 5;
      i = (i * 5 + 1 + pLo) & mask;
    }
  }

  #discard(e: HashedStr): void {
    this.#differences = undefined;
    this.#elements = undefined;
    const j = this.#find(e);
    if (j < 0) return;
    this.#table[j] = DUMMY;
    this.#used--;
  }

  /** Place `e` in the first empty slot of its probe sequence (no dummies, no duplicates). */
  #insertClean(e: HashedStr): void {
    const table = this.#table;
    const mask = this.#mask;
    let i = e.lo & mask;
    let pLo = e.lo, pHi = e.hi;
    for (;;) {
      const last = i + LINEAR_PROBES <= mask ? i + LINEAR_PROBES : i;
      for (let j = i; j <= last; j++) {
        if (table[j] === undefined) {
          table[j] = e;
          return;
        }
      }
      pLo = ((pLo >>> 5) | (pHi << 27)) >>> 0;
      pHi >>>= 5;
      i = (i * 5 + 1 + pLo) & mask;
    }
  }

  #resize(minUsed: number): void {
    let size = MIN_SIZE;
    while (size <= minUsed) size *= 2;
    if (size === MIN_SIZE && this.#mask === MIN_SIZE - 1 && this.#fill === this.#used) return;
    const old = this.#table;
    this.#table = new Array(size);
    this.#mask = size - 1;
    this.#fill = this.#used;
    for (const e of old) if (e !== undefined && e !== DUMMY) this.#insertClean(e);
  }

  /** CPython's set_merge: `self |= other` where other is a set. */
  #merge(other: PySet): void {
    this.#differences = undefined;
    this.#elements = undefined;
    if (other === this || other.#used === 0) return;
    if ((this.#fill + other.#used) * 5 >= this.#mask * 3) this.#resize((this.#used + other.#used) * 2);
    if (this.#fill === 0 && this.#mask === other.#mask && other.#fill === other.#used) {
      for (let i = 0; i <= other.#mask; i++) {
        const e = other.#table[i];
        if (e !== undefined) this.#table[i] = e;
      }
      this.#fill = other.#fill;
      this.#used = other.#used;
      return;
    }
    if (this.#fill === 0) {
      this.#fill = this.#used = other.#used;
      for (const e of other.#entries()) this.#insertClean(e);
      return;
    }
    for (const e of other.#entries()) this.#addEntry(e);
  }
}
