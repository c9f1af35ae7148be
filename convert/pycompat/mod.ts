/**
 * The Python-compatibility layer of the converter: CPython 3.11 string hashing and set
 * iteration order, Python's `random` (`shuffle`, `sample`), and numpy's legacy binomial
 * draws. Together they let `convert` reproduce IEPile's Python output byte for byte under a
 * given `PYTHONHASHSEED` (the `--hash-seed` option).
 *
 * @example
 * ```ts
 * import { NumpyLegacyRandom, PyRandom, PySet, PyStrHasher } from "./mod.ts";
 * const set = PySet.from(new PyStrHasher(0), ["b", "a"]);
 * new PyRandom(42).shuffle(set.toArray());
 * new NumpyLegacyRandom(42).binomialSum(0.5, 3);
 * ```
 *
 * @module
 */

export { type HashedStr, hashSeedKeys, PyStrHasher } from "./py_hash.ts";
export { PySet } from "./py_set.ts";
export { MT19937 } from "./mt19937.ts";
export { PyRandom } from "./py_random.ts";
export { NumpyLegacyRandom } from "./np_binomial.ts";
