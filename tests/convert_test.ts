/**
 * `convert` on the project's own data (`data/`), every task, with expectations worked out by
 * hand from the rules of IEPile's converter: schema order by code point, batches of split_num,
 * targets per schema item. Hash-dependent orders are avoided or checked as sets.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { runCli, tempDir } from "./_shared.ts";

const DATA = new URL("../data/", import.meta.url).pathname;

const NER_EN =
  "You are an expert in named entity recognition. Please extract entities that match the schema definition from the input. Return an empty list if the entity type does not exist. Please respond in the format of a JSON string.";
const RE_ZH =
  "你是专门进行关系抽取的专家。请从input中抽取出符合schema定义的关系三元组，不存在的关系返回空列表。请按照JSON字符串的格式回答。";

interface Converted {
  task: string;
  source: string;
  instruction: { instruction: string; schema: unknown[]; input: string };
  output?: unknown;
  label?: unknown[];
  id?: string;
  raw: string;
}

async function convert(task: string, extra: string[]): Promise<Converted[]> {
  await using tmp = await tempDir();
  const out = `${tmp.dir}/out.json`;
  const run = await runCli([
    "convert",
    "--src_path",
    `${DATA}${task}/sample.json`,
    "--schema_path",
    `${DATA}${task}/schema.json`,
    "--tgt_path",
    out,
    "--task",
    task,
    "--quiet",
    ...extra,
  ]);
  equal(run.stderr, "");
  equal(run.code, 0);
  const text = await Deno.readTextFile(out);
  return text.split("\n").filter((l) => l !== "").map((raw) => {
    const r = JSON.parse(raw);
    return {
      ...r,
      instruction: JSON.parse(r.instruction),
      output: r.output === undefined ? undefined : JSON.parse(r.output),
      label: r.label === undefined ? undefined : JSON.parse(r.label),
      raw,
    };
  });
}

Deno.test("NER train: all six types sorted by code point in one batch; targets in schema order", async () => {
  const lines = await convert("NER", ["--language", "en", "--split_num", "6"]);
  equal(lines.length, 6); // one instruction per record
  const first = lines[0];
  equal(
    first.raw,
    '{"task": "NER", "source": "NER", "instruction": "{\\"instruction\\": \\"' + NER_EN +
      '\\", \\"schema\\": [\\"location\\", \\"organization\\", \\"person\\", \\"人物\\", \\"地理位置\\", \\"组织机构\\"], ' +
      '\\"input\\": \\"Marie Curie worked at the University of Paris with Pierre Curie.\\"}", ' +
      '"output": "{\\"location\\": [\\"Paris\\"], \\"organization\\": [\\"University of Paris\\"], \\"person\\": ' +
      '[\\"Marie Curie\\", \\"Pierre Curie\\"], \\"人物\\": [], \\"地理位置\\": [], \\"组织机构\\": []}"}',
  );
  // The repeated (杭州, 地理位置) pair is dropped at read time.
  deepEqual(lines[4].output, {
    location: [],
    organization: [],
    person: [],
    "人物": [],
    "地理位置": ["杭州"],
    "组织机构": ["浙江大学"],
  });
  // A record without entities still asks all types (negative instruction).
  deepEqual(Object.values(lines[2].output as object), [[], [], [], [], [], []]);
});

Deno.test("NER test: id = SHA-256 of the text, label = the de-duplicated input list, schema = all types", async () => {
  const lines = await convert("NER", ["--language", "en", "--split", "test", "--split_num", "4"]);
  equal(lines.length, 12); // 6 types in batches of 4 + 2
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode("浙江大学位于杭州。")));
  const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
  const zj = lines.filter((l) => l.instruction.input === "浙江大学位于杭州。");
  equal(zj.length, 2);
  for (const l of zj) {
    equal(l.id, hex);
    deepEqual(l.label, [{ entity: "浙江大学", entity_type: "组织机构" }, { entity: "杭州", entity_type: "地理位置" }]);
    ok(l.raw.startsWith(`{"id": "${hex}", "task": "NER", "source": "NER", "instruction": `));
  }
  deepEqual(
    [...zj[0].instruction.schema, ...zj[1].instruction.schema].sort(),
    ["location", "organization", "person", "人物", "地理位置", "组织机构"].sort(),
  );
  deepEqual(zj.map((l) => l.instruction.schema.length), [4, 2]);
});

Deno.test("RE train: split_num 4 over six relations gives batches of 4 and 2; head/tail targets", async () => {
  const lines = await convert("RE", ["--language", "zh", "--split_num", "4"]);
  equal(lines.length, 10);
  const ms = lines.filter((l) => l.instruction.input.startsWith("Microsoft"));
  equal(ms[0].instruction.instruction, RE_ZH);
  deepEqual(ms.map((l) => l.instruction.schema), [["founded by", "located in", "spouse", "创始人"], [
    "所在城市",
    "配偶",
  ]]);
  deepEqual(ms[0].output, {
    "founded by": [{ head: "Microsoft", tail: "Bill Gates" }, { head: "Microsoft", tail: "Paul Allen" }],
    "located in": [{ head: "Microsoft", tail: "Redmond" }],
    spouse: [],
    "创始人": [],
  });
  deepEqual(ms[1].output, { "所在城市": [], "配偶": [] });
  // The repeated (阿里巴巴, 创始人, 马云) triple counts once.
  deepEqual(lines.find((l) => l.instruction.input.startsWith("阿里巴巴"))!.output, {
    "founded by": [],
    "located in": [],
    spouse: [],
    "创始人": [{ head: "阿里巴巴", tail: "马云" }],
  });
});

Deno.test("SPO train: schema strings become subject/predicate/object; targets keyed by predicate", async () => {
  const lines = await convert("SPO", ["--language", "en", "--split_num", "-1"]);
  deepEqual(lines[0].instruction.schema, [
    { subject_type: "organization", predicate: "located in", object_type: "city" },
    { subject_type: "person", predicate: "born in", object_type: "city" },
    { subject_type: "person", predicate: "works for", object_type: "organization" },
    { subject_type: "人物", predicate: "出生地", object_type: "地点" },
    { subject_type: "企业", predicate: "总部地点", object_type: "地点" },
  ]);
  deepEqual(lines[0].output, {
    "located in": [],
    "born in": [{ subject: "Alan Turing", object: "London" }],
    "works for": [{ subject: "Alan Turing", object: "National Physical Laboratory" }],
    "出生地": [],
    "总部地点": [],
  });
});

Deno.test("EET train: batches 2+2+1 (a remainder of 1 ≥ max(1, 2÷2) stands alone)", async () => {
  const lines = await convert("EET", ["--language", "en", "--split_num", "2"]);
  const elect = lines.filter((l) => l.instruction.input.startsWith("She was elected"));
  deepEqual(elect.map((l) => l.output), [
    { attack: [], elect: ["elected", "elected senator"] },
    { transport: [], "交通事故": [] },
    { "袭击": [] },
  ]);
});

Deno.test("KG train: line 3's first type, all attributes sorted, tails ordered by position in the text", async () => {
  const lines = await convert("KG", ["--language", "en", "--split_num", "1"]);
  equal(lines.length, 3);
  deepEqual(lines[0].instruction.schema, [{
    entity_type: "person",
    attributes: ["alias", "birthplace", "occupation", "spouse"],
  }]);
  deepEqual(lines[0].output, {
    person: { "Marie Curie": { birthplace: "Warsaw", occupation: ["physicist", "chemist"], spouse: "Pierre Curie" } },
  });
  deepEqual(lines[1].output, {
    person: { "Samuel Clemens": { alias: "Mark Twain", birthplace: "Florida, Missouri" } },
  });
  deepEqual(lines[2].output, { person: {} });
});

Deno.test("EE and EEA on hand-made records with single-role types (orders fixed by the rules)", async () => {
  await using tmp = await tempDir();
  await Deno.mkdir(`${tmp.dir}/mine`);
  await Deno.writeTextFile(
    `${tmp.dir}/schema.json`,
    '["attack", "die"]\n["attacker", "victim"]\n{"attack": ["attacker"], "die": ["victim"]}\n',
  );
  const record = {
    text: "Rebels hit the town; later troops struck back.",
    event: [
      { event_trigger: "struck", event_type: "attack", arguments: [{ argument: "troops", role: "attacker" }] },
      { event_trigger: "hit", event_type: "attack", arguments: [{ argument: "Rebels", role: "attacker" }] },
      { event_trigger: "", event_type: "attack", arguments: [{ argument: "someone", role: "attacker" }] },
    ],
  };
  await Deno.writeTextFile(`${tmp.dir}/mine/sample.json`, JSON.stringify(record) + "\n");
  const run = async (task: string) => {
    const out = `${tmp.dir}/${task}.json`;
    const r = await runCli([
      "convert",
      ...["--src_path", `${tmp.dir}/mine/sample.json`, "--schema_path", `${tmp.dir}/schema.json`],
      ...["--tgt_path", out, "--task", task, "--language", "en", "--split_num", "-1", "--quiet"],
    ]);
    equal(r.code, 0, r.stderr);
    return (await Deno.readTextFile(out)).trim().split("\n").map((l) => JSON.parse(l));
  };
  const [ee] = await run("EE");
  equal(ee.source, "mine");
  deepEqual(JSON.parse(ee.instruction).schema, [
    { event_type: "attack", trigger: true, arguments: ["attacker"] },
    { event_type: "die", trigger: true, arguments: ["victim"] },
  ]);
  // Events sorted by trigger position: "NAN" (empty trigger) is not in the text (−1) and comes first.
  equal(
    ee.output,
    '{"attack": [{"trigger": "NAN", "arguments": {"attacker": "someone"}}, ' +
      '{"trigger": "hit", "arguments": {"attacker": "Rebels"}}, {"trigger": "struck", "arguments": {"attacker": "troops"}}], "die": []}',
  );
  const [eea] = await run("EEA");
  // One role, so one trigger survives the (roles-bounded) trigger sample; Python's random picks "struck":
  // python3 -c 'import random; random.seed(42); random.sample(["attacker"], 1); print(random.sample(["struck", "hit", ""], 1))'
  deepEqual(JSON.parse(eea.instruction).schema, [{
    event_type: "attack",
    trigger: ["struck"],
    arguments: ["attacker"],
  }]);
  // Every event of the type answers, in record order (no position sort).
  equal(eea.output, '{"attack": [{"attacker": "troops"}, {"attacker": "Rebels"}, {"attacker": "someone"}]}');
});

Deno.test("every task converts its bundled sample in both languages and both splits", async (t) => {
  for (const task of ["NER", "RE", "SPO", "EE", "EET", "EEA", "KG"]) {
    for (const language of ["zh", "en"]) {
      for (const split of ["train", "test"]) {
        await t.step(`${task} ${language} ${split}`, async () => {
          const lines = await convert(task, ["--language", language, "--split", split]);
          ok(lines.length > 0);
          for (const l of lines) {
            equal(l.task, task);
            equal(l.source, task);
            deepEqual(Object.keys(l.instruction), ["instruction", "schema", "input"]);
            deepEqual(
              Object.keys(JSON.parse(l.raw)),
              split === "train"
                ? ["task", "source", "instruction", "output"]
                : ["id", "task", "source", "instruction", "label"],
            );
            // Default split_num 4: a batch holds at most 4 + (a merged remainder shorter than 4 ÷ 2) = 5 items.
            ok(l.instruction.schema.length <= 5);
          }
        });
      }
    }
  }
});

Deno.test("texts with and without characters to escape come back from the instruction as they were", async () => {
  const { Converter } = await import("../convert/converter.ts");
  const texts = [
    "plain text, 人物 😀",
    'a "quoted" \\ back\\slash',
    "tab\tnew\nline\r\u0001\u001f end",
    "\u007f\u2028\u2029",
  ];
  for (const split of ["train", "test"] as const) {
    const c = new Converter(
      {
        task: "NER",
        language: "en",
        split,
        splitNum: 1,
        negSchema: 1,
        randomSort: false,
        clusterMode: false,
        hashSeed: 0,
        source: "x",
      },
      { types: ["a", "b"], roles: [], typeRoles: [] },
    );
    for (const text of texts) {
      const lines = c.convert({ text, annotations: [] });
      equal(lines.length, 2);
      for (const line of lines) {
        // The line is the JSON Python writes: parse it twice and the text is back, spelled as json.dumps does.
        const instruction: string = JSON.parse(line).instruction;
        equal(JSON.parse(instruction).input, text, `${split} ${JSON.stringify(text)}`);
        ok(instruction.endsWith(`"input": ${JSON.stringify(text)}}`));
      }
    }
  }
});
