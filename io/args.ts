/**
 * Command-line options for every `iepile` command: `node:util` `parseArgs` with IEPile's
 * snake_case names and kebab-case aliases, negative numbers accepted as values
 * (`--split_num -1`, as Python's argparse allows), and one-line usage errors.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { UsageError } from "./errors.ts";

/** Declared options: name → kind, with optional aliases and a one-letter short form. */
export type OptionSpec = Record<string, { type: "string" | "boolean"; short?: string; aliases?: readonly string[] }>;

/** Parsed options (under their main names) and positional arguments. */
export interface ParsedArgs {
  /** Option values by main name. */
  values: Record<string, string | boolean | undefined>;
  /** Arguments that are not options. */
  positionals: string[];
}

/**
 * An option spec from `[name, alias]` lists (an alias equal to the name adds nothing); `help`
 * gets `-h`.
 *
 * @param strings options that take a value
 * @param flags options without a value (a plain name, or `[name, alias]`)
 * @returns the spec
 *
 * @example
 * ```ts
 * import { optionSpec } from "./args.ts";
 * const spec = optionSpec([["src_path", "src-path"]], [["quiet", "quiet"], "help"]);
 * if (spec.src_path.aliases?.[0] !== "src-path" || spec.help.short !== "h") throw new Error();
 * ```
 */
export function optionSpec(
  strings: ReadonlyArray<readonly [string, string]>,
  flags: ReadonlyArray<string | readonly [string, string]>,
): OptionSpec {
  const spec: OptionSpec = {};
  const aliases = (name: string, alias: string) => (alias === name ? [] : [alias]);
  for (const [name, alias] of strings) spec[name] = { type: "string", aliases: aliases(name, alias) };
  for (const f of flags) {
    const [name, alias] = typeof f === "string" ? [f, f] : f;
    spec[name] = { type: "boolean", aliases: aliases(name, alias), short: name === "help" ? "h" : undefined };
  }
  return spec;
}

/**
 * Parse a command's arguments.
 *
 * @param args the arguments after the command name
 * @param spec the options
 * @param command the command's name (for messages)
 * @returns values by main option name, and positionals
 * @throws {UsageError} for an unknown option or a missing value, naming the command
 *
 * @example
 * ```ts
 * import { parseCommandArgs } from "./args.ts";
 * const { values } = parseCommandArgs(["--split-num", "-1", "--random_sort"], {
 *   split_num: { type: "string", aliases: ["split-num"] },
 *   random_sort: { type: "boolean", aliases: ["random-sort"] },
 * }, "convert");
 * if (values.split_num !== "-1" || values.random_sort !== true) throw new Error();
 * ```
 */
export function parseCommandArgs(args: readonly string[], spec: OptionSpec, command: string): ParsedArgs {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {};
  const main = new Map<string, string>();
  for (const [name, o] of Object.entries(spec)) {
    for (const n of [name, ...(o.aliases ?? [])]) {
      options[n] = n === name && o.short ? { type: o.type, short: o.short } : { type: o.type };
      main.set(n, name);
    }
  }
  const fixed: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const name = a.startsWith("--") ? a.slice(2) : undefined;
    if (name && options[name]?.type === "string" && /^-\d/.test(args[i + 1] ?? "")) fixed.push(`${a}=${args[++i]}`);
    else fixed.push(a);
  }
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: fixed, options, strict: true, allowPositionals: true });
  } catch (e) {
    throw new UsageError(`${command}: ${(e as Error).message.split("\n")[0]} (see 'iepile ${command} --help')`);
  }
  const values: Record<string, string | boolean | undefined> = {};
  for (const [n, v] of Object.entries(parsed.values)) values[main.get(n) ?? n] ??= v as string | boolean;
  return { values, positionals: parsed.positionals };
}

/**
 * A required string option.
 *
 * @param values parsed values
 * @param name the option's main name
 * @param command the command (for the message)
 * @returns the value
 * @throws {UsageError} when it is missing or empty
 *
 * @example
 * ```ts
 * import { requiredOption } from "./args.ts";
 * if (requiredOption({ model: "m" }, "model", "infer") !== "m") throw new Error();
 * ```
 */
export function requiredOption(values: ParsedArgs["values"], name: string, command: string): string {
  const v = values[name];
  if (typeof v !== "string" || v === "") {
    throw new UsageError(`${command}: --${name} is required (see 'iepile ${command} --help')`);
  }
  return v;
}

/**
 * A numeric option.
 *
 * @param value the raw value
 * @param flag the option name (for the message)
 * @param kind `integer` or `number`
 * @param min smallest accepted value, when any
 * @returns the number, or `undefined` when the option was not given
 * @throws {UsageError} when the value is not such a number
 *
 * @example
 * ```ts
 * import { numberOption } from "./args.ts";
 * if (numberOption("-1", "split_num", "integer") !== -1 || numberOption(undefined, "x", "number") !== undefined) throw new Error();
 * ```
 */
export function numberOption(
  value: string | boolean | undefined,
  flag: string,
  kind: "integer" | "number",
  min?: number,
): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value).trim();
  const n = Number(text);
  if (
    text === "" || !Number.isFinite(n) || (kind === "integer" && !/^-?\d+$/.test(text)) ||
    (min !== undefined && n < min)
  ) {
    const what = kind === "integer"
      ? min === 1 ? "a positive integer" : min === 0 ? "a non-negative integer" : "an integer"
      : "a number";
    const bound = min !== undefined && !(kind === "integer" && (min === 0 || min === 1)) ? ` ≥ ${min}` : "";
    throw new UsageError(`--${flag} expects ${what}${bound}, got "${value}"`);
  }
  return n;
}
