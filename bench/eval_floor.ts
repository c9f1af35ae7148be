/**
 * The I/O and JSON floor of `eval`, run as its own process by `eval_bench.ts`: a plain Deno
 * program that reads a prediction file in blocks, `JSON.parse`s every line and the model output
 * inside it (`JSON.parse` of `output`, invalid outputs counted), and prints a one-line count. It
 * scores nothing: no gold labels, no matching, no Python-exact parsing. Any evaluator pays at
 * least this.
 *
 *     deno run -A bench/eval_floor.ts PREDICTIONS
 *
 * @module
 */

import { forEachLine } from "./_floor_lines.ts";

let lines = 0, invalid = 0, keys = 0;
function readLine(line: string): void {
  const record = JSON.parse(line);
  lines++;
  try {
    const output = JSON.parse(record.output);
    for (const _ in output) keys++;
  } catch {
    invalid++;
  }
}

await forEachLine(Deno.args[0], readLine);
console.log(`${lines} lines, ${invalid} invalid outputs, ${keys} answer keys`);
