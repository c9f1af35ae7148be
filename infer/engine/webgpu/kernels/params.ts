/**
 * A kernel's parameter struct, declared once: the same field list writes the WGSL `struct`
 * and packs the uniform buffer that fills it, so the two cannot drift apart.
 *
 * Fields are 4 bytes each, in declaration order: `u32`, `f32`, or `flag` (a boolean, `u32` 0
 * or 1 in WGSL). The struct is padded to a multiple of 16 bytes.
 *
 * @module
 */

/** The type of one field: `u32`, `f32`, or `flag` (a boolean seen as `u32` 0 or 1 by WGSL). */
export type ParamType = "u32" | "f32" | "flag";

/** The values that fill a struct: numbers for `u32` and `f32` fields, booleans for flags. */
export type ParamValues<F extends Record<string, ParamType>> = {
  readonly [K in keyof F]: F[K] extends "flag" ? boolean : number;
};

/**
 * A parameter struct: its WGSL text and the packing of its values.
 *
 * @example
 * ```ts
 * import { ParamStruct } from "./params.ts";
 * const P = new ParamStruct("Params", { dim: "u32", last_only: "flag", eps: "f32" });
 * if (!P.wgsl.includes("struct Params { dim: u32, last_only: u32, eps: f32, _pad0: u32 };")) throw new Error();
 * const bytes = P.pack({ dim: 8, last_only: true, eps: 0.5 });
 * if (bytes.byteLength !== 16 || new Uint32Array(bytes)[1] !== 1) throw new Error();
 * if (new Float32Array(bytes)[2] !== 0.5) throw new Error();
 * ```
 */
export class ParamStruct<F extends Record<string, ParamType>> {
  /** The WGSL struct name. */
  readonly name: string;
  /** The fields, in order. */
  readonly fields: Readonly<F>;
  /** Bytes of the uniform buffer (a multiple of 16). */
  readonly size: number;
  /** The WGSL `struct` declaration. */
  readonly wgsl: string;

  /**
   * Declare a struct.
   *
   * @param name its WGSL name
   * @param fields field names and types, in order
   */
  constructor(name: string, fields: F) {
    this.name = name;
    this.fields = fields;
    const names = Object.keys(fields);
    this.size = Math.max(1, Math.ceil(names.length / 4)) * 16;
    const decl = names.map((n) => `${n}: ${fields[n] === "f32" ? "f32" : "u32"}`);
    for (let i = 0; decl.length < this.size / 4; i++) decl.push(`_pad${i}: u32`);
    this.wgsl = `\nstruct ${name} { ${decl.join(", ")} };`;
  }

  /**
   * The uniform buffer's bytes for these values.
   *
   * @param values one per field
   * @returns `size` bytes, padding zero
   * @throws {RangeError} when a `u32` value is not an integer in range
   */
  pack(values: ParamValues<F>): ArrayBuffer {
    const bytes = new ArrayBuffer(this.size);
    const u = new Uint32Array(bytes);
    const f = new Float32Array(bytes);
    Object.keys(this.fields).forEach((name, i) => {
      const v = (values as Record<string, number | boolean>)[name];
      const type = this.fields[name];
      if (type === "f32") f[i] = v as number;
      else if (type === "flag") u[i] = v ? 1 : 0;
      else if (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 0xffffffff) u[i] = v as number;
      else throw new RangeError(`${this.name}.${name} must be a u32, got ${v}`);
    });
    return bytes;
  }
}
