/**
 * Python sets built record after record from a few schema names, remembered by what decides
 * them. A set built by adding names one by one has an iteration order (and a difference with the
 * schema's set) fixed by the sequence of distinct names added, so the converter, which builds
 * such a set for every record (an EE training record's event types, and the roles of each),
 * works the results out once per sequence. Names are handled as small numbers for the cache keys.
 *
 * @module
 */

import { PySet } from "../pycompat/mod.ts";

/**
 * Names as small numbers (1, 2, …), the same number for the same name for as long as the
 * process runs: cache keys and sampling work on them; the names are looked up at the end.
 *
 * @example
 * ```ts
 * import { NameIds } from "./subset_orders.ts";
 * const ids = new NameIds();
 * const a = ids.id("attack");
 * if (ids.id("attack") !== a || ids.name(a) !== "attack" || ids.id("place") === a) throw new Error();
 * ```
 */
export class NameIds {
  readonly #ids = new Map<string, number>();
  readonly #names: string[] = [""];

  /**
   * The number of a name (a new one for a name not seen before).
   *
   * @param name the name
   * @returns its number, ≥ 1
   */
  id(name: string): number {
    let id = this.#ids.get(name);
    if (id === undefined) {
      id = this.#names.length;
      this.#ids.set(name, id);
      this.#names.push(name);
    }
    return id;
  }

  /**
   * The name of a number `id` gave.
   *
   * @param id the number
   * @returns the name
   */
  name(id: number): string {
    return this.#names[id];
  }

  /**
   * Numbers of names, in order.
   *
   * @param names the names
   * @returns their numbers
   */
  ids(names: readonly string[]): number[] {
    return names.map((n) => this.id(n));
  }
}

/** The schema names every run shares (types, relations, roles). */
export const SCHEMA_NAMES: NameIds = new NameIds();

/**
 * A cache key for a short sequence of name numbers: one number while `head` and up to seven
 * numbers are below 64 (base-64 digits), otherwise text. Different `(head, sequence)` pairs get
 * different keys (numbers start at 1, so the count of digits tells the length).
 *
 * @param head a number the key starts with (a type, or the sequence's length)
 * @param seq the numbers, each ≥ 1
 * @param length how many of `seq`'s first numbers count
 * @returns the key
 *
 * @example
 * ```ts
 * import { sequenceKey } from "./subset_orders.ts";
 * if (sequenceKey(2, [3, 5], 2) !== 2 * 64 ** 2 + 3 * 64 + 5) throw new Error();
 * if (sequenceKey(2, [3, 500], 2) !== "2:3,500") throw new Error();
 * ```
 */
export function sequenceKey(head: number, seq: readonly number[], length: number): number | string {
  let key = head;
  if (length <= 7 && head < 64) {
    let i = 0;
    for (; i < length && seq[i] < 64; i++) key = key * 64 + seq[i];
    if (i === length) return key;
  }
  return head + ":" + seq.slice(0, length).join(",");
}

/** What a set of names gives against a schema set. */
export interface SubsetOrder {
  /** The names in the set's iteration order. */
  members: string[];
  /** The same as name numbers. */
  memberIds: number[];
  /** `list(schema - set)`: the schema names left, in that set's order. */
  rest: string[];
  /** The same as name numbers. */
  restIds: number[];
}

const orders = new WeakMap<PySet, Map<number | string, SubsetOrder>>();

/**
 * `set(names)` and `list(schema - set(names))` for names added in the order of
 * `seq[0..length)` (distinct name numbers of {@linkcode SCHEMA_NAMES}), remembered per schema
 * set and sequence.
 *
 * @param schema the schema's set (not changed afterwards)
 * @param seq distinct name numbers in the order they were added
 * @param length how many of `seq`'s first numbers count
 * @returns the set's order and what it leaves of the schema (shared: copy before changing)
 *
 * @example
 * ```ts
 * import { PyStrHasher, PySet } from "../pycompat/mod.ts";
 * import { SCHEMA_NAMES, subsetOrder } from "./subset_orders.ts";
 * const h = new PyStrHasher(0);
 * const schema = PySet.from(h, ["a", "b", "c"]);
 * const got = subsetOrder(schema, [SCHEMA_NAMES.id("c"), SCHEMA_NAMES.id("x")], 2);
 * const set = PySet.from(h, ["c", "x"]);
 * if (got.members.join() !== set.toArray().join()) throw new Error();
 * if (got.rest.join() !== schema.difference(set).toArray().join()) throw new Error();
 * ```
 */
export function subsetOrder(schema: PySet, seq: readonly number[], length: number): SubsetOrder {
  let cache = orders.get(schema);
  if (cache === undefined || cache.size >= 100_000) orders.set(schema, cache = new Map());
  const key = sequenceKey(length, seq, length);
  let order = cache.get(key);
  if (order === undefined) {
    const set = new PySet(schema.hasher);
    for (let i = 0; i < length; i++) set.add(SCHEMA_NAMES.name(seq[i]));
    const members = set.toArray();
    const rest = schema.differenceArray(set);
    order = { members, memberIds: SCHEMA_NAMES.ids(members), rest, restIds: SCHEMA_NAMES.ids(rest) };
    cache.set(key, order);
  }
  return order;
}
