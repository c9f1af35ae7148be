/**
 * JSON text as Python's `json.dump(value, indent=N, ensure_ascii=False)` writes it: a newline
 * and N spaces per level, `,` at line ends, `": "` between key and value, `[]` / `{}` for empty
 * containers, Python float spelling, and no trailing newline.
 *
 * @module
 */

import { pyDumps, type PyJson, PyNumber } from "./py_json.ts";

/**
 * Serialize like Python `json.dumps(value, indent=indent, ensure_ascii=False)`.
 *
 * @param value strings, numbers, booleans, null, `PyNumber`, arrays, `Map`s and plain objects
 * @param indent spaces per nesting level (default 4)
 * @returns the JSON text, without a trailing newline
 *
 * @example
 * ```ts
 * import { pyDumpsIndent } from "./py_json_indent.ts";
 * import { PyNumber } from "./py_json.ts";
 * const got = pyDumpsIndent({ total: { "总样本数": 6, F1: new PyNumber("40.0", 40) }, e: [] });
 * const want = '{\n    "total": {\n        "总样本数": 6,\n        "F1": 40.0\n    },\n    "e": []\n}';
 * if (got !== want) throw new Error(got);
 * ```
 */
export function pyDumpsIndent(value: PyJson, indent = 4): string {
  return dump(value, "", " ".repeat(indent));
}

function dump(value: PyJson, pad: string, step: string): string {
  if (typeof value !== "object" || value === null || value instanceof PyNumber) return pyDumps(value);
  const inner = pad + step;
  if (Array.isArray(value)) {
    if (value.length === 0) return "[]";
    return "[\n" + value.map((v) => inner + dump(v, inner, step)).join(",\n") + "\n" + pad + "]";
  }
  const entries = value instanceof Map ? [...value.entries()] : Object.entries(value);
  if (entries.length === 0) return "{}";
  return "{\n" + entries.map(([k, v]) => inner + pyDumps(k) + ": " + dump(v, inner, step)).join(",\n") + "\n" +
    pad + "}";
}
