/**
 * The state one conversion run shares across records: options, the schema as Python sets, the
 * hard-negative dictionary, and the two random generators (Python `random` and numpy's legacy
 * generator, both seeded with 42 and consumed continuously across the file, as in IEPile).
 *
 * @module
 */

import { NumpyLegacyRandom, PyRandom, PySet, PyStrHasher } from "./pycompat/mod.ts";
import type { SchemaLists } from "./schema.ts";
import type { Language, Task } from "./instructions.ts";

/** Options of a conversion, as the IEPile flags name them. */
export interface ConvertOptions {
  /** Task (`--task`). */
  task: Task;
  /** Instruction language (`--language`, default `zh`). */
  language: Language;
  /** `train` writes targets (`output`), `test` writes ids and `label` (`--split`). */
  split: "train" | "test";
  /** Schemas per instruction, -1 for all (`--split_num`, default 4). */
  splitNum: number;
  /** Probability of keeping each negative schema / role, in [0, 1] (`--neg_schema`, default 1). */
  negSchema: number;
  /** Shuffle schemas instead of sorting them (`--random_sort`). */
  randomSort: boolean;
  /** Hard-negative sampling (`--cluster_mode`; train only, needs a hard-negative dictionary). */
  clusterMode: boolean;
  /** The `PYTHONHASHSEED` whose set order is reproduced (default 0). */
  hashSeed: number;
  /** The `source` field written on every record. */
  source: string;
}

/**
 * `defaultdict(set)` of type → roles (schema line 3): looking up an unknown type inserts an
 * empty set, which changes later key iteration, as in IEPile.
 *
 * @example
 * ```ts
 * import { TypeRoles } from "./context.ts";
 * import { PyStrHasher } from "./pycompat/mod.ts";
 * const tr = new TypeRoles(new PyStrHasher(0), [["attack", ["place"]]]);
 * tr.get("unknown");
 * if (tr.size !== 2 || tr.get("attack").size !== 1) throw new Error();
 * ```
 */
export class TypeRoles {
  readonly #map = new Map<string, PySet>();
  readonly #hasher: PyStrHasher;

  /**
   * Create a `TypeRoles`.
   *
   * @param hasher the string hasher of the run
   * @param entries type → roles pairs in file order
   */
  constructor(hasher: PyStrHasher, entries: ReadonlyArray<readonly [string, readonly string[]]>) {
    this.#hasher = hasher;
    for (const [k, v] of entries) this.#map.set(k, PySet.from(hasher, v));
  }

  /** Number of types (keys), including inserted ones. */
  get size(): number {
    return this.#map.size;
  }

  /**
   * The role set of a type, inserting an empty one for an unknown type.
   *
   * @param type the type
   * @returns its role set
   *
   * @example
   * ```ts
   * import { TypeRoles } from "./context.ts";
   * import { PyStrHasher } from "./pycompat/mod.ts";
   * if (new TypeRoles(new PyStrHasher(0), []).get("x").size !== 0) throw new Error();
   * ```
   */
  get(type: string): PySet {
    let s = this.#map.get(type);
    if (s === undefined) {
      s = new PySet(this.#hasher);
      this.#map.set(type, s);
    }
    return s;
  }

  /**
   * The types in insertion order.
   *
   * @returns an array of the keys
   *
   * @example
   * ```ts
   * import { TypeRoles } from "./context.ts";
   * import { PyStrHasher } from "./pycompat/mod.ts";
   * if (new TypeRoles(new PyStrHasher(0), [["b", []], ["a", []]]).keys().join() !== "b,a") throw new Error();
   * ```
   */
  keys(): string[] {
    return [...this.#map.keys()];
  }
}

/** Everything a task's sampler and target builder read and draw from. */
export interface SamplingContext {
  /** The conversion options. */
  readonly options: ConvertOptions;
  /** The string hasher (the run's `PYTHONHASHSEED`). */
  readonly hasher: PyStrHasher;
  /** Python `random` (sample, shuffle). */
  readonly random: PyRandom;
  /** numpy legacy generator (binomial counts). */
  readonly numpy: NumpyLegacyRandom;
  /** Schema line 1 as a set. */
  readonly types: PySet;
  /** Schema line 2 as a set. */
  readonly roles: PySet;
  /** Schema line 3. */
  readonly typeRoles: TypeRoles;
  /** Number of binomial draws for negative types: |types| (NER, SPO, EET), |roles| (RE, KG), type count (EE, EEA). */
  readonly labelLength: number;
  /** Hard negatives per positive key (cluster mode). */
  readonly hardNegatives?: ReadonlyMap<string, PySet>;
}

/**
 * Build the per-run context: sets from the schema (in the interpreter's hash order), fresh
 * generators seeded with 42, and the hard-negative sets.
 *
 * @param options the conversion options
 * @param schema the schema lists
 * @param hardNegatives the flat hard-negative dictionary (cluster mode)
 * @returns the context
 *
 * @example
 * ```ts
 * import { createContext } from "./context.ts";
 * const ctx = createContext(
 *   { task: "NER", language: "en", split: "train", splitNum: 4, negSchema: 1, randomSort: false, clusterMode: false, hashSeed: 0, source: "NER" },
 *   { types: ["person", "place"], roles: [], typeRoles: [] },
 * );
 * if (ctx.labelLength !== 2) throw new Error();
 * ```
 */
export function createContext(
  options: ConvertOptions,
  schema: SchemaLists,
  hardNegatives?: ReadonlyMap<string, readonly string[]>,
): SamplingContext {
  const hasher = new PyStrHasher(options.hashSeed);
  const types = PySet.from(hasher, schema.types);
  const roles = PySet.from(hasher, schema.roles);
  const typeRoles = new TypeRoles(hasher, schema.typeRoles);
  const t = options.task;
  const labelLength = t === "RE" || t === "KG" ? roles.size : t === "EE" || t === "EEA" ? typeRoles.size : types.size;
  let hard: Map<string, PySet> | undefined;
  if (hardNegatives !== undefined) {
    hard = new Map();
    for (const [k, v] of hardNegatives) hard.set(k, PySet.from(hasher, v));
  }
  return {
    options,
    hasher,
    random: new PyRandom(42),
    numpy: new NumpyLegacyRandom(42),
    types,
    roles,
    typeRoles,
    labelLength,
    hardNegatives: hard,
  };
}
