/**
 * The distinct tuples of one record with their gold and predicted counts. A run keeps one bag
 * per record until the end, so a bag is one flat array (the tuple's members, its label and its
 * three counts per entry) rather than an object per tuple: less for the garbage collector to
 * copy and trace. Records hold few tuples, so small bags compare tuples member by member
 * (strings with `===`, others by `tupleKey`); bags that grow large switch to a key index.
 *
 * @module
 */

import { pyDumps, type PyJson } from "../io/py_json.ts";
import { tupleKey } from "./tuple_key.ts";

/** One distinct tuple and how often each side holds it. */
export interface BagSlot {
  /** The tuple (first occurrence). */
  readonly tuple: readonly PyJson[];
  /** The label it counts under (a string member, or its JSON). */
  readonly label: string;
  /** Gold count. */
  readonly gold: number;
  /** Count among strictly parsed predictions. */
  readonly pred: number;
  /** Count among predictions when repaired outputs count too. */
  readonly predLenient: number;
}

/** Which count {@linkcode TupleBag.add} increments. */
export type BagSide = "gold" | "pred" | "predLenient" | "both";

const INDEX_FROM = 16;
// Entry layout after the `arity` members: label, key (undefined for all-string tuples), gold, pred, predLenient.
const LABEL = 0, KEY = 1, GOLD = 2, PRED = 3, PRED_LENIENT = 4, EXTRA = 5;

/**
 * Counts of distinct tuples of one arity, compared with Python's `==` (see `tupleKey`).
 *
 * @example
 * ```ts
 * import { TupleBag } from "./tuple_bag.ts";
 * const bag = new TupleBag(2);
 * bag.add(["Ann", "person"], 1, "gold");
 * bag.add(["Ann", "person"], 1, "pred");
 * bag.add(["Ann", 1], 1, "pred");
 * bag.add(["Ann", true], 1, "pred"); // True == 1 in Python
 * const slots = bag.slots.map((s) => `${s.label}:${s.gold}/${s.pred}`).join(" ");
 * if (slots !== "person:1/1 1:0/2") throw new Error(slots);
 * ```
 */
export class TupleBag {
  readonly #arity: number;
  readonly #stride: number;
  readonly #data: (PyJson | undefined)[] = [];
  #index: Map<string, number> | undefined;

  /**
   * An empty bag.
   *
   * @param arity the number of members of every tuple it will hold
   */
  constructor(arity: number) {
    this.#arity = arity;
    this.#stride = arity + EXTRA;
  }

  /** Distinct tuples held. */
  get size(): number {
    return this.#data.length / this.#stride;
  }

  /**
   * Count one tuple.
   *
   * @param tuple the tuple (of the bag's arity)
   * @param labelIndex which member is its label
   * @param side which count to increment (`both` = `pred` and `predLenient`)
   *
   * @example
   * ```ts
   * import { TupleBag } from "./tuple_bag.ts";
   * const bag = new TupleBag(2);
   * for (let i = 0; i < 40; i++) bag.add([`e${i % 20}`, "t"], 1, "both");
   * if (bag.size !== 20 || bag.slots[3].predLenient !== 2) throw new Error();
   * ```
   */
  add(tuple: readonly PyJson[], labelIndex: number, side: BagSide): void {
    if (tuple.length !== this.#arity) {
      throw new RangeError(`tuple of ${tuple.length} members in a bag of ${this.#arity}`);
    }
    // Whether the tuple is all strings, and its key otherwise, are worked out once for both the
    // search and the insertion.
    const key = this.#index !== undefined || !allStrings(tuple) ? tupleKey(tuple) : undefined;
    let at = this.#find(tuple, key);
    if (at < 0) at = this.#insert(tuple, labelIndex, key);
    const d = this.#data as number[];
    const base = at + this.#arity;
    if (side === "gold") d[base + GOLD]++;
    else if (side === "pred") d[base + PRED]++;
    else if (side === "predLenient") d[base + PRED_LENIENT]++;
    else d[base + PRED]++, d[base + PRED_LENIENT]++;
  }

  /**
   * Visit every distinct tuple's label and counts (without building slot objects).
   *
   * @param visit called with label, gold, pred and predLenient counts
   *
   * @example
   * ```ts
   * import { TupleBag } from "./tuple_bag.ts";
   * const bag = new TupleBag(2);
   * bag.add(["Ann", "person"], 1, "gold");
   * let seen = "";
   * bag.forEachCount((label, gold, pred) => seen += `${label} ${gold} ${pred}`);
   * if (seen !== "person 1 0") throw new Error(seen);
   * ```
   */
  forEachCount(visit: (label: string, gold: number, pred: number, predLenient: number) => void): void {
    const d = this.#data;
    for (let at = this.#arity; at < d.length; at += this.#stride) {
      visit(d[at + LABEL] as string, d[at + GOLD] as number, d[at + PRED] as number, d[at + PRED_LENIENT] as number);
    }
  }

  /** The distinct tuples with their counts, in first-seen order. */
  get slots(): BagSlot[] {
    const out: BagSlot[] = [];
    const d = this.#data, n = this.#arity;
    for (let at = 0; at < d.length; at += this.#stride) {
      out.push({
        tuple: d.slice(at, at + n) as PyJson[],
        label: d[at + n + LABEL] as string,
        gold: d[at + n + GOLD] as number,
        pred: d[at + n + PRED] as number,
        predLenient: d[at + n + PRED_LENIENT] as number,
      });
    }
    return out;
  }

  /** Offset of the tuple's entry, or -1 (`key`: the tuple's key, `undefined` for an all-string tuple outside an index). */
  #find(tuple: readonly PyJson[], key: string | undefined): number {
    if (this.#index !== undefined) return this.#index.get(key!) ?? -1;
    const d = this.#data, n = this.#arity, stride = this.#stride;
    if (key === undefined) {
      // Strings equal only strings: an entry whose members match is an all-string one too.
      outer: for (let at = 0; at < d.length; at += stride) {
        for (let j = 0; j < n; j++) if (d[at + j] !== tuple[j]) continue outer;
        return at;
      }
      return -1;
    }
    for (let at = 0; at < d.length; at += stride) if (d[at + n + KEY] === key) return at;
    return -1;
  }

  #insert(tuple: readonly PyJson[], labelIndex: number, key: string | undefined): number {
    const d = this.#data;
    const at = d.length;
    const l = tuple[labelIndex];
    for (let j = 0; j < this.#arity; j++) d.push(tuple[j]);
    d.push(typeof l === "string" ? l : pyDumps(l), key, 0, 0, 0);
    if (this.#index !== undefined) {
      this.#index.set(key!, at);
    } else if (d.length >= INDEX_FROM * this.#stride) {
      this.#index = new Map();
      for (let a = 0; a < d.length; a += this.#stride) {
        const k = (d[a + this.#arity + KEY] as string | undefined) ?? tupleKey(d.slice(a, a + this.#arity) as PyJson[]);
        d[a + this.#arity + KEY] = k;
        this.#index.set(k, a);
      }
    }
    return at;
  }
}

function allStrings(tuple: readonly PyJson[]): boolean {
  for (let i = 0; i < tuple.length; i++) if (typeof tuple[i] !== "string") return false;
  return true;
}
