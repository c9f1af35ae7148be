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

Deno.test('eval: gold labels of another task: RE/SPO/KG score them as ("", "", "") with a warning, as IEPile does', async (t) => {
  // IEPile reads a triple annotation with defaults (head/relation/tail, each "" when missing), so
  // an NER annotation scored as RE, SPO or KG is the gold triple ("", "", ""), which no answer matches.
  for (const task of ["RE", "SPO", "KG"]) {
    await t.step(`NER predictions scored as ${task}`, async () => {
      const r = await run([`${DATA}NER.json`, "--task", task, "--repr"]);
      // Gold: 4 + 3 + 0 + 4 + 2 + 3 = 16 empty triples; the NER answers (type → strings) give no
      // triple; lines 5 and 6 are not JSON → P 0, R 0, errors 2.
      equal(r.out, "{'total': {'总样本数': 6, '错误数': 2, 'P': 0.0, 'R': 0.0, 'F1': 0.0}}\n");
      const warnings = r.err.trimEnd().split("\n");
      ok(
        warnings.includes(
          `iepile eval: warning: ${DATA}NER.json:1: field \`label[0]\`: 16 gold annotations have no \`head\`, ` +
            "`relation` or `tail` (the first is an NER annotation (entity, entity_type)): scored as " +
            `("", "", ""), as IEPile does, which no answer matches; is --task ${task} right?`,
        ),
        r.err,
      );
    });
  }
  await t.step("through the command line: exit 0, warnings on stderr and in the --out report", async () => {
    await using tmp = await tempDir();
    const out = `${tmp.dir}/report.json`;
    const r = await runCli(["eval", `${DATA}NER.json`, "--task", "RE", "--repr", "--quiet", "--out", out]);
    equal(r.code, 0, r.stderr);
    const report = JSON.parse(await Deno.readTextFile(out));
    equal(report.fit.foreignLabels, 16);
    deepEqual(report.fit.firstForeignLabel, { line: 1, field: "label[0]", family: "entity" });
    deepEqual(report.warnings.map((w: string) => `iepile eval: warning: ${w}`), r.stderr.trimEnd().split("\n"));
  });
});

Deno.test("eval: gold labels NER, EET, EE or EEA cannot read stop eval at the line, naming the field and the task", async (t) => {
  // IEPile reads these tasks' annotation keys without a default and crashes on a missing one.
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
  const triple = JSON.stringify([{ head: "Ann", relation: "born in", tail: "Oslo" }]);
  const entity = JSON.stringify([{ entity: "Ann", entity_type: "person" }]);
  const cases = [["NER", triple, "entity", "an RE/SPO/KG"], ["EET", entity, "event_type", "an NER"], [
    "EEA",
    entity,
    "event_type",
    "an NER",
  ]];
  for (const [task, label, key, family] of cases) {
    await t.step(`${family} label scored as ${task}`, async () => {
      await using tmp = await tempDir();
      const path = `${tmp.dir}/p.json`;
      await Deno.writeTextFile(path, JSON.stringify({ id: "1", label, output: "{}" }) + "\n");
      const e = await failure(run([path, "--task", task]));
      ok(e instanceof InputError, String(e));
      ok(
        e.message.startsWith(`${path}:1: field \`label[0]\`: annotation has no \`${key}\`: it is ${family}`),
        e.message,
      );
    });
  }
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

Deno.test("eval: answers none of which has the task's shape are scored as IEPile scores them, with a warning", async (t) => {
  await using tmp = await tempDir();
  // RE and KG share the label shape; the RE answers (relation → list of {subject, object}) give
  // no KG tuple, and KG tuples never equal gold triples anyway: pred 0, gold 7 → all zero; line 7
  // is not JSON. Answers with a shape: lines 1, 3, 4, 8 and 9 (the others are all empty lists).
  const zero = "{'total': {'总样本数': 5, '错误数': 1, 'P': 0.0, 'R': 0.0, 'F1': 0.0}}\n";
  const shapes = "field `output`: 5 of 5 answers are not shaped as KG answers (entity type → {entity: {attribute: " +
    "value}}) (the first is shaped as RE/SPO answers (relation → list of {subject, object})): scored as IEPile " +
    "scores them; ";
  await t.step("RE predictions scored as KG (same label shape, other answers)", async () => {
    const r = await run([`${DATA}RE.json`, "--task", "KG", "--repr"]);
    equal(r.out, zero);
    equal(
      r.err,
      'iepile eval: warning: scored as KG, but 10 of 10 lines say "task": "RE" (first at line 1)\n' +
        `iepile eval: warning: ${DATA}RE.json:1: ${shapes}is --task KG right?\n`,
    );
  });
  await t.step("without `task` fields the answers decide; through the command line, exit 0", async () => {
    const path = await rewritten(tmp.dir, "RE.json", (r) => delete r.task);
    const r = await runCli(["eval", path, "--task", "KG", "--repr", "--quiet"]);
    equal(r.code, 0, r.stderr);
    equal(r.stdout, zero);
    equal(r.stderr, `iepile eval: warning: ${path}:1: ${shapes}is --task KG right?\n`);
  });
  await t.step("records that say they are KG: the model answered in the wrong shape", async () => {
    const path = await rewritten(tmp.dir, "RE.json", (r) => (r.task = "KG"));
    const r = await run([path, "--task", "KG", "--repr"]);
    equal(r.out, zero);
    equal(
      r.err,
      `iepile eval: warning: ${path}:1: ${shapes}the records say "task": "KG", so the model answered in another ` +
        "task's shape\n",
    );
  });
});

Deno.test("eval: records whose `task` names another task of the same shapes are scored, with a warning", async () => {
  // RE and SPO share label and answer shapes: scoring RE records as SPO is allowed, and said.
  const r = await run([`${DATA}RE.json`, "--task", "SPO", "--repr"]);
  equal(r.out, "{'total': {'总样本数': 5, '错误数': 1, 'P': 83.33, 'R': 71.43, 'F1': 76.92}}\n");
  equal(r.err, 'iepile eval: warning: scored as SPO, but 10 of 10 lines say "task": "RE" (first at line 1)\n');
  // The right task: no warning.
  equal((await run([`${DATA}RE.json`, "--task", "RE", "--repr"])).err, "");
});
