/**
 * Small builders of WebAssembly text shared by the kernel generators: indentation, constants,
 * horizontal sums, multiply–adds and a group's guarded stores, and the two memories a kernel
 * module imports.
 *
 * @module
 */

/** Where a weight load's memory operand goes: filled in by {@linkcode withWeightsMemory}. */
const WEIGHTS_MARK = "⟪weights⟫";

/** The memory weight matrices are read from while a module's text is made. */
let weightsIndex: 0 | 1 = 0;

/**
 * Make a module's text with its weight loads from memory `index`: 0, one memory for everything
 * (`env.memory`); 1, the weights in a memory of their own (`env.weights`), everything else
 * (activations, caches, scratch, outputs) in memory 0. The engine takes the second where its
 * weights pass one memory's 4 GiB (one module instance per weights' memory); V8 checks
 * the bounds of a memory other than the first on every access (a load about 25% dearer in a
 * cached loop here), so the first is the default. Weight loads are written with
 * {@linkcode weightsMemory}'s mark (texts made ahead, such as the formats' scalar loads, too),
 * which this fills in.
 *
 * @param index the weights' memory
 * @param text the module's text
 * @returns the text, every mark filled in
 *
 * @example
 * ```ts
 * import { weightsMemory, withWeightsMemory } from "./wat.ts";
 * const load = `(v128.load${weightsMemory()} (local.get $p))`;
 * if (withWeightsMemory(1, () => load) !== "(v128.load 1 (local.get $p))") throw new Error();
 * if (withWeightsMemory(0, () => load) !== "(v128.load (local.get $p))") throw new Error();
 * ```
 */
export function withWeightsMemory(index: 0 | 1, text: () => string): string {
  const was = weightsIndex;
  weightsIndex = index;
  try {
    return text().replaceAll(WEIGHTS_MARK, index ? ` ${index}` : "");
  } finally {
    weightsIndex = was;
  }
}

/**
 * The memory operand of a weight load, as a mark {@linkcode withWeightsMemory} fills in (` 1`
 * where the weights have a memory of their own, else nothing: memory 0).
 *
 * @returns the mark
 *
 * @example
 * ```ts
 * import { weightsMemory, withWeightsMemory } from "./wat.ts";
 * if (withWeightsMemory(1, () => `(i32.load${weightsMemory()} offset=4 (local.get $p))`) !== "(i32.load 1 offset=4 (local.get $p))") throw new Error();
 * ```
 */
export function weightsMemory(): string {
  return WEIGHTS_MARK;
}

/**
 * Whether the module being made reads its weights from a memory of their own.
 *
 * @returns true inside {@linkcode withWeightsMemory}(1, …)
 *
 * @example
 * ```ts
 * import { weightsSplit, withWeightsMemory } from "./wat.ts";
 * if (withWeightsMemory(1, () => String(weightsSplit())) !== "true" || weightsSplit()) throw new Error();
 * ```
 */
export function weightsSplit(): boolean {
  return weightsIndex !== 0;
}

/**
 * The module's memory imports: the shared memory (`env.memory`), and the weights' own
 * (`env.weights`) where they have one; each up to 4 GiB.
 *
 * @returns the import lines
 *
 * @example
 * ```ts
 * import { memoryImports, withWeightsMemory } from "./wat.ts";
 * if (memoryImports().includes("weights") || !withWeightsMemory(1, memoryImports).includes(`"env" "weights"`)) throw new Error();
 * ```
 */
export function memoryImports(): string {
  const shared = `  (import "env" "memory" (memory 1 65536 shared))`;
  return weightsIndex ? `${shared}\n  (import "env" "weights" (memory 1 65536 shared))` : shared;
}

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
 * A v128 constant with the byte `v` in each of its 16 lanes.
 *
 * @param v the byte
 * @returns the constant
 *
 * @example
 * ```ts
 * import { i8x16 } from "./wat.ts";
 * if (i8x16(15) !== `(v128.const i8x16 ${Array(16).fill(15).join(" ")})`) throw new Error();
 * ```
 */
export const i8x16 = (v: number): string => `(v128.const i8x16 ${Array(16).fill(v).join(" ")})`;

/**
 * The 16 bytes of activations at byte `at` from the local `$xq` (the kernels' input pointer).
 *
 * @param at the byte offset
 * @returns the load expression
 *
 * @example
 * ```ts
 * import { xqLoad } from "./wat.ts";
 * if (xqLoad(32) !== "(v128.load offset=32 (local.get $xq))") throw new Error();
 * ```
 */
export const xqLoad = (at: number): string => `(v128.load offset=${at} (local.get $xq))`;

/**
 * The horizontal sum of an f32x4 local (or, given `op`, another reduction of its lanes, e.g.
 * `f32.max`), as an f32 expression: lanes 0 and 1, lanes 2 and 3, then the two.
 *
 * @param v the local's name
 * @param op the f32 operation joining two lanes (default `f32.add`)
 * @returns the expression
 *
 * @example
 * ```ts
 * import { hsum } from "./wat.ts";
 * if (!hsum("$a").startsWith("(f32.add") || !hsum("$a", "f32.max").startsWith("(f32.max")) throw new Error();
 * ```
 */
export function hsum(v: string, op = "f32.add"): string {
  return `(${op} (${op} (f32x4.extract_lane 0 (local.get ${v})) (f32x4.extract_lane 1 (local.get ${v}))) ` +
    `(${op} (f32x4.extract_lane 2 (local.get ${v})) (f32x4.extract_lane 3 (local.get ${v}))))`;
}

/**
 * A loop over `count` f32 values from the pointer local `p`: `vector` four at a time, then
 * `scalar` on the rest one at a time; after each pass `p` and each local of `also` step on by
 * 16 or 4 bytes. Uses the i32 local `$end`; `label` keeps its blocks' names apart from another
 * such loop's in the function.
 *
 * @param label a prefix for the blocks' names
 * @param p the pointer local compared with `$end`
 * @param count the number of values (an i32 expression)
 * @param vector the statements for four values at `p`
 * @param scalar the statements for one value at `p`
 * @param also other pointer locals stepping with `p`
 * @returns the statements
 *
 * @example
 * ```ts
 * import { fourThenOne } from "./wat.ts";
 * const s = fourThenOne("m", "$p", "(local.get $n)", ["(nop)"], ["(nop)"], ["$q"]).join("\n");
 * if (!s.includes("(br_if $mvd") || !s.includes("(local.set $q (i32.add (local.get $q) (i32.const 4)))")) throw new Error(s);
 * ```
 */
export function fourThenOne(
  label: string,
  p: string,
  count: string,
  vector: readonly string[],
  scalar: readonly string[],
  also: readonly string[] = [],
): string[] {
  const step = (bytes: number) => [p, ...also].map((v) => `(local.set ${v} (i32.add (local.get ${v}) ${c(bytes)}))`);
  return [
    `(local.set $end (i32.add (local.get ${p}) (i32.shl (i32.and ${count} ${c(-4)}) ${c(2)})))`,
    `(block $${label}vd (loop $${label}vs`,
    lines(
      2,
      `(br_if $${label}vd (i32.ge_u (local.get ${p}) (local.get $end)))`,
      ...vector,
      ...step(16),
      `(br $${label}vs)`,
    ),
    `))`,
    `(local.set $end (i32.add (local.get $end) (i32.shl (i32.and ${count} ${c(3)}) ${c(2)})))`,
    `(block $${label}sd (loop $${label}ss`,
    lines(
      2,
      `(br_if $${label}sd (i32.ge_u (local.get ${p}) (local.get $end)))`,
      ...scalar,
      ...step(4),
      `(br $${label}ss)`,
    ),
    `))`,
  ];
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
 * Whether the text being generated has fused multiply-adds ({@linkcode withFusedMad}): a
 * multiply and an add need a register more than one fused multiply-add, so a tile that fills the
 * registers with fused ones spills without them.
 *
 * @returns whether {@linkcode mad} is fused here
 *
 * @example
 * ```ts
 * import { fusedMad, withFusedMad } from "./wat.ts";
 * if (fusedMad() || withFusedMad(() => String(fusedMad())) !== "true") throw new Error();
 * ```
 */
export function fusedMad(): boolean {
  return fused;
}

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

/**
 * A function's text with each distinct non-zero `v128.const` moved into a local set once at the
 * function's start: V8 builds a v128 constant in a register at every use (two 64-bit immediates
 * moved in, about four instructions), where a local costs a register or one reload.
 *
 * @param text one `(func …)`, its locals each on lines of their own after the header line
 * @returns the text, the constants read from locals `$K0`, `$K1`, …
 *
 * @example
 * ```ts
 * import { hoistConstants } from "./wat.ts";
 * const f = [
 *   `(func $f (param $v v128) (result v128)`,
 *   `  (local $t v128)`,
 *   `  (v128.and (local.get $v) (v128.const i8x16 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15 15))`,
 *   `)`,
 * ].join("\n");
 * const h = hoistConstants(f);
 * if (!h.includes("(local $K0 v128)") || !h.includes("(v128.and (local.get $v) (local.get $K0))")) throw new Error(h);
 * ```
 */
export function hoistConstants(text: string): string {
  const lines = text.split("\n");
  const head = lines.findIndex((l) => l.trimStart().startsWith("(func "));
  if (head < 0) throw new Error("hoistConstants: no (func …) in the text");
  let at = head + 1;
  while (at < lines.length && lines[at].trimStart().startsWith("(local ")) at++;
  const names = new Map<string, string>();
  const body = lines.slice(at).join("\n").replace(/\(v128\.const ([^)]*)\)/g, (whole, value: string) => {
    const numbers = value.trim().split(/\s+/).slice(1);
    if (numbers.every((n) => Number(n) === 0)) return whole;
    let name = names.get(whole);
    if (name === undefined) names.set(whole, name = `$K${names.size}`);
    return `(local.get ${name})`;
  });
  if (names.size === 0) return text;
  const indent = lines[at].match(/^\s*/)?.[0] ?? "";
  const decls = [...names.values()].map((n) => `(local ${n} v128)`).join(" ");
  const sets = [...names].map(([value, n]) => `${indent}(local.set ${n} ${value})`);
  return [...lines.slice(0, at), indent + decls, ...sets, body].join("\n");
}

/**
 * A module's text with {@linkcode hoistConstants} applied to each of its functions (a function
 * runs from its `(func` line to the `)` line at the same indent).
 *
 * @param text the module's text
 * @returns the text, each function's constants in its locals
 *
 * @example
 * ```ts
 * import { hoistModuleConstants } from "./wat.ts";
 * const m = [
 *   `(module`,
 *   `  (func $f (param $v v128) (result v128)`,
 *   `    (v128.and (local.get $v) (v128.const i32x4 7 7 7 7))`,
 *   `  )`,
 *   `)`,
 * ].join("\n");
 * if (!hoistModuleConstants(m).includes("(local.set $K0 (v128.const i32x4 7 7 7 7))")) throw new Error();
 * ```
 */
export function hoistModuleConstants(text: string): string {
  const lines = text.split("\n");
  const out: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const indent = lines[i].match(/^\s*/)?.[0] ?? "";
    if (!lines[i].trimStart().startsWith("(func ")) {
      out.push(lines[i]);
      continue;
    }
    let end = i + 1;
    while (end < lines.length && lines[end] !== `${indent})`) end++;
    if (end === lines.length) throw new Error(`hoistModuleConstants: the function at line ${i + 1} has no end`);
    out.push(hoistConstants(lines.slice(i, end + 1).join("\n")));
    i = end;
  }
  return out.join("\n");
}

/**
 * The body of a kernel `(w, x, y, in, out, r0, r1, n, scratch)` that takes the groups of 4 rows
 * `r0 ≤ o < r1` one at a time: each unpacked (or widened) into `$scratch` by `unpack`, then
 * multiplied with every token by `run`, given the end of the group's rows (`r1` for the last).
 *
 * @param unpack the statement unpacking group `$o` into `$scratch`
 * @param run the statements running over it, given the group's last row + 1 (an i32 expression)
 * @returns the body's lines (its one local, `$o`, first)
 *
 * @example
 * ```ts
 * import { scratchGroups } from "./wat.ts";
 * const body = scratchGroups("(call $unpack)", (end) => [`(call $tile ${end})`]).join("\n");
 * if (!body.includes("(call $tile (select (local.get $r1)")) throw new Error(body);
 * ```
 */
export function scratchGroups(unpack: string, run: (end: string) => string[]): string[] {
  const next = `(i32.add (local.get $o) ${c(4)})`;
  return [
    `(local $o i32)`,
    `(local.set $o (local.get $r0))`,
    `(block $end (loop $rows`,
    lines(
      2,
      `(br_if $end (i32.ge_u (local.get $o) (local.get $r1)))`,
      unpack,
      ...run(`(select (local.get $r1) ${next} (i32.lt_u (local.get $r1) ${next}))`),
      `(local.set $o ${next})`,
      `(br $rows)`,
    ),
    `))`,
  ];
}
