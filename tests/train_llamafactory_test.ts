/**
 * train/llamafactory.ts: the LLaMA-Factory hand-off of `iepile train --export-llamafactory`.
 */

import { deepEqual, ok, rejects, throws } from "node:assert/strict";
import { InputError, UsageError } from "../io/errors.ts";
import { IEPILE_TEMPLATE_NAMES } from "../templates/mod.ts";
import { exportLlamaFactory, llamaFactoryTemplate } from "../train/llamafactory.ts";
import { TRAIN_DEFAULTS, type TrainSettings } from "../train/settings.ts";

const RECORDS = [
  {
    task: "NER",
    source: "CoNLL2003",
    instruction: JSON.stringify(
      {
        instruction: "你是专门进行实体抽取的专家。请从input中抽取出符合schema定义的实体，不存在的实体类型返回空列表。",
        schema: ["人物", "地理位置", "组织机构"],
        input: '2009年，鲍勃·迪伦在"北京"演出。\n第二行\t制表',
      },
      null,
      0,
    ),
    output: JSON.stringify({ 人物: ["鲍勃·迪伦"], 地理位置: ["北京"], 组织机构: [] }),
  },
  {
    task: "RE",
    instruction: '{"instruction": "You are an expert in relationship extraction.", "schema": ["出生地点"], ' +
      '"input": "李白出生于碎叶城 😀 \\u00e9"}',
    output: '{"出生地点": [{"subject": "李白", "object": "碎叶城"}]}',
  },
  { instruction: "抽取事件：台风“山竹”登陆广东", output: "[]", extra: [1, 2] },
];

function settingsFor(dir: string, over: Partial<TrainSettings> = {}): TrainSettings {
  return {
    ...TRAIN_DEFAULTS,
    valSetSize: 0,
    modelNameOrPath: "zjunlp/OneKE",
    template: "llama2_zh",
    trainFile: `${dir}/train.json`,
    outputDir: `${dir}/lora`,
    loraTargetModules: ["q_proj", "k_proj", "v_proj", "o_proj"],
    loraAlpha: 32,
    ...over,
  };
}

/** The `key: value` lines of the written YAML (quoted values JSON-decoded, `\U` escapes too). */
function parseYaml(text: string): Map<string, string | number | boolean> {
  const out = new Map<string, string | number | boolean>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-z_0-9]+): (.*)$/.exec(line);
    ok(m !== null, `not a key: value line: ${line}`);
    const raw = m[2];
    let value: string | number | boolean;
    if (raw.startsWith('"')) {
      value = JSON.parse(
        raw.replace(/\\U([0-9a-f]{8})/g, (_, h) => {
          const c = parseInt(h, 16) - 0x10000;
          return `\\u${(0xd800 + (c >> 10)).toString(16)}\\u${(0xdc00 + (c & 0x3ff)).toString(16)}`;
        }),
      );
    } else if (raw === "true" || raw === "false") value = raw === "true";
    else if (/^-?[0-9]/.test(raw)) value = Number(raw);
    else value = raw;
    ok(!out.has(m[1]), `key twice: ${m[1]}`);
    out.set(m[1], value);
  }
  return out;
}

/** The error a promise rejects with (fails when it resolves). */
async function caught(run: () => Promise<unknown>): Promise<Error> {
  try {
    await run();
  } catch (e) {
    return e as Error;
  }
  throw new Error("no error");
}

async function readJsonl(path: string): Promise<Record<string, unknown>[]> {
  return (await Deno.readTextFile(path)).split("\n").filter((l) => l !== "").map((l) => JSON.parse(l));
}

Deno.test("exportLlamaFactory", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/train.json`, RECORDS.map((r) => JSON.stringify(r)).join("\n") + "\n");
    await Deno.writeTextFile(`${dir}/valid.json`, JSON.stringify(RECORDS[1]) + "\n\n" + JSON.stringify(RECORDS[0]));

    await t.step("the datasets carry each instruction and output exactly", async () => {
      const out = await exportLlamaFactory(settingsFor(dir), `${dir}/lf`);
      deepEqual(out.trainRecords, 3);
      deepEqual(out.validRecords, undefined);
      deepEqual(out.files.dataset, `${dir}/lf/iepile_train.jsonl`);
      const rows = await readJsonl(out.files.dataset);
      deepEqual(rows, RECORDS.map((r) => ({ instruction: r.instruction, input: "", output: r.output })));
      // Byte for byte: the file holds the characters, not escapes.
      const bytes = await Deno.readFile(out.files.dataset);
      const text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
      ok(text.includes("鲍勃·迪伦") && text.includes("😀") && !text.includes("\\u9c8d"));
      const names = [...Deno.readDirSync(`${dir}/lf`)].map((d) => d.name).sort();
      deepEqual(names, [
        "README.md",
        "dataset_info.json",
        "ds_z2_config.json",
        "iepile_train.jsonl",
        "train_lora.yaml",
      ]);
    });

    await t.step("dataset_info.json declares the datasets with their columns", async () => {
      const out = await exportLlamaFactory(settingsFor(dir, { validFile: `${dir}/valid.json` }), `${dir}/lf2`);
      deepEqual(out.validRecords, 2);
      const info = JSON.parse(await Deno.readTextFile(out.files.datasetInfo));
      const columns = { prompt: "instruction", query: "input", response: "output" };
      deepEqual(info, {
        iepile_train: { file_name: "iepile_train.jsonl", formatting: "alpaca", columns },
        iepile_valid: { file_name: "iepile_valid.jsonl", formatting: "alpaca", columns },
      });
      const valid = await readJsonl(out.files.validDataset!);
      deepEqual(valid.map((r) => r.instruction), [RECORDS[1].instruction, RECORDS[0].instruction]);
      const yaml = parseYaml(await Deno.readTextFile(out.files.config));
      deepEqual(yaml.get("eval_dataset"), "iepile_valid");
      deepEqual(yaml.has("val_size"), false);
    });

    await t.step("the YAML carries each setting", async () => {
      await Deno.mkdir(`${dir}/model`);
      const settings = settingsFor(dir, {
        modelNameOrPath: `${dir}/model`,
        template: "qwen",
        valSetSize: 2,
        perDeviceTrainBatchSize: 4,
        perDeviceEvalBatchSize: 2,
        gradientAccumulationSteps: 16,
        numTrainEpochs: 10,
        learningRate: 1e-7,
        maxGradNorm: 0.5,
        cutoffLen: 512,
        maxTargetLength: 256,
        loraR: 16,
        loraAlpha: 48,
        loraDropout: 0.05,
        seed: 7,
        saveTotalLimit: 5,
        doEval: true,
        bf16: true,
      });
      const out = await exportLlamaFactory(settings, `${dir}/lf3`);
      const text = await Deno.readTextFile(out.files.config);
      const yaml = parseYaml(text);
      const expected: Record<string, string | number | boolean> = {
        model_name_or_path: `${dir}/model`,
        stage: "sft",
        do_train: true,
        finetuning_type: "lora",
        lora_target: "q_proj,k_proj,v_proj,o_proj",
        lora_rank: 16,
        lora_alpha: 48,
        lora_dropout: 0.05,
        dataset: "iepile_train",
        dataset_dir: ".",
        template: "qwen",
        default_system: "You are a helpful assistant.",
        cutoff_len: 512,
        val_size: 2,
        per_device_train_batch_size: 4,
        per_device_eval_batch_size: 2,
        gradient_accumulation_steps: 16,
        learning_rate: 1e-7,
        num_train_epochs: 10,
        lr_scheduler_type: "linear",
        warmup_steps: 0,
        max_grad_norm: 0.5,
        seed: 7,
        bf16: true,
        output_dir: `${dir}/lora`,
        logging_steps: 10,
        save_strategy: "epoch",
        eval_strategy: "epoch",
        save_total_limit: 5,
        overwrite_output_dir: true,
        deepspeed: "ds_z2_config.json",
      };
      for (const [key, value] of Object.entries(expected)) deepEqual(yaml.get(key), value, key);
      // PyYAML reads `1e-7` as a string: the exponent form needs a fraction.
      ok(text.includes("learning_rate: 1.0e-7\n"), text);
      ok(text.includes("# IEPile's max_target_length (256) has no LLaMA-Factory key"), text);
      deepEqual(yaml.has("eval_dataset"), false);
      deepEqual(yaml.has("adapter_name_or_path"), false);
      // transformers 5.2 removed warmup_ratio; LLaMA-Factory refuses a key it does not know.
      deepEqual(yaml.has("warmup_ratio"), false);
      deepEqual(out.command, `cd ${dir}/lf3 && FORCE_TORCHRUN=1 llamafactory-cli train train_lora.yaml`);

      const ds = JSON.parse(await Deno.readTextFile(out.files.deepspeed));
      deepEqual(ds.zero_optimization.stage, 2);
      deepEqual(ds.bf16, { enabled: "auto" });
      deepEqual(ds.train_micro_batch_size_per_gpu, "auto");
      deepEqual(ds.gradient_accumulation_steps, "auto");
      const readme = await Deno.readTextFile(out.files.readme);
      ok(readme.includes(out.command) && readme.includes("--lora") && readme.includes("--template qwen"), readme);
    });

    await t.step("without evaluation: no eval_strategy; a Hub id stays as it is", async () => {
      const out = await exportLlamaFactory(settingsFor(dir, { template: "oneke" }), `${dir}/lf4`);
      const text = await Deno.readTextFile(out.files.config);
      const yaml = parseYaml(text);
      deepEqual(yaml.get("model_name_or_path"), "zjunlp/OneKE");
      deepEqual(yaml.get("template"), "llama2_zh");
      deepEqual(yaml.has("eval_strategy") || yaml.has("val_size") || yaml.has("default_system"), false);
      deepEqual(yaml.get("bf16"), false);
      ok(text.includes("# template oneke: OneKE was trained with llama2_zh"), text);
    });

    await t.step("a Chinese system prompt is quoted in ASCII and reads back", async () => {
      const out = await exportLlamaFactory(settingsFor(dir, { template: "llama3_zh" }), `${dir}/lf5`);
      const text = await Deno.readTextFile(out.files.config);
      ok(![...text].some((c) => c.charCodeAt(0) > 0x7f), "YAML is ASCII");
      const yaml = parseYaml(text);
      deepEqual(yaml.get("template"), "llama3");
      deepEqual(yaml.get("default_system"), "You are a helpful assistant. 你是一个乐于助人的助手。");
    });

    await t.step("a bad line is an InputError naming file and line", async () => {
      const bad = `${dir}/bad.json`;
      await Deno.writeTextFile(bad, JSON.stringify(RECORDS[0]) + "\n" + '{"instruction": "x", "output": ' + "\n");
      const e = await caught(() => exportLlamaFactory(settingsFor(dir, { trainFile: bad }), `${dir}/lf6`));
      ok(e instanceof InputError, String(e));
      ok(e.message.startsWith(`${bad}:2: `), e.message);
      deepEqual(e.line, 2);
      // Nothing half-written.
      deepEqual([...Deno.readDirSync(`${dir}/lf6`)].map((d) => d.name), []);
    });

    await t.step("a record without a string instruction or output is an error, not dropped", async () => {
      const bad = `${dir}/bad2.json`;
      await Deno.writeTextFile(bad, JSON.stringify(RECORDS[0]) + "\n\n" + '{"instruction": "x", "output": 3}\n');
      const e = await caught(() => exportLlamaFactory(settingsFor(dir, { trainFile: bad }), `${dir}/lf7`));
      ok(e instanceof InputError);
      deepEqual(e.message, `${bad}:3: field \`output\`: must be a string`);
      await Deno.writeTextFile(bad, '{"output": "[]"}\n');
      const missing = await caught(() => exportLlamaFactory(settingsFor(dir, { trainFile: bad }), `${dir}/lf7`));
      ok(missing instanceof InputError);
      deepEqual([missing.line, missing.field], [1, "instruction"]);
      const valid = await caught(() => exportLlamaFactory(settingsFor(dir, { validFile: bad }), `${dir}/lf7`));
      ok(valid instanceof InputError);
      ok(valid.message.startsWith(`${bad}:1: field \`instruction\``), valid.message);
    });

    await t.step("a held-out count LLaMA-Factory cannot take is refused", async () => {
      await rejects(
        () => exportLlamaFactory(settingsFor(dir, { valSetSize: 1, doEval: true }), `${dir}/lf8`),
        UsageError,
      );
      await rejects(
        () => exportLlamaFactory(settingsFor(dir, { valSetSize: 3, doEval: true }), `${dir}/lf8`),
        (e) => e instanceof UsageError && e.message.includes("leaves none of the 3"),
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("llamaFactoryTemplate", async (t) => {
  await t.step("maps names", () => {
    const cases: [string, string | undefined, string | undefined][] = [
      ["alpaca", "alpaca", undefined],
      ["llama2", "llama2", TRAIN_SYSTEM_LLAMA2],
      ["llama2_zh", "llama2_zh", undefined],
      ["baichuan2", "baichuan2", undefined],
      ["chatglm3", "chatglm3", undefined],
      ["mistral", "mistral", undefined],
      ["deepseek", "deepseekcoder", undefined],
      ["vanilla", "empty", undefined],
      ["oneke_vllm", "llama2_zh", undefined],
      ["chat_template", undefined, undefined],
    ];
    for (const [name, lf, system] of cases) {
      const t = llamaFactoryTemplate(name);
      deepEqual(t.template, lf, name);
      if (system !== undefined) deepEqual(t.defaultSystem, system, name);
    }
    deepEqual(llamaFactoryTemplate("intern").defaultSystem, "");
    ok(llamaFactoryTemplate("chatglm3").defaultSystem!.startsWith("You are ChatGLM3"));
  });

  await t.step("LLaMA-Factory's own differences are stated", () => {
    // Its deepseekcoder writes `default_system` straight before "### Instruction:".
    const deepseek = llamaFactoryTemplate("deepseek");
    ok(deepseek.defaultSystem!.endsWith("you will refuse to answer.\n"), deepseek.defaultSystem);
    // BOS: only the templates whose LLaMA-Factory counterpart names it are silent about it.
    for (const name of ["llama2", "llama2_zh", "llama3", "mistral", "deepseek", "intern", "belle", "oneke"]) {
      ok(!(llamaFactoryTemplate(name).note ?? "").includes("BOS"), name);
    }
    for (const name of ["alpaca", "qwen", "baichuan2", "vicuna", "vanilla"]) {
      ok(llamaFactoryTemplate(name).note!.includes("writes no BOS token: where the tokenizer adds one"), name);
    }
    // Where a model trained there does not learn to stop on our stop words.
    for (const name of ["vanilla", "yayi", "ziya", "aquila"]) {
      ok(/does not learn to stop/.test(llamaFactoryTemplate(name).note!), name);
    }
    ok(llamaFactoryTemplate("chatglm2").note!.includes("[Round 0]"));
    ok(llamaFactoryTemplate("zephyr").note!.includes("newline after <|assistant|>"));
  });

  await t.step("every IEPile name maps or is refused clearly", () => {
    for (const name of IEPILE_TEMPLATE_NAMES) {
      try {
        ok(llamaFactoryTemplate(name).template !== undefined, name);
      } catch (e) {
        ok(e instanceof UsageError && e.message.includes(`template ${name} has no counterpart`), String(e));
      }
    }
  });

  await t.step("an unknown or unmatched template is a UsageError naming it", async () => {
    const usage = (text: string) => (e: unknown) => e instanceof UsageError && e.message.includes(text);
    throws(() => llamaFactoryTemplate("openba"), usage("template openba has no counterpart in LLaMA-Factory"));
    throws(() => llamaFactoryTemplate("chatml"), usage('unknown template "chatml"'));
    throws(() => llamaFactoryTemplate("toString"), usage("unknown template"));
    const dir = await Deno.makeTempDir();
    try {
      await Deno.writeTextFile(`${dir}/train.json`, JSON.stringify(RECORDS[0]) + "\n");
      await rejects(() => exportLlamaFactory(settingsFor(dir, { template: "openba" }), `${dir}/lf`), usage("openba"));
      deepEqual(await Deno.stat(`${dir}/lf`).catch(() => undefined), undefined, "refused before writing");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

const TRAIN_SYSTEM_LLAMA2 = "You are a helpful, respectful and honest assistant. Always answer as helpfully as " +
  "possible, while being safe. Your answers should not include any harmful, unethical, racist, sexist, toxic, " +
  "dangerous, or illegal content. Please ensure that your responses are socially unbiased and positive in nature." +
  "\n\nIf a question does not make any sense, or is not factually coherent, explain why instead of answering " +
  "something not correct. If you don't know the answer to a question, please don't share false information.";
