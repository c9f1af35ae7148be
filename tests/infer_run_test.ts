/**
 * `iepile infer` end to end on the bundled data with the untrained demo model: convert → infer →
 * eval. Checks the constrained-decoding guarantee (every answer parses, with exactly the schema's
 * keys, in order), that WebGPU gives the CPU engine's answers, that a run killed with SIGKILL and
 * started again with the same command loses and duplicates nothing, and the record shape.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { writeDemoModel } from "../scripts/demo_model.ts";
import { webGpuAvailable } from "../infer/mod.ts";
import { runCli, tempDir } from "./_shared.ts";

const DATA = new URL("../data/", import.meta.url).pathname;
const MOD = new URL("../mod.ts", import.meta.url).pathname;
const HAVE_GPU = await webGpuAvailable();
if (!HAVE_GPU) console.warn("SKIPPED the WebGPU infer test: no WebGPU adapter here");

async function setup(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/model`);
  await writeDemoModel(`${dir}/model`);
  for (const task of ["NER", "EE"]) {
    const r = await runCli([
      "convert",
      ...["--src_path", `${DATA}${task}/sample.json`, "--schema_path", `${DATA}${task}/schema.json`],
      ...["--tgt_path", `${dir}/${task}_test.json`, "--task", task, "--language", "en", "--split", "test"],
      ...["--split_num", task === "NER" ? "3" : "2", "--quiet"],
    ]);
    equal(r.code, 0, r.stderr);
  }
}

function lines(text: string): Array<Record<string, string>> {
  return text.trim().split("\n").map((l) => JSON.parse(l));
}

/** The constrained-decoding guarantee: the answer is JSON with exactly the instruction's schema keys, in order. */
function checkShape(rec: Record<string, string>): void {
  const schema = JSON.parse(rec.instruction).schema as Array<string | { event_type: string }>;
  const keys = schema.map((s) => typeof s === "string" ? s : s.event_type);
  const answer = JSON.parse(rec.output);
  deepEqual(Object.keys(answer), keys, rec.output);
}

Deno.test("infer (cpu, constrained): every answer parses with exactly the asked keys; eval scores the file", async () => {
  await using tmp = await tempDir();
  await setup(tmp.dir);
  for (const task of ["NER", "EE"]) {
    const r = await runCli([
      "infer",
      ...["--model", `${tmp.dir}/model`, "--template", "llama2_zh", "--engine", "cpu"],
      ...["--input", `${tmp.dir}/${task}_test.json`, "--output", `${tmp.dir}/${task}_pred.json`],
      ...["--max-new-tokens", "48", "--quiet"],
    ]);
    equal(r.code, 0, r.stderr);
    const input = lines(await Deno.readTextFile(`${tmp.dir}/${task}_test.json`));
    const output = lines(await Deno.readTextFile(`${tmp.dir}/${task}_pred.json`));
    equal(output.length, input.length);
    output.forEach((rec, i) => {
      deepEqual(Object.keys(rec), ["id", "task", "source", "instruction", "label", "output"]);
      equal(rec.id, input[i].id);
      checkShape(rec);
    });
    const ev = await runCli(["eval", "--path1", `${tmp.dir}/${task}_pred.json`, "--task", task, "--json"]);
    equal(ev.code, 0, ev.stderr);
    equal(JSON.parse(ev.stdout).total["错误数"], 0, "no unparseable output");
  }
});

Deno.test("infer --extractive: every answer string is a span of the record's input", async () => {
  await using tmp = await tempDir();
  await setup(tmp.dir);
  const r = await runCli([
    "infer",
    ...["--model", `${tmp.dir}/model`, "--template", "alpaca", "--engine", "cpu", "--extractive"],
    ...["--input", `${tmp.dir}/NER_test.json`, "--output", `${tmp.dir}/pred.json`, "--max-new-tokens", "40", "--quiet"],
  ]);
  equal(r.code, 0, r.stderr);
  for (const rec of lines(await Deno.readTextFile(`${tmp.dir}/pred.json`))) {
    checkShape(rec);
    const input = JSON.parse(rec.instruction).input as string;
    for (const values of Object.values(JSON.parse(rec.output)) as string[][]) {
      for (const s of values) {
        ok(s === "" || input.includes(s.replace(/\uFFFD$/, "")), `${JSON.stringify(s)} not in ${input}`);
      }
    }
  }
});

Deno.test({
  name: "infer on WebGPU gives the CPU engine's answers",
  ignore: !HAVE_GPU,
  fn: async () => {
    await using tmp = await tempDir();
    await setup(tmp.dir);
    const run = (engine: string) =>
      runCli([
        "infer",
        ...["--model", `${tmp.dir}/model`, "--template", "llama2_zh", "--engine", engine, "--limit", "3"],
        ...[
          "--input",
          `${tmp.dir}/NER_test.json`,
          "--output",
          `${tmp.dir}/${engine}.json`,
          "--max-new-tokens",
          "24",
          "--quiet",
        ],
      ]);
    equal((await run("cpu")).code, 0);
    equal((await run("webgpu")).code, 0);
    const cpu = lines(await Deno.readTextFile(`${tmp.dir}/cpu.json`)).map((r) => r.output);
    const gpu = lines(await Deno.readTextFile(`${tmp.dir}/webgpu.json`)).map((r) => r.output);
    deepEqual(gpu, cpu);
  },
});

Deno.test("infer killed with SIGKILL and started again with the same command: nothing lost or duplicated", async () => {
  await using tmp = await tempDir();
  await setup(tmp.dir);
  const args = [
    "run",
    "-A",
    MOD,
    "infer",
    ...["--model", `${tmp.dir}/model`, "--template", "llama2_zh", "--engine", "cpu", "--quiet"],
    ...["--input", `${tmp.dir}/EE_test.json`, "--output", `${tmp.dir}/pred.json`, "--max-new-tokens", "200"],
  ];
  // Kill each run once the file holds one more finished record than before (so kills land at
  // different points of the next record's generation and writing), until a run completes.
  let kills = 0;
  const countLines = async () =>
    (await Deno.readTextFile(`${tmp.dir}/pred.json`).catch(() => "")).split("\n").length - 1;
  for (let round = 0; round < 30; round++) {
    const target = (await countLines()) + 1;
    const child = new Deno.Command(Deno.execPath(), { args, stdout: "null", stderr: "null" }).spawn();
    let exited = false;
    const status = child.status.then((s) => (exited = true, s));
    while (!exited) {
      await new Promise((r) => setTimeout(r, 5));
      if (!exited && (await countLines()) >= target) {
        await new Promise((r) => setTimeout(r, (round * 37) % 60)); // somewhere inside the next record
        try {
          child.kill("SIGKILL");
          kills++;
        } catch { /* finished meanwhile */ }
        break;
      }
    }
    if ((await status).success) break;
  }
  console.log(`infer killed ${kills} times before a run finished`);
  ok(kills > 0, "killed at least once");
  const r = await runCli([
    "infer",
    ...args.slice(4),
  ]);
  equal(r.code, 0, r.stderr);
  const input = lines(await Deno.readTextFile(`${tmp.dir}/EE_test.json`));
  const output = lines(await Deno.readTextFile(`${tmp.dir}/pred.json`));
  deepEqual(output.map((o) => o.id + o.instruction), input.map((o) => o.id + o.instruction));
  output.forEach(checkShape);
  // The same answers as an uninterrupted run: greedy decoding does not depend on where the run stopped.
  const fresh = await runCli([
    "infer",
    ...args.slice(4, -4),
    "--output",
    `${tmp.dir}/fresh.json`,
    "--max-new-tokens",
    "200",
  ]);
  equal(fresh.code, 0, fresh.stderr);
  deepEqual(output.map((o) => o.output), lines(await Deno.readTextFile(`${tmp.dir}/fresh.json`)).map((o) => o.output));
});

Deno.test("infer --no-constrain lets the untrained model write what it likes (IEPile's behaviour)", async () => {
  await using tmp = await tempDir();
  await setup(tmp.dir);
  const r = await runCli([
    "infer",
    ...["--model", `${tmp.dir}/model`, "--template", "llama2_zh", "--engine", "cpu", "--no-constrain"],
    ...["--input", `${tmp.dir}/NER_test.json`, "--output", `${tmp.dir}/pred.json`, "--max-new-tokens", "16", "--quiet"],
  ]);
  equal(r.code, 0, r.stderr);
  const outputs = lines(await Deno.readTextFile(`${tmp.dir}/pred.json`)).map((rec) => rec.output);
  const valid = outputs.filter((o) => {
    try {
      JSON.parse(o);
      return true;
    } catch {
      return false;
    }
  });
  ok(valid.length < outputs.length, "random weights rarely write valid JSON unconstrained");
});
