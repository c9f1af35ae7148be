/**
 * The I/O and JSON floor of `convert`, run as its own process by `convert_bench.ts`: a plain Deno
 * program that reads the input in blocks, `JSON.parse`s every line, builds and `JSON.stringify`s
 * objects of the size `convert` writes (one per batch of `split_num` schema items, each with the
 * instruction text, the schema batch, the input text and its share of the annotations; test lines
 * with an id and the whole annotation list; EET keeps types and triggers, EEA writes one line per
 * record with events), and writes them as `convert` does: encoded into one reused buffer, through
 * a temporary file renamed over the target. It converts nothing: no Python-exact spelling, no
 * checks, no sampling, no hashing. (`convert` can still come out slightly ahead where it skips
 * work this program does, e.g. copying a text with nothing to escape instead of escaping it
 * twice, or reading the next block while it converts this one.)
 *
 *     deno run -A bench/convert_floor.ts SRC TGT SCHEMA TASK SPLIT LANGUAGE
 *
 * @module
 */

import { forEachLine } from "./_floor_lines.ts";

const [src, tgt, schemaPath, task, split, language] = Deno.args;
const SPLIT_NUM = 4;
const INSTRUCTION = language === "zh"
  ? "你是专门进行信息抽取的专家。请从input中抽取出符合schema定义的内容，不存在的返回空列表。请按照JSON字符串的格式回答。"
  : "You are an expert in information extraction. Please extract what matches the schema definition from the input. " +
    "Return an empty list for what does not exist. Please respond in the format of a JSON string.";
const ID = "0".repeat(64);

const schemaLines = (await Deno.readTextFile(schemaPath)).split("\n");
const schema: string[] = JSON.parse(schemaLines[task === "RE" ? 1 : 0]);
const batches: string[][] = [];
for (let i = 0; i < schema.length; i += SPLIT_NUM) batches.push(schema.slice(i, i + SPLIT_NUM));
const source = src.split("/").at(-2) ?? "";

const temp = `${tgt}.floor-${Deno.pid}.tmp`;
const out = await Deno.open(temp, { write: true, create: true, truncate: true });
const encoder = new TextEncoder();
let parts: string[] = [];
let pending = 0;
let buffer = new Uint8Array(0);
/** Write the gathered lines, encoded into one reused buffer (the fastest way Deno offers). */
async function flush(): Promise<void> {
  const text = parts.join("");
  if (buffer.length < text.length * 3) buffer = new Uint8Array(text.length * 3);
  const data = buffer.subarray(0, encoder.encodeInto(text, buffer).written);
  for (let off = 0; off < data.length;) off += await out.write(data.subarray(off));
  parts = [];
  pending = 0;
}

function convertLine(line: string): void {
  const record = JSON.parse(line);
  let annotations: Array<Record<string, unknown>> = [];
  for (const key in record) if (Array.isArray(record[key])) annotations = record[key];
  let lineBatches = batches;
  if (task === "EET") {
    // EET asks for types and triggers only.
    annotations = annotations.map((a) => ({ event_trigger: a.event_trigger, event_type: a.event_type }));
  } else if (task === "EEA") {
    // EEA asks, once per record with events, for the arguments of the record's own event types.
    if (annotations.length === 0) return;
    lineBatches = [[...new Set(annotations.map((a) => a.event_type as string))]];
  }
  const per = Math.ceil(annotations.length / lineBatches.length);
  for (let b = 0; b < lineBatches.length; b++) {
    const instruction = JSON.stringify({ instruction: INSTRUCTION, schema: lineBatches[b], input: record.text });
    const text = split === "train"
      ? JSON.stringify({ task, source, instruction, output: JSON.stringify(annotations.slice(b * per, b * per + per)) })
      : JSON.stringify({ id: ID, task, source, instruction, label: JSON.stringify(annotations) });
    parts.push(text + "\n");
    pending += text.length;
  }
}

await forEachLine(src, convertLine, async () => {
  if (pending >= 1 << 18) await flush();
});
await flush();
out.close();
await Deno.rename(temp, tgt);
