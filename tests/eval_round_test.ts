/**
 * Python's `round(x, 2)` (half-to-even on the exact binary value) and the reference's P/R/F1.
 * Expected values come from CPython 3 (`python3 -c 'print(round(x, 2))'`); when `python3` is on
 * the PATH, a few thousand more values are checked against it live.
 */

import { equal, ok } from "node:assert/strict";
import { prf, pyRound } from "../eval/round.ts";

/** [x, round(x, 2)] as printed by CPython 3.11. */
const TABLE: Array<[number, number]> = [
  [0.125, 0.12], // exact tie → even
  [0.375, 0.38], // exact tie → even
  [2.675, 2.67], // the double is 2.67499999…
  [66.665, 66.67], // the double is 66.66500000000000625…
  [1.005, 1.0],
  [1.015, 1.01],
  [1.025, 1.02],
  [0.045, 0.04],
  [28.571428571428573, 28.57],
  [66.66666666666667, 66.67],
  [-0.125, -0.12],
  [-2.675, -2.67],
  [0.5, 0.5],
  [99.995, 100.0],
  [33.335, 33.34],
  [14.285714285714286, 14.29],
  [0.285, 0.28],
  [1e-7, 0.0],
  [0.005, 0.01],
  [0.015, 0.01],
  [12345.675, 12345.67],
  [100.0, 100.0],
  [0.0, 0.0],
  [33.33333333333333, 33.33],
  [66.66666666666666, 66.67],
  [85.71428571428571, 85.71],
  [44.444444444444436, 44.44],
  [77.77777777777777, 77.78],
  [16.666666666666664, 16.67],
  [5e-324, 0.0],
  [1e300, 1e300],
];

Deno.test("pyRound: CPython's round(x, 2) on ties, near-ties and ordinary values", () => {
  for (const [x, want] of TABLE) equal(pyRound(x, 2), want, `round(${x}, 2)`);
  // other digit counts: round(2.5, 0) = 2.0, round(0.5, 0) = 0.0, round(1.5, 0) = 2.0, round(0.0625, 3) = 0.062
  equal(pyRound(2.5, 0), 2);
  equal(pyRound(0.5, 0), 0);
  equal(pyRound(1.5, 0), 2);
  equal(pyRound(0.0625, 3), 0.062);
  ok(Object.is(pyRound(-0, 2), -0));
  ok(Number.isNaN(pyRound(NaN, 2)));
});

Deno.test("prf: F1 from the rounded P and R, as the reference computes it", () => {
  // tp 2, pred 7, gold 3 (the NER fixture): P 28.57, R 66.67, F1 = 2·28.57·66.67/95.24 = 39.9995… → 40.0
  equal(JSON.stringify(prf(2, 7, 3)), '{"P":28.57,"R":66.67,"F1":40}');
  // tp 1, pred 1, gold 6: P 100.0, R 16.67 → F1 = 3334/116.67 = 28.576… → 28.58 (from unrounded R: 28.57)
  equal(prf(1, 1, 6).F1, 28.58);
  // tp 1, pred 1, gold 7: R 14.29 → F1 25.01 (unrounded: 25.0)
  equal(prf(1, 1, 7).F1, 25.01);
  // nothing predicted / no gold / nothing right: 0.0 everywhere, no division by zero
  equal(JSON.stringify(prf(0, 0, 0)), '{"P":0,"R":0,"F1":0}');
  equal(JSON.stringify(prf(0, 5, 5)), '{"P":0,"R":0,"F1":0}');
});

/** Whether CPython is there to compare with. */
function havePython(): boolean {
  try {
    return new Deno.Command("python3", { args: ["-c", "pass"], stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "pyRound and prf agree with CPython on thousands of values (live, when python3 is installed)",
  ignore: !havePython(),
  fn() {
    // Percentages as the evaluator makes them, values right at and beside decimal ties, and
    // random doubles across magnitudes; a seeded generator keeps the run reproducible.
    let seed = 7;
    const next = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
    const xs: number[] = [];
    for (let i = 0; i < 2000; i++) {
      const pred = 1 + Math.floor(next() * 500);
      xs.push(Math.floor(next() * (pred + 1)) / pred * 100);
    }
    for (let i = 0; i < 1000; i++) xs.push(Math.floor(next() * 100000) / 1000 + 0.005);
    for (let i = 0; i < 1000; i++) xs.push((next() - 0.5) * 10 ** Math.floor(next() * 12 - 6));
    const counts: Array<[number, number, number]> = [];
    for (let i = 0; i < 1000; i++) {
      const pred = Math.floor(next() * 60), gold = Math.floor(next() * 60);
      counts.push([Math.floor(next() * (Math.min(pred, gold) + 1)), pred, gold]);
    }
    const script = `
import json, sys
data = json.load(sys.stdin)
def prf(tp, p, g):
    P = round(tp / p * 100, 2) if p else 0.0
    R = round(tp / g * 100, 2) if g else 0.0
    return [P, R, round(2 * P * R / (P + R), 2) if P + R else 0.0]
print(json.dumps({"round": [round(x, 2) for x in data["xs"]], "prf": [prf(*c) for c in data["counts"]]}))
`;
    const child = new Deno.Command("python3", { args: ["-c", script], stdin: "piped", stdout: "piped" }).spawn();
    const writer = child.stdin.getWriter();
    writer.write(new TextEncoder().encode(JSON.stringify({ xs, counts })));
    writer.close();
    return child.output().then((out) => {
      const want = JSON.parse(new TextDecoder().decode(out.stdout));
      xs.forEach((x, i) => equal(pyRound(x, 2), want.round[i], `round(${x}, 2)`));
      counts.forEach(([tp, p, g], i) => {
        const got = prf(tp, p, g);
        equal(JSON.stringify([got.P, got.R, got.F1]), JSON.stringify(want.prf[i]), `prf(${tp}, ${p}, ${g})`);
      });
    });
  },
});
