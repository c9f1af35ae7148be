/**
 * The CI summary: skipped tests are counted as skipped (not passed), listed by file with the
 * reasons the tests printed, and the run ends with "N passed, N failed, N skipped". The JUnit
 * report comes from a real `deno test` run on a generated test file.
 *
 * @module
 */

import { deepEqual, equal, match, ok } from "node:assert/strict";
import { parseJunit, summarize } from "../scripts/ci_summary.ts";
import { tempDir } from "./_shared.ts";

Deno.test("a real deno test report: passed, failed and skipped cases and steps", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(
    `${dir.dir}/sample_test.ts`,
    `console.warn("SKIPPED the GPU case: no adapter here");
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
    args: ["test", "--no-check", `--junit-path=${junit}`, `${dir.dir}/sample_test.ts`],
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
  match(s.text, /skipped 2 tests:\n {2}.*sample_test\.ts: 2\n/);
  ok(s.text.includes("  the GPU case: no adapter here\n"), s.text);
});

Deno.test("nothing skipped: just the plain line", () => {
  const s = summarize([{ name: "a", file: "./t.ts", outcome: "passed" }], { passed: 0, failed: 1 }, "");
  equal(s.text, "1 passed, 1 failed, 0 skipped\n");
});
