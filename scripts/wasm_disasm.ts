/**
 * What V8 compiled a WebAssembly function into: reads a jitdump file (written by a run with
 * `--v8-flags=--perf-prof,--no-liftoff`), takes the largest TurboFan copy of function `--index`
 * (its index in its module's `.wat`, counting from 0; every module of the process has one of each
 * index, and the kernels are the large ones), disassembles it with `objdump`, and prints the
 * count of each instruction in its longest loop (the span of its longest backward jump), the
 * bounds checks among them (`cmp` + `jae`: Deno runs WebAssembly without V8's trap handler) and
 * the accesses to the stack frame (spills). `--print` prints the disassembly too.
 *
 *     deno run -A --v8-flags=--perf-prof,--no-liftoff bench/quant_kernel_bench.ts --formats q6_k --runs 1 --rows 64 --cols 256
 *     deno run -A scripts/wasm_disasm.ts --index 5 jit-*.dump
 *
 * @module
 */

import { parseArgs } from "node:util";

const USAGE = "deno run -A scripts/wasm_disasm.ts --index N [--print] JITDUMP";
let parsed;
try {
  parsed = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { index: { type: "string" }, print: { type: "boolean", default: false }, help: { type: "boolean" } },
  });
} catch (e) {
  console.error(`${(e as Error).message.split("\n")[0]}\nusage: ${USAGE}`);
  Deno.exit(2);
}
const { values, positionals } = parsed;
if (values.help) {
  console.log(`usage: ${USAGE}`);
  Deno.exit(0);
}
const index = Number(values.index);
if (!Number.isInteger(index) || index < 0 || positionals.length !== 1) {
  console.error(`give --index N (a function's index in its module) and one jitdump file\nusage: ${USAGE}`);
  Deno.exit(2);
}

/** The code of the largest record named `JS:wasm-function[index]-index-turbofan`. */
function largestCode(dump: Uint8Array, name: string): Uint8Array | undefined {
  const view = new DataView(dump.buffer, dump.byteOffset, dump.byteLength);
  const decoder = new TextDecoder();
  let best: Uint8Array | undefined;
  // A header (its size at byte 8), then records: id u32, size u32, timestamp u64, body.
  for (let at = view.getUint32(8, true); at + 16 <= dump.length;) {
    const [id, size] = [view.getUint32(at, true), view.getUint32(at + 4, true)];
    if (size === 0) break;
    if (id === 0) {
      // Code load: pid u32, tid u32, vma u64, code address u64, code size u64, index u64, name\0, code.
      const codeSize = Number(view.getBigUint64(at + 16 + 24, true));
      const from = at + 16 + 40;
      const end = dump.indexOf(0, from);
      if (decoder.decode(dump.subarray(from, end)) === name && codeSize > (best?.length ?? 0)) {
        best = dump.subarray(end + 1, end + 1 + codeSize);
      }
    }
    at += size;
  }
  return best;
}

let dump: Uint8Array;
try {
  dump = await Deno.readFile(positionals[0]);
} catch (e) {
  console.error(`${positionals[0]}: ${(e as Error).message}`);
  Deno.exit(1);
}
const name = `JS:wasm-function[${index}]-${index}-turbofan`;
const code = largestCode(dump, name);
if (!code) {
  console.error(`${positionals[0]}: no ${name} (run with --v8-flags=--perf-prof,--no-liftoff)`);
  Deno.exit(1);
}
const bin = await Deno.makeTempFile({ suffix: ".bin" });
let text: string;
try {
  await Deno.writeFile(bin, code);
  const out = await new Deno.Command("objdump", { args: ["-D", "-b", "binary", "-mi386:x86-64", bin] }).output();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr).trim());
  text = new TextDecoder().decode(out.stdout);
} catch (e) {
  console.error(`objdump: ${(e as Error).message}`);
  Deno.exit(1);
} finally {
  await Deno.remove(bin);
}
if (values.print) console.log(text);
// "  addr:\tbytes\tinstruction"; a long instruction's further bytes are on lines of two fields.
const ins = text.split("\n").flatMap((line) => {
  const [addr, , op] = line.split("\t");
  const m = /^\s*([0-9a-f]+):$/.exec(addr ?? "");
  return m && op?.trim() ? [{ at: parseInt(m[1], 16), op: op.trim() }] : [];
});
let loop = { from: 0, to: -1 };
for (const { at, op } of ins) {
  const jump = /^j\w+\s+0x([0-9a-f]+)/.exec(op);
  const target = jump ? parseInt(jump[1], 16) : NaN;
  if (target < at && at - target > loop.to - loop.from) loop = { from: target, to: at };
}
const body = ins.filter((i) => i.at >= loop.from && i.at <= loop.to);
const counts = new Map<string, number>();
for (const { op } of body) counts.set(op.split(/\s+/)[0], (counts.get(op.split(/\s+/)[0]) ?? 0) + 1);
const stack = body.filter((i) => /\(%r[bs]p\)/.test(i.op)).length;
console.log(
  `${name}: ${code.length} bytes; longest loop 0x${loop.from.toString(16)}–0x${loop.to.toString(16)}, ` +
    `${body.length} instructions, ${counts.get("cmp") ?? 0} cmp and ${counts.get("jae") ?? 0} jae ` +
    `(bounds checks), ${stack} stack accesses`,
);
console.log([...counts].sort((a, b) => b[1] - a[1]).map(([op, n]) => `${op} ${n}`).join(", "));
