/**
 * iepile — IEPile's schema-based information extraction tools for Deno: convert annotated IE
 * data into IEPile instructions, byte for byte as the Python reference writes them, render them
 * into the exact prompts the IE models were trained with, and score model outputs with IEPile's
 * metrics.
 *
 * Imported, this module is the dependency-free library (convert, eval, io). Prompt templates and
 * tokenizers, which bring npm packages, are imported from `@iepile/cli/templates`. Executed (`deno run -A jsr:@iepile/cli convert …`), it is
 * the command line.
 *
 * @example
 * ```ts
 * import { Converter, readRecord } from "./mod.ts";
 * const converter = new Converter(
 *   { task: "RE", language: "en", split: "train", splitNum: -1, negSchema: 1, randomSort: false, clusterMode: false, hashSeed: 0, source: "demo" },
 *   { types: [], roles: ["born in", "works for"], typeRoles: [] },
 * );
 * const record = readRecord({ text: "Ann, born in Oslo.", relation: [{ head: "Ann", relation: "born in", tail: "Oslo" }] }, "RE", "train");
 * const out = JSON.parse(JSON.parse(converter.convert(record)[0]).output);
 * if (out["born in"][0].tail !== "Oslo" || out["works for"].length !== 0) throw new Error();
 * ```
 *
 * @module
 */

export * from "./convert/mod.ts";
export {
  addLine,
  type AnswerStats,
  emptyStats,
  type FileKind,
  formatStats,
  type GoldStats,
  type InstructionStats,
  recordKind,
  statsFile,
} from "./convert/stats.ts";
export * from "./eval/mod.ts";
export * from "./io/mod.ts";
export { type CliIo, main, VERSION } from "./cli.ts";

if (import.meta.main) {
  const { main } = await import("./cli.ts");
  // A signal removes the temporary output files and exits 128 + its number (130 for Ctrl-C).
  const { exitOnSignals } = await import("./io/signals.ts");
  exitOnSignals();
  Deno.exit(await main(Deno.args));
}
