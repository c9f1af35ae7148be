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

const file = await Deno.open(Deno.args[0], { read: true });
const decoder = new TextDecoder();
const buf = new Uint8Array(1 << 18);
let carry = "";
for (;;) {
  const n = await file.read(buf);
  if (n === null) break;
  const parts = (carry + decoder.decode(buf.subarray(0, n), { stream: true })).split("\n");
  carry = parts.pop()!;
  for (const line of parts) if (line !== "") readLine(line);
}
if (carry.trim() !== "") readLine(carry);
file.close();
console.log(`${lines} lines, ${invalid} invalid outputs, ${keys} answer keys`);
