/**
 * Helper process for `convert_bench.ts`: convert one file and print the process's peak resident
 * memory (VmHWM) in MiB, so the bench can compare peaks across input sizes.
 *
 *     deno run -A bench/convert_peak_memory.ts SRC TGT SCHEMA
 *
 * @module
 */

import { convertFile } from "../convert/mod.ts";

const [srcPath, tgtPath, schemaPath] = Deno.args;
const summary = await convertFile({ task: "NER", split: "train", randomSort: true, srcPath, tgtPath, schemaPath });
const status = await Deno.readTextFile("/proc/self/status");
const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
console.log(JSON.stringify({ records: summary.records, bytesIn: summary.bytesIn, peakMiB: kib / 1024 }));
