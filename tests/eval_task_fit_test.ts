/**
 * `eval` on files that do not fit the task they are scored as, and on lines whose inference
 * failed (`error` field): the bundled predictions rewritten here, and small files built by hand.
 * Expected numbers are worked out by hand in the comments.
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { InputError } from "../io/errors.ts";
import { failure, runEvalCaptured as run } from "./_eval.ts";
import { runCli, tempDir } from "./_shared.ts";

const DATA = new URL("../data/predictions/", import.meta.url).pathname;

/** The bundled predictions of `name`, each record changed by `edit` (its 1-based line given). */
async function rewritten(
  dir: string,
  name: string,
  edit: (r: Record<string, unknown>, line: number) => void,
): Promise<string> {
  const lines = (await Deno.readTextFile(DATA + name)).trimEnd().split("\n").map((l, i) => {
    const r = JSON.parse(l);
    edit(r, i + 1);
    return JSON.stringify(r);
  });
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(path, lines.join("\n") + "\n");
  return path;
}

Deno.test("eval: lines that failed at inference are counted apart from empty answers, and said how they count", async () => {
  await using tmp = await tempDir();
  // Lines 2 and 4 failed at inference, as `infer` writes them: empty output and an error.
  const path = await rewritten(tmp.dir, "NER.json", (r, line) => {
    if (line === 2 || line === 4) Object.assign(r, { output: "", error: "WebGPU device lost" });
  });
  // Left: line 1 predicts its 4 gold entities; line 3 nothing (no gold); lines 5 and 6 are not JSON.
  // pred 4, correct 4, gold 4 + 3 + 0 + 4 + 2 + 3 = 16 → P 100, R 25, F1 40; errors: 2 failed + 2 not JSON.
  const r = await run([path, "--task", "NER", "--repr"]);
  equal(r.out, "{'total': {'总样本数': 6, '错误数': 4, 'P': 100.0, 'R': 25.0, 'F1': 40.0}}\n");
  equal(
    r.err,
    "iepile eval: warning: 2 prediction lines failed at inference (`error` field; first at line 2: WebGPU device " +
      "lost): counted as errors (错误数) with no predicted tuple, so their records' gold tuples count as missed in recall\n",
  );
  const text = await run([path, "--task", "NER"]);
  ok(/^failed at inference \(`error` field\) +2$/m.test(text.out), text.out);
  ok(/^empty +0$/m.test(text.out), text.out);
  const out = `${tmp.dir}/report.json`;
  await run([path, "--task", "NER", "--out", out]);
  const report = JSON.parse(await Deno.readTextFile(out));
  equal(report.scopes[0].outputs.inferenceFailed, 2);
  equal(report.scopes[0].outputs.empty, 0);
  deepEqual(report.fit.firstInferenceError, { line: 2, message: "WebGPU device lost" });
});

Deno.test("eval: gold labels of another task stop eval at the line, naming the field and the task", async (t) => {
  await t.step("NER predictions scored as RE", async () => {
    const e = await failure(run([`${DATA}NER.json`, "--task", "RE"]));
    ok(e instanceof InputError, String(e));
    equal(
      e.message,
      `${DATA}NER.json:1: field \`label[0]\`: annotation has no \`head\`, \`relation\` or \`tail\`: it is an NER ` +
        'annotation (entity, entity_type), which RE cannot score: is --task RE right? (the record says "task": "NER")',
    );
  });
  await t.step("RE predictions scored as EE", async () => {
    const e = await failure(run([`${DATA}RE.json`, "--task", "EE"]));
    ok(e instanceof InputError, String(e));
    ok(
      e.message.startsWith(
        `${DATA}RE.json:1: field \`label[0]\`: annotation has no \`event_type\`: it is an RE/SPO/KG annotation`,
      ),
      e.message,
    );
  });
  await t.step("an EE file scored as NER, through the command line: one line, exit 1", async () => {
    await using tmp = await tempDir();
    const label = JSON.stringify([{ event_type: "attack", event_trigger: "hit", arguments: [] }]);
    const path = `${tmp.dir}/ee.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({ id: "1", task: "EE", label, output: '{"attack": [{"trigger": "hit", "arguments": {}}]}' }) +
        "\n",
    );
    const r = await runCli(["eval", path, "--task", "NER"]);
    equal(r.code, 1);
    equal(
      r.stderr,
      `iepile: ${path}:1: field \`label[0]\`: annotation has no \`entity\`: it is an EE/EEA/EET annotation ` +
        '(event_type, event_trigger, arguments), which NER cannot score: is --task NER right? (the record says "task": "EE")\n',
    );
  });
});

Deno.test("eval: answers none of which has the task's shape stop eval unless the records say that task", async (t) => {
  await using tmp = await tempDir();
  await t.step("RE predictions scored as KG (same label shape, other answers)", async () => {
    const e = await failure(run([`${DATA}RE.json`, "--task", "KG"]));
    ok(e instanceof InputError, String(e));
    // Line 1 is the first answer naming something: {"spouse": [{"subject": …, "object": …}]}.
    equal(e.line, 1);
    equal(e.field, "output");
    ok(
      e.message.includes(
        "no answer has the shape of KG answers (entity type → {entity: {attribute: value}}): 5 are RE/SPO answers " +
          '(relation → list of {subject, object}) and the records say "task": "RE"; is --task KG right?',
      ),
      e.message,
    );
  });
  await t.step("without `task` fields the answers decide", async () => {
    const path = await rewritten(tmp.dir, "RE.json", (r) => delete r.task);
    const e = await failure(run([path, "--task", "KG"]));
    ok(e instanceof InputError && /no answer has the shape of KG answers/.test(e.message), String(e));
  });
  await t.step(
    "records that say they are KG: the model answered in the wrong shape; scored, with a warning",
    async () => {
      const path = await rewritten(tmp.dir, "RE.json", (r) => (r.task = "KG"));
      const r = await run([path, "--task", "KG", "--repr"]);
      // Nothing extracted from the answers: pred 0, gold 7 → all zero; line 7 is not JSON.
      equal(r.out, "{'total': {'总样本数': 5, '错误数': 1, 'P': 0.0, 'R': 0.0, 'F1': 0.0}}\n");
      equal(
        r.err,
        "iepile eval: warning: no answer has the shape of KG answers; 5 are shaped otherwise (first at line 1: " +
          "RE/SPO answers (relation → list of {subject, object})) and score nothing\n",
      );
    },
  );
});

Deno.test("eval: records whose `task` names another task of the same shapes are scored, with a warning", async () => {
  // RE and SPO share label and answer shapes: scoring RE records as SPO is allowed, and said.
  const r = await run([`${DATA}RE.json`, "--task", "SPO", "--repr"]);
  equal(r.out, "{'total': {'总样本数': 5, '错误数': 1, 'P': 83.33, 'R': 71.43, 'F1': 76.92}}\n");
  equal(r.err, 'iepile eval: warning: scored as SPO, but 10 of 10 lines say "task": "RE" (first at line 1)\n');
  // The right task: no warning.
  equal((await run([`${DATA}RE.json`, "--task", "RE", "--repr"])).err, "");
});
