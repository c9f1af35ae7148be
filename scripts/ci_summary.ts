/**
 * The closing lines of `.ci/run`: counts from the JUnit reports of its `deno test` runs plus its
 * pass/fail gates, every skipped test by name under its file with the reason that file printed
 * (`SKIPPED tests/x_test.ts — what: why` lines), and the final plain line
 * `N passed, N failed, N skipped`.
 *
 *   deno run --allow-read scripts/ci_summary.ts REPORT_DIR GATES_PASSED GATES_FAILED
 *
 * REPORT_DIR holds `NAME.xml` (JUnit) and `NAME.log` (the run's output) for each test run.
 * Exits 1 when anything failed.
 *
 * @module
 */

/** One test case of a JUnit report. */
export interface JunitCase {
  /** The test's name (`parent > step` for steps). */
  name: string;
  /** The file it is in. */
  file: string;
  /** Its outcome. */
  outcome: "passed" | "failed" | "skipped";
}

const ENTITIES: Record<string, string> = { "&lt;": "<", "&gt;": ">", "&quot;": '"', "&apos;": "'", "&amp;": "&" };
const unescapeXml = (s: string): string => s.replace(/&(lt|gt|quot|apos|amp);/g, (m) => ENTITIES[m]);

/**
 * The test cases of a JUnit report as `deno test --junit-path` writes it.
 *
 * @param xml the report
 * @returns every test case with its outcome
 *
 * @example
 * ```ts
 * import { parseJunit } from "./ci_summary.ts";
 * const cases = parseJunit(`<testcase name="a &gt; b" classname="./t.ts" time="0">
 *   <skipped/>
 * </testcase>`);
 * if (cases[0].name !== "a > b" || cases[0].outcome !== "skipped") throw new Error();
 * ```
 */
export function parseJunit(xml: string): JunitCase[] {
  const cases: JunitCase[] = [];
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const attr = (k: string) => unescapeXml(m[1].match(new RegExp(`\\b${k}="([^"]*)"`))?.[1] ?? "");
    const body = m[3] ?? "";
    const outcome = /<(failure|error)\b/.test(body) ? "failed" : /<skipped\b/.test(body) ? "skipped" : "passed";
    cases.push({ name: attr("name"), file: attr("classname"), outcome });
  }
  return cases;
}

/** Counts and the skipped-test listing of a CI run. */
export interface CiSummary {
  /** Test cases and gates that passed. */
  passed: number;
  /** Test cases and gates that failed. */
  failed: number;
  /** Test cases not run (`ignore`d), with why where the tests said so. */
  skipped: number;
  /** The closing text: the skipped tests by file, their reasons, and the final line. */
  text: string;
}

/**
 * Summarise test cases, gates and the `SKIPPED tests/x_test.ts — what: why` lines the tests printed.
 *
 * @param cases the test cases of every report
 * @param gates pass/fail counts of the non-test gates (fmt, lint, …)
 * @param logText the output of the test runs, searched for lines starting with `SKIPPED `
 * @returns the counts and the closing text
 *
 * @example
 * ```ts
 * import { summarize } from "./ci_summary.ts";
 * const s = summarize(
 *   [{ name: "x", file: "./tests/a_test.ts", outcome: "skipped" }, { name: "y", file: "./tests/a_test.ts", outcome: "passed" }],
 *   { passed: 2, failed: 0 },
 *   "SKIPPED tests/a_test.ts — x: no GPU\n",
 * );
 * if (!s.text.includes("  tests/a_test.ts (1): x: no GPU\n    - x\n")) throw new Error(s.text);
 * if (!s.text.endsWith("3 passed, 0 failed, 1 skipped\n")) throw new Error(s.text);
 * ```
 */
export function summarize(
  cases: readonly JunitCase[],
  gates: { passed: number; failed: number },
  logText: string,
): CiSummary {
  const count = (o: JunitCase["outcome"]) => cases.filter((c) => c.outcome === o).length;
  const passed = count("passed") + gates.passed;
  const failed = count("failed") + gates.failed;
  const skipped = count("skipped");
  let text = "";
  if (skipped > 0) {
    // Reasons: `SKIPPED tests/x_test.ts — what: why` lines go under their file; others are listed apart.
    const reasons = new Map<string, string[]>();
    const unattributed: string[] = [];
    for (const line of new Set(logText.split("\n").filter((l) => l.startsWith("SKIPPED ")))) {
      const m = /^SKIPPED (\S+) — (.*)$/.exec(line);
      if (m) reasons.set(m[1], [...(reasons.get(m[1]) ?? []), m[2]]);
      else unattributed.push(line.slice(8));
    }
    const byFile = new Map<string, string[]>();
    for (const c of cases) {
      if (c.outcome === "skipped") byFile.set(c.file, [...(byFile.get(c.file) ?? []), c.name]);
    }
    text += `skipped ${skipped} test${skipped === 1 ? "" : "s"}:\n`;
    for (const [file, names] of [...byFile].sort()) {
      const path = file.replace(/^\.\//, "");
      const why = reasons.get(path);
      text += `  ${path} (${names.length}): ${why ? why.join("; ") : "no reason printed"}\n`;
      for (const name of names) text += `    - ${name}\n`;
    }
    if (unattributed.length > 0) text += `other skip notices:\n${unattributed.map((r) => `  ${r}\n`).join("")}`;
  }
  text += `${passed} passed, ${failed} failed, ${skipped} skipped\n`;
  return { passed, failed, skipped, text };
}

if (import.meta.main) {
  const [dir, gatesPassed, gatesFailed] = Deno.args;
  const cases: JunitCase[] = [];
  let logText = "";
  for (const entry of [...Deno.readDirSync(dir)].sort((a, b) => a.name.localeCompare(b.name))) {
    if (entry.name.endsWith(".xml")) cases.push(...parseJunit(Deno.readTextFileSync(`${dir}/${entry.name}`)));
    if (entry.name.endsWith(".log")) logText += Deno.readTextFileSync(`${dir}/${entry.name}`);
  }
  const s = summarize(cases, { passed: Number(gatesPassed), failed: Number(gatesFailed) }, logText);
  Deno.stdout.writeSync(new TextEncoder().encode(s.text));
  Deno.exit(s.failed === 0 ? 0 : 1);
}
