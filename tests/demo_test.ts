/**
 * `deno task demo-infer` as a new user sees it: a short, readable run of every stage (no
 * token-by-token listing), the constrained-vs-unconstrained table of the untrained model, then
 * the model trained by `train` extracting held-out entities (F1 ≥ 90).
 *
 * @module
 */

import { equal, ok } from "node:assert/strict";

Deno.test("demo-infer prints a short result", async () => {
  const root = new URL("../", import.meta.url).pathname;
  const run = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write=.out",
      "--allow-env",
      "--allow-net=127.0.0.1",
      "scripts/demo_infer.ts",
    ],
    cwd: root,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(run.stdout) + new TextDecoder().decode(run.stderr);
  equal(run.code, 0, text);
  const lines = text.trimEnd().split("\n");
  ok(lines.length <= 75, `${lines.length} lines:\n${text}`);
  ok(!/^\s+\d+\s+\d+\s+"/m.test(text), "no token-by-token listing"); // "  12   86  "S"" rows
  for (
    const stage of [
      "1. convert",
      "2. write the demo model",
      "3. the prompt",
      "4. infer",
      "5. eval",
      "6. train",
      "7. infer",
      "8. extract",
    ]
  ) {
    ok(text.includes(stage), stage);
  }
  // Every constrained answer is valid JSON; the table says so.
  ok(text.includes("| NER | constrained | 12 | 12 (100%) |"), text);
  ok(text.includes("| RE | constrained | 10 | 10 (100%) |"), text);
  // The trained model extracts: F1 on the held-out sentences, constrained and not.
  const trained = [...text.matchAll(/^\| trained \| (un)?constrained \| 64 \| \d+ \(\d+%\) \| ([\d.]+) \|$/gm)];
  equal(trained.length, 2, text);
  for (const m of trained) ok(Number(m[2]) >= 90, m[0]);
  ok(/^\| untrained \| constrained \| 64 \| 64 \(100%\) \| 0 \|$/m.test(text), text);
  // extract cuts the bundled multi-page report into chunks and writes its page.
  ok(/extract: 1 documents → \d+ chunks → \d+ requests/.test(text), text);
  ok(text.includes("extract/report.html"), text);
});
