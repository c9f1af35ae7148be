/**
 * Small builders of WebAssembly text shared by the kernel generators: indentation, constants,
 * horizontal sums, multiply–adds and a group's guarded stores.
 *
 * @module
 */

/**
 * One statement per line, indented.
 *
 * @param indent spaces before each line
 * @param parts statements (empty ones dropped)
 * @returns the text
 *
 * @example
 * ```ts
 * import { lines } from "./wat.ts";
 * if (lines(2, "(nop)", "", "(nop)") !== "  (nop)\n  (nop)") throw new Error();
 * ```
 */
export function lines(indent: number, ...parts: string[]): string {
  return parts.filter((p) => p !== "").map((p) => p.split("\n").map((l) => " ".repeat(indent) + l).join("\n"))
    .join("\n");
}

/**
 * `i32.const` of a number.
 *
 * @param v the number
 * @returns the expression
 *
 * @example
 * ```ts
 * import { c } from "./wat.ts";
 * if (c(4) !== "(i32.const 4)") throw new Error();
 * ```
 */
export const c = (v: number): string => `(i32.const ${v})`;

/**
 * The horizontal sum of an f32x4 local, as an f32 expression.
 *
 * @param v the local's name
 * @returns the expression
 *
 * @example
 * ```ts
 * import { hsum } from "./wat.ts";
 * if (!hsum("$a").startsWith("(f32.add")) throw new Error();
 * ```
 */
export function hsum(v: string): string {
  return `(f32.add (f32.add (f32x4.extract_lane 0 (local.get ${v})) (f32x4.extract_lane 1 (local.get ${v}))) ` +
    `(f32.add (f32x4.extract_lane 2 (local.get ${v})) (f32x4.extract_lane 3 (local.get ${v}))))`;
}

/**
 * `acc += a * b` on f32x4 locals/expressions.
 *
 * @param acc the accumulator local
 * @param a one factor
 * @param b the other
 * @returns the statement
 *
 * @example
 * ```ts
 * import { mad } from "./wat.ts";
 * if (!mad("$a", "(local.get $b)", "(local.get $c)").includes("f32x4.mul")) throw new Error();
 * ```
 */
export function mad(acc: string, a: string, b: string): string {
  if (fused) return `(local.set ${acc} (f32x4.relaxed_madd ${a} ${b} (local.get ${acc})))`;
  return `(local.set ${acc} (f32x4.add (local.get ${acc}) (f32x4.mul ${a} ${b})))`;
}

/** Whether {@linkcode mad} emits relaxed SIMD's fused multiply-add (set by {@linkcode withFusedMad}). */
let fused = false;

/**
 * Generate text with every {@linkcode mad} a relaxed-SIMD `f32x4.relaxed_madd` (one fused
 * multiply-add where the CPU has one; the plain multiply and add elsewhere).
 *
 * @param generate makes the text
 * @returns its text with fused multiply-adds
 *
 * @example
 * ```ts
 * import { mad, withFusedMad } from "./wat.ts";
 * if (!withFusedMad(() => mad("$a", "(local.get $b)", "(local.get $c)")).includes("relaxed_madd")) throw new Error();
 * ```
 */
export function withFusedMad(generate: () => string): string {
  fused = true;
  try {
    return generate();
  } finally {
    fused = false;
  }
}

/**
 * The stores of a group's 4 outputs at `$yo`, each only where its row (`$o` + r) is below `$r1`.
 *
 * @param value row r's f32 expression
 * @param stride bytes between consecutive rows' outputs (an i32 expression)
 * @returns the statements
 *
 * @example
 * ```ts
 * import { c, groupStores } from "./wat.ts";
 * if (groupStores((r) => `(f32.const ${r})`, c(4)).length !== 4) throw new Error();
 * ```
 */
export function groupStores(value: (r: number) => string, stride: string): string[] {
  return [0, 1, 2, 3].map((r) =>
    r === 0
      ? `(f32.store (local.get $yo) ${value(r)})`
      : `(if (i32.lt_u (i32.add (local.get $o) ${c(r)}) (local.get $r1)) (then (f32.store (i32.add (local.get $yo) ${
        r === 1 ? stride : `(i32.mul ${stride} ${c(r)})`
      }) ${value(r)})))`
  );
}
