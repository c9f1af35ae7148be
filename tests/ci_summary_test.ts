/**
 * The CI summary: skipped tests are counted as skipped (not passed), listed by file with the
 * reasons the tests printed, and the run ends with "N passed, N failed, N skipped". The JUnit
 * report comes from a real `deno test` run on a generated test file.
 *
 * @module
 */

import { deepEqual, equal, ok } from "node:assert/strict";
import { parseJunit, summarize } from "../scripts/ci_summary.ts";
import { tempDir } from "./_shared.ts";

Deno.test("a real deno test report: passed, failed and skipped cases and steps", async () => {
  await using dir = await tempDir();
  await Deno.mkdir(`${dir.dir}/tests`);
  await Deno.writeTextFile(
    `${dir.dir}/tests/sample_test.ts`,
    `console.warn("SKIPPED tests/sample_test.ts — the GPU case: no adapter here");
Deno.test({ name: "gpu case", ignore: true, fn() {} });
Deno.test("steps", async (t) => {
  await t.step({ name: "skipped step", ignore: true, fn() {} });
  await t.step("passing step", () => {});
});
Deno.test("fails", () => { throw new Error("boom"); });
`,
  );
  const junit = `${dir.dir}/report.xml`;
  const run = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--no-check", `--junit-path=${junit}`, "tests/sample_test.ts"],
    cwd: dir.dir, // as .ci/run runs the tests: from the project's root
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  equal(run.code, 1); // the failing case
  const log = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
  const cases = parseJunit(await Deno.readTextFile(junit));
  deepEqual(
    cases.map((c) => `${c.name}: ${c.outcome}`).sort(),
    [
      "fails: failed",
      "gpu case: skipped",
      "steps > passing step: passed",
      "steps > skipped step: skipped",
      "steps: passed",
    ],
  );
  const s = summarize(cases, { passed: 3, failed: 0 }, log);
  equal(s.passed, 5); // 2 cases + 3 gates; the skipped ones are not counted as passed
  equal(s.failed, 1);
  equal(s.skipped, 2);
  const lines = s.text.trimEnd().split("\n");
  equal(lines.at(-1), "5 passed, 1 failed, 2 skipped");
  ok(
    s.text.includes(
      "skipped 2 tests:\n  tests/sample_test.ts (2): the GPU case: no adapter here\n" +
        "    - gpu case\n    - steps > skipped step\n",
    ),
    s.text,
  );
});

Deno.test("nothing skipped: just the plain line", () => {
  const s = summarize([{ name: "a", file: "./t.ts", outcome: "passed" }], { passed: 0, failed: 1 }, "");
  equal(s.text, "1 passed, 1 failed, 0 skipped\n");
});
