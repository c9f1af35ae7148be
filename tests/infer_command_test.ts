/**
 * The `infer` command's options and its failures, in-process on the untrained demo model (real
 * Mistral tokenizer, random weights): the run file that refuses a resume with other settings,
 * inputs that are not instruction records, a first failure's reason, a server that cannot be
 * reached, a context too small for any prompt, `--output -`, and IEPile's own inference.py flags.
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { writeDemoModel } from "../scripts/demo_model.ts";
import { writeRandomLora } from "../infer/testing/mod.ts";
import { runCli, tempDir } from "./_shared.ts";

const DATA = new URL("../data/", import.meta.url).pathname;

async function setup(dir: string): Promise<{ model: string; test: string }> {
  await Deno.mkdir(`${dir}/model`);
  await writeDemoModel(`${dir}/model`);
  const r = await runCli([
    "convert",
    ...["--src_path", `${DATA}NER/sample.json`, "--schema_path", `${DATA}NER/schema.json`],
    ...["--tgt_path", `${dir}/test.json`, "--task", "NER", "--language", "en", "--split", "test", "--quiet"],
  ]);
  equal(r.code, 0, r.stderr);
  return { model: `${dir}/model`, test: `${dir}/test.json` };
}

function lines(text: string): Array<Record<string, string>> {
  return text.trim().split("\n").map((l) => JSON.parse(l));
}

/** A closed local port: listened on once, then let go. */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** An OpenAI-compatible fake answering every completion with an empty NER answer. */
function fakeServer(): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (req.method === "POST") await req.json();
    if (path === "/v1/models") return Response.json({ data: [{ id: "tiny" }] });
    if (path === "/v1/completions") return Response.json({ choices: [{ text: "{}", finish_reason: "stop" }] });
    if (path === "/v1/chat/completions") {
      return Response.json({ choices: [{ message: { content: "{}" }, finish_reason: "stop" }] });
    }
    return new Response("not found", { status: 404 });
  });
}

Deno.test("resume with other settings is refused, naming each (old → new); --force-resume continues", async (t) => {
  await using tmp = await tempDir();
  const { model, test } = await setup(tmp.dir);
  const out = `${tmp.dir}/pred.json`;
  const base = ["infer", "--model", model, "--template", "alpaca", "--engine", "cpu", "--input", test, "--output", out];
  const quick = ["--max-new-tokens", "4", "--limit", "1", "--quiet"];
  equal((await runCli([...base, ...quick])).code, 0);
  const runFile = JSON.parse(await Deno.readTextFile(`${out}.run.json`)).settings;
  equal(runFile.template, "alpaca");
  equal(runFile["max-new-tokens"], 4);
  equal(runFile.engine, "local");
  const before = await Deno.readTextFile(out);
  equal(lines(before).length, 1);

  await t.step("the same settings continue", async () => {
    const r = await runCli([...base, "--max-new-tokens", "4", "--limit", "2"]);
    equal(r.code, 0, r.stderr);
    match(r.stderr, /1 records were already in the output/);
    equal(lines(await Deno.readTextFile(out)).length, 2);
  });

  await Deno.mkdir(`${tmp.dir}/other`);
  await writeDemoModel(`${tmp.dir}/other`, { seed: 8 });
  await writeRandomLora(`${tmp.dir}/lora`, model, { r: 2, alpha: 4, targets: ["q_proj"] });
  const changes: Array<[string, string[], RegExp]> = [
    ["model", ["--model", `${tmp.dir}/other`], /model: \/.*\/model → \/.*\/other/],
    ["lora", ["--lora", `${tmp.dir}/lora`], /lora: unset → \/.*\/lora/],
    ["template", ["--template", "vanilla"], /template: alpaca → vanilla/],
    ["engine family", ["--engine", "llamacpp"], /engine: local → llamacpp/],
    [
      "gguf",
      ["--engine", "llamacpp", "--gguf", `${tmp.dir}/model/config.json`],
      /llamacpp; gguf: unset → \/.*config\.json; gguf file: unset → 1 files/,
    ],
    ["--no-constrain", ["--no-constrain"], /constrain: true → false/],
    ["--extractive", ["--extractive"], /extractive: false → true/],
    ["--pair-keys", ["--pair-keys", "head,tail"], /pair-keys: subject,object → head,tail/],
    ["--max-new-tokens", ["--max-new-tokens", "5"], /max-new-tokens: 4 → 5/],
    ["--cutoff-len", ["--cutoff-len", "256"], /cutoff-len: 512 → 256/],
    ["--truncate", ["--truncate", "reference"], /truncate: input → reference/],
    [
      "sampling",
      ["--temperature", "0.7", "--top-p", "0.9", "--top-k", "5", "--seed", "3"],
      /temperature: 0 → 0\.7; top-p: unset → 0\.9; top-k: unset → 5; seed: unset → 3/,
    ],
  ];
  for (const [what, args, message] of changes) {
    await t.step(`a changed ${what} is refused before any model loads`, async () => {
      const r = await runCli([...base, "--max-new-tokens", "4", ...args]); // the last of a repeated option counts
      equal(r.code, 2, r.stderr);
      match(r.stderr, message);
      match(r.stderr, /--force-resume/);
      equal(r.stderr.trim().split("\n").length, 1, "one line");
      deepEqual(lines(await Deno.readTextFile(out)).length, 2, "nothing appended");
    });
  }

  await t.step("changed model files (same folder, same names and sizes) are refused", async () => {
    const config = `${model}/config.json`;
    const text = await Deno.readTextFile(config);
    const changed = text.replace(
      /"rms_norm_eps": *[0-9.e-]+/,
      (m) => m.replace(/[0-9]$/, (d) => d === "1" ? "2" : "1"),
    );
    ok(changed !== text && changed.length === text.length, "one digit of config.json changed");
    await Deno.writeTextFile(config, changed);
    try {
      const r = await runCli([...base, "--max-new-tokens", "4"]);
      equal(r.code, 2, r.stderr);
      match(r.stderr, /model files: 4 files, (\d+) bytes, sha-256 \w+ → 4 files, \1 bytes, sha-256 \w+/);
    } finally {
      await Deno.writeTextFile(config, text);
    }
  });

  await t.step("--force-resume continues, says what differs, and marks the file as mixed", async () => {
    const r = await runCli([...base, "--max-new-tokens", "5", "--limit", "3", "--force-resume"]);
    equal(r.code, 0, r.stderr);
    match(r.stderr, /continuing .*pred\.json with other settings \(--force-resume\): max-new-tokens: 4 → 5/);
    equal(lines(await Deno.readTextFile(out)).length, 3);
    const file = JSON.parse(await Deno.readTextFile(`${out}.run.json`));
    equal(file.mixed, true);
    equal(file.settings["max-new-tokens"], 5, "the settings of the records appended from now on");
    deepEqual(
      file.earlier.map((s: Record<string, unknown>) => s["max-new-tokens"]),
      [4],
      "the earlier records' settings",
    );
    match(file.note, /mixed/);
  });

  await t.step("a mixed file is continued only with --force-resume, even with its latest settings", async () => {
    const r = await runCli([...base, "--max-new-tokens", "5", "--limit", "4"]);
    equal(r.code, 2, r.stderr);
    match(r.stderr, /pred\.json already mixes answers made with different settings .*--force-resume/);
    equal(lines(await Deno.readTextFile(out)).length, 3, "nothing appended");
    const forced = await runCli([...base, "--max-new-tokens", "5", "--limit", "4", "--force-resume", "--quiet"]);
    equal(forced.code, 0, forced.stderr);
    equal(lines(await Deno.readTextFile(out)).length, 4);
    deepEqual(JSON.parse(await Deno.readTextFile(`${out}.run.json`)).earlier.length, 1, "no new settings: no new part");
  });

  await t.step("an output without a run file (an older iepile) is continued only with --force-resume", async () => {
    await Deno.remove(`${out}.run.json`);
    const r = await runCli([...base, "--max-new-tokens", "4", "--limit", "5"]);
    equal(r.code, 2, r.stderr);
    match(r.stderr, /has no run file .* the settings they were made with are unknown.*--force-resume/);
    equal(lines(await Deno.readTextFile(out)).length, 4, "nothing appended");
    const forced = await runCli([...base, "--max-new-tokens", "4", "--limit", "5", "--force-resume"]);
    equal(forced.code, 0, forced.stderr);
    match(forced.stderr, /continuing .*pred\.json \(--force-resume\) although it has no run file/);
    const file = JSON.parse(await Deno.readTextFile(`${out}.run.json`));
    deepEqual([file.mixed, file.earlier], [true, ["unknown"]]);
  });
});

Deno.test("a copied or moved model with the same files continues its output, with a note", async () => {
  await using tmp = await tempDir();
  const { model, test } = await setup(tmp.dir);
  const out = `${tmp.dir}/pred.json`;
  const run = (dir: string, limit: string) =>
    runCli([
      ...["infer", "--model", dir, "--template", "alpaca", "--engine", "cpu", "--max-new-tokens", "3"],
      ...["--input", test, "--output", out, "--limit", limit],
    ]);
  equal((await run(model, "1")).code, 0);
  await new Promise((resolve) => setTimeout(resolve, 20)); // the copies' times differ from the originals'
  await Deno.mkdir(`${tmp.dir}/copy`);
  for (const e of Deno.readDirSync(model)) await Deno.copyFile(`${model}/${e.name}`, `${tmp.dir}/copy/${e.name}`);
  await Deno.remove(model, { recursive: true });
  const r = await run(`${tmp.dir}/copy`, "2");
  equal(r.code, 0, r.stderr);
  match(r.stderr, /note: the model path changed \(.*\/model → .*\/copy\); its files are the same/);
  equal(lines(await Deno.readTextFile(out)).length, 2);
  const file = JSON.parse(await Deno.readTextFile(`${out}.run.json`));
  match(file.settings.model, /\/copy$/, "the path is kept for information");
  equal(file.mixed, undefined);
});

Deno.test("a run that fails before its first record leaves the output's run file as it was", async (t) => {
  await using tmp = await tempDir();
  const { test } = await setup(tmp.dir);
  const server = fakeServer();
  const out = `${tmp.dir}/pred.json`;
  const infer = (url: string, ...more: string[]) =>
    runCli([
      ...["infer", "--engine", "openai", "--base-url", url, "--template", "alpaca"],
      ...["--input", test, "--output", out, "--limit", "2", "--quiet", ...more],
    ]);
  try {
    equal((await infer(`http://127.0.0.1:${server.addr.port}/v1`)).code, 0);
  } finally {
    await server.shutdown();
  }
  const closed = `http://127.0.0.1:${closedPort()}/v1`;
  const recorded = await Deno.readTextFile(`${out}.run.json`);
  await t.step("a forced resume with other settings", async () => {
    const r = await infer(closed, "--limit", "3", "--force-resume");
    equal(r.code, 1);
    match(r.stderr, /cannot reach/);
    equal(await Deno.readTextFile(`${out}.run.json`), recorded, "not marked mixed: nothing was appended");
  });
  await t.step("an output without a run file", async () => {
    await Deno.remove(`${out}.run.json`);
    const r = await infer(closed, "--limit", "3", "--force-resume");
    equal(r.code, 1);
    equal(await Deno.lstat(`${out}.run.json`).then(() => "a run file", () => "none"), "none");
    equal(lines(await Deno.readTextFile(out)).length, 2);
  });
});

Deno.test("resume of an openai run is refused for another server, model name or API", async () => {
  await using tmp = await tempDir();
  const { test } = await setup(tmp.dir);
  const server = fakeServer();
  try {
    const out = `${tmp.dir}/pred.json`;
    const url = `http://127.0.0.1:${server.addr.port}/v1`;
    const base = ["infer", "--engine", "openai", "--input", test, "--output", out, "--limit", "2", "--quiet"];
    equal((await runCli([...base, "--base-url", url, "--template", "alpaca"])).code, 0);
    const cases: Array<[string[], RegExp]> = [
      [
        ["--base-url", `http://127.0.0.1:${closedPort()}/v1`, "--template", "alpaca"],
        /base-url: http:\/\/127\.0\.0\.1:\d+\/v1 → /,
      ],
      [
        ["--base-url", url, "--template", "alpaca", "--model-name", "tiny"],
        /model-name: \(the first of GET \/models\) → tiny/,
      ],
      [["--base-url", url, "--api", "chat"], /template: alpaca → unset; api: completions → chat/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli([...base, ...args]);
      equal(r.code, 2, r.stderr);
      match(r.stderr, message);
    }
  } finally {
    await server.shutdown();
  }
});

Deno.test("an input of annotated records is a usage error before any model loads, saying to convert it", async () => {
  await using tmp = await tempDir();
  const r = await runCli([
    "infer",
    ...["--model", `${tmp.dir}/no-model-here`, "--template", "alpaca"],
    ...["--input", `${DATA}NER/sample.json`, "--output", `${tmp.dir}/pred.json`],
  ]);
  equal(r.code, 2, r.stderr);
  match(r.stderr, /sample\.json:1: not an instruction record \(no "instruction" field\)/);
  match(
    r.stderr,
    /looks like annotated records \(fields text, entity\); convert it first: iepile convert --src_path .*--task NER --split test/,
  );
  equal(r.stderr.trim().split("\n").length, 1);
  equal([...Deno.readDirSync(tmp.dir)].length, 0, "no output file");
});

Deno.test("the summary gives the first failure's reason", async () => {
  await using tmp = await tempDir();
  const { model, test } = await setup(tmp.dir);
  const records = lines(await Deno.readTextFile(test)).slice(0, 3);
  (records[1] as Record<string, unknown>).instruction = 7; // a record whose prompt cannot be built
  await Deno.writeTextFile(`${tmp.dir}/bad.json`, records.map((r) => JSON.stringify(r)).join("\n") + "\n");
  const r = await runCli([
    "infer",
    ...["--model", model, "--template", "alpaca", "--engine", "cpu", "--max-new-tokens", "2"],
    ...["--input", `${tmp.dir}/bad.json`, "--output", `${tmp.dir}/pred.json`],
  ]);
  equal(r.code, 1);
  match(r.stderr, /1 records failed/);
  match(r.stderr, /first failure \(input line 2\): field `instruction`: must be a string/);
});

Deno.test("--engine openai: an unreachable server or a wrong URL stops the run at once with one line", async (t) => {
  await using tmp = await tempDir();
  const { test } = await setup(tmp.dir);
  const out = `${tmp.dir}/pred.json`;
  const infer = (url: string) =>
    runCli([
      "infer",
      "--engine",
      "openai",
      "--base-url",
      url,
      "--template",
      "alpaca",
      "--input",
      test,
      "--output",
      out,
    ]);
  await t.step("connection refused", async () => {
    const start = performance.now();
    const r = await infer(`http://127.0.0.1:${closedPort()}/v1`);
    const seconds = (performance.now() - start) / 1000;
    equal(r.code, 1);
    match(
      r.stderr,
      /^iepile: infer: cannot reach http:\/\/127\.0\.0\.1:\d+\/v1\/models: connection refused; check --base-url\n$/,
    );
    ok(seconds < 2, `${seconds.toFixed(1)} s`);
    equal([...Deno.readDirSync(tmp.dir)].filter((e) => e.name.startsWith("pred")).length, 0, "no files left");
  });
  await t.step("404 (a wrong path) and 401 (a wrong key)", async () => {
    for (const status of [404, 401]) {
      let calls = 0;
      const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, () => {
        calls++;
        return Response.json({ error: { message: "nope" } }, { status });
      });
      try {
        const start = performance.now();
        const r = await infer(`http://127.0.0.1:${server.addr.port}/v1`);
        equal(r.code, 1);
        match(r.stderr, new RegExp(`HTTP ${status}: nope; check --${status === 401 ? "api-key" : "base-url"}`));
        equal(r.stderr.trim().split("\n").length, 1);
        ok(performance.now() - start < 2000);
        equal(calls, 1, "no retries");
      } finally {
        await server.shutdown();
      }
    }
  });
});

Deno.test("a --context-size smaller than every prompt is a usage error before generation", async () => {
  await using tmp = await tempDir();
  const { model, test } = await setup(tmp.dir);
  const r = await runCli([
    "infer",
    ...["--model", model, "--template", "alpaca", "--engine", "cpu", "--context-size", "16"],
    ...["--input", test, "--output", `${tmp.dir}/pred.json`],
  ]);
  equal(r.code, 2, r.stderr);
  match(r.stderr, /--context-size 16 is smaller than every prompt of .*test\.json: the shortest prompt has \d+ tokens/);
  equal([...Deno.readDirSync(tmp.dir)].filter((e) => e.name.startsWith("pred")).length, 0);
});

Deno.test("--output - writes the records to standard output: no file named '-', no run file", async () => {
  await using tmp = await tempDir();
  const { model, test } = await setup(tmp.dir);
  const cwd = Deno.cwd();
  Deno.chdir(tmp.dir);
  try {
    const r = await runCli([
      "infer",
      ...["--model", model, "--template", "alpaca", "--engine", "cpu", "--max-new-tokens", "3", "--limit", "2"],
      ...["--input", test, "--output", "-"],
    ]);
    equal(r.code, 0, r.stderr);
    const records = lines(r.stdout);
    equal(records.length, 2);
    deepEqual(records.map((x) => x.id), lines(await Deno.readTextFile(test)).slice(0, 2).map((x) => x.id));
    match(r.stderr, /predicted 2 records → standard output/);
    equal([...Deno.readDirSync(tmp.dir)].filter((e) => e.name.startsWith("-")).length, 0);
    const stdin = await runCli(["infer", "--model", model, "--template", "alpaca", "--input", "-", "--output", "x"]);
    equal(stdin.code, 2);
    match(stdin.stderr, /--input - \(standard input\) is not supported/);
  } finally {
    Deno.chdir(cwd);
  }
});

Deno.test("IEPile's own inference.py command runs, naming the flags it ignores in one line", async () => {
  await using tmp = await tempDir();
  const { model, test } = await setup(tmp.dir);
  await writeRandomLora(`${tmp.dir}/lora`, model, { r: 2, alpha: 4, targets: ["q_proj", "v_proj"] });
  const r = await runCli([
    "infer",
    ...["--stage", "sft", "--model_name_or_path", model, "--checkpoint_dir", `${tmp.dir}/lora`],
    ...["--model_name", "llama", "--template", "llama2", "--do_predict", "--input_file", test],
    ...["--output_file", `${tmp.dir}/pred.json`, "--finetuning_type", "lora", "--output_dir", `${tmp.dir}/D`],
    ...["--predict_with_generate", "--max_source_length", "512", "--bf16", "--max_new_tokens", "3"],
    ...["--engine", "cpu", "--limit", "2"],
  ]);
  equal(r.code, 0, r.stderr);
  const ignored = r.stderr.split("\n").filter((l) => l.includes("ignoring"));
  deepEqual(ignored, [
    "infer: ignoring --stage, --model_name, --do_predict, --finetuning_type, --output_dir, --predict_with_generate, " +
    "--bf16 (IEPile flags with no meaning here)",
  ]);
  equal(lines(await Deno.readTextFile(`${tmp.dir}/pred.json`)).length, 2);
  const settings = JSON.parse(await Deno.readTextFile(`${tmp.dir}/pred.json.run.json`)).settings;
  equal(settings["cutoff-len"], 512, "--max_source_length is the cutoff");
  equal(settings["max-new-tokens"], 3);
  match(settings.lora, /\/lora$/);
  // A value written after a boolean flag (Hugging Face's parser allows it) is not left over, and
  // a boolean flag never takes the next option as its value.
  const again = await runCli([
    "infer",
    ...["--model", model, "--template", "llama2", "--bf16", "True", "--do_predict", "--input_file", test],
    ...["--output_file", `${tmp.dir}/pred2.json`, "--max_new_tokens", "3", "--engine", "cpu", "--limit", "1"],
  ]);
  equal(again.code, 0, again.stderr);
  match(again.stderr, /ignoring --bf16, --do_predict /);
});

Deno.test("--engine openai: IEPile's --model_name names the served model (elsewhere it is ignored)", async (t) => {
  await using tmp = await tempDir();
  const { test } = await setup(tmp.dir);
  const asked: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/v1/models") return Response.json({ data: [{ id: "base" }, { id: "my-lora" }] });
    const body = await req.json();
    asked.push(body.model);
    return Response.json({ choices: [{ text: "{}", finish_reason: "stop" }] });
  });
  try {
    const base = [
      ...["infer", "--engine", "openai", "--base-url", `http://127.0.0.1:${server.addr.port}/v1`],
      ...["--template", "alpaca", "--input", test, "--limit", "2"],
    ];
    await t.step("--model_name is --model-name", async () => {
      const out = `${tmp.dir}/pred.json`;
      const r = await runCli([...base, "--output", out, "--model_name", "my-lora", "--stage", "sft"]);
      equal(r.code, 0, r.stderr);
      deepEqual(asked, ["my-lora", "my-lora"]);
      match(r.stderr, /^infer: ignoring --stage \(IEPile flags/m, "--model_name is not ignored");
      equal(JSON.parse(await Deno.readTextFile(`${out}.run.json`)).settings["model-name"], "my-lora");
    });
    await t.step("--model_name with another --model-name is a usage error; the same name is fine", async () => {
      const r = await runCli([...base, "--output", `${tmp.dir}/p2.json`, "--model_name", "a", "--model-name", "b"]);
      equal(r.code, 2, r.stderr);
      match(r.stderr, /--model_name a and --model-name b name two models/);
      const same = await runCli([
        ...base,
        ...["--output", `${tmp.dir}/p3.json`, "--model_name", "my-lora", "--model-name", "my-lora", "--quiet"],
      ]);
      equal(same.code, 0, same.stderr);
    });
  } finally {
    await server.shutdown();
  }
});
