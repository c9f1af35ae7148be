/**
 * `eval` on the bundled sample predictions (`data/predictions/`), numbers worked out by hand.
 */

import { deepEqual, equal } from "node:assert/strict";
import { runCli } from "./_shared.ts";

const DATA = new URL("../data/predictions/", import.meta.url).pathname;

Deno.test("bundled NER predictions: hand-counted P/R/F1, strict and lenient", async () => {
  const r = await runCli(["eval", "--path1", `${DATA}NER.json`, "--task", "NER", "--json", "--lenient"]);
  equal(r.code, 0, r.stderr);
  const { strict, lenient } = JSON.parse(r.stdout);
  // Lines: 1 gold (4 entities), 2 misses Vienna (2 of 3), 3 empty, 4 adds a spurious 北京 (5 predicted, 4 gold),
  // 5 truncated JSON (0 of 2), 6 in a Markdown fence (0 of 3, strict). pred 11, gold 16, correct 10.
  // P = 10/11 = 90.91, R = 10/16 = 62.5, F1 = 2·90.91·62.5/(90.91+62.5) = 74.07; two unparseable lines.
  deepEqual(strict.total, { "总样本数": 6, "错误数": 2, P: 90.91, R: 62.5, F1: 74.07 });
  // Lenient: the fence is removed (3 more, all correct); the truncated line is repaired to its first entity only
  // (the cut removed the second answer's closing quote): pred 15, correct 14: P 93.33, R 87.5, F1 90.32.
  deepEqual(lenient.total, { "总样本数": 6, "错误数": 0, P: 93.33, R: 87.5, F1: 90.32 });
});

Deno.test("bundled RE predictions: one swapped triple, one truncated line", async () => {
  const r = await runCli(["eval", "--path1", `${DATA}RE.json`, "--task", "RE", "--json"]);
  equal(r.code, 0, r.stderr);
  // 7 gold triples; the (Paul Allen, founded by, Microsoft) swap is wrong; one truncated line loses 1 triple.
  // pred 6, correct 5: P = 83.33, R = 71.43, F1 = 76.92.
  deepEqual(JSON.parse(r.stdout).total, { "总样本数": 5, "错误数": 1, P: 83.33, R: 71.43, F1: 76.92 });
});
